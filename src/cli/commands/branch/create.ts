import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { createBranch } from '../../../project/branches.js';

export default class BranchCreate extends BaseCommand {
  static override summary = 'Create a branch at the current commit, or at the source of a recorded run (a rollback branch).';
  static override examples = ['<%= config.bin %> branch create try-lasso', '<%= config.bin %> branch create before-refactor --from 3kq7zp2a'];
  static override args = { name: Args.string({ description: 'branch name', required: true }) };
  static override flags = { from: Flags.string({ description: 'start at the source commit of this run (id or unique prefix)' }) };

  async run(): Promise<{ name: string; commit: string; fromRun?: string }> {
    const { args, flags } = await this.parse(BranchCreate);
    const r = await createBranch((await this.project()).root, args.name, flags.from);
    this.say(`created branch ${r.name} at ${r.commit.slice(0, 12)}${r.fromRun ? ` (the source of ${r.fromRun})` : ''}; switch to it with: reprise branch switch ${r.name}`);
    return r;
  }
}
