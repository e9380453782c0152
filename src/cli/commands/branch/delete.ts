import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { deleteBranch } from '../../../project/branches.js';

export default class BranchDelete extends BaseCommand {
  static override summary = 'Delete a branch (refused when it has commits the current branch lacks, unless --force).';
  static override args = { name: Args.string({ description: 'branch name', required: true }) };
  static override flags = { force: Flags.boolean({ description: 'delete even if its commits are not merged' }) };

  async run(): Promise<{ name: string; commit: string }> {
    const { args, flags } = await this.parse(BranchDelete);
    const r = await deleteBranch((await this.project()).root, args.name, flags.force);
    this.say(`deleted branch ${r.name} (was ${r.commit.slice(0, 12)})`);
    return r;
  }
}
