import { Args } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { switchBranch } from '../../../project/branches.js';

export default class BranchSwitch extends BaseCommand {
  static override summary = 'Check out another branch (refused while you have uncommitted edits). Runs in flight are recorded on the branch they started from.';
  static override args = { name: Args.string({ description: 'branch name', required: true }) };

  async run(): Promise<{ name: string; commit: string }> {
    const { args } = await this.parse(BranchSwitch);
    const r = await switchBranch((await this.project()).root, args.name);
    this.say(`switched to ${r.name}`);
    return r;
  }
}
