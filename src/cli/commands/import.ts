import { Args } from '@oclif/core';
import { BaseCommand } from '../base-command.js';
import { importBundle } from '../../project/bundle.js';

export default class Import extends BaseCommand {
  static override summary = 'Open a project from a file made by reprise export (verified first).';
  static override examples = ['<%= config.bin %> import fit.bundle', '<%= config.bin %> import fit.bundle ~/projects/fit'];
  static override args = {
    file: Args.string({ description: 'export file', required: true }),
    dir: Args.string({ description: 'directory to create (default: the file name without extension)' }),
  };

  async run(): Promise<{ root: string; branches: string[]; head: string }> {
    const { args } = await this.parse(Import);
    const r = await importBundle(args.file, args.dir, process.cwd());
    this.say(`imported ${r.branches.length} branch(es) into ${r.root} (on ${r.head})`);
    return r;
  }
}
