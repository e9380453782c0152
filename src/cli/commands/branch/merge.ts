import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { mergeBranch } from '../../../project/branches.js';
import { keepChoices } from '../../../project/merge.js';

export default class BranchMerge extends BaseCommand {
  static override summary = 'Merge a branch into the current one; run records never conflict.';
  static override description = 'When a file of yours changed on both branches the merge stops, changing nothing: choose --keep mine or --keep theirs.';
  static override args = { name: Args.string({ description: 'branch to merge', required: true }) };
  static override flags = { keep: Flags.option({ options: keepChoices, description: 'for files changed on both branches: keep the current branch\'s version or theirs' })() };

  async run(): Promise<Awaited<ReturnType<typeof mergeBranch>>> {
    const { args, flags } = await this.parse(BranchMerge);
    const r = await mergeBranch((await this.project()).root, args.name, flags.keep);
    if (r.kept) this.note(`kept ${r.kept.side} for: ${r.kept.files.join(', ')}`);
    this.say(r.kind === 'up-to-date' ? `nothing to merge from ${r.merged}` : `merged ${r.merged} (${r.kind}) at ${r.head.slice(0, 12)}`);
    return r;
  }
}
