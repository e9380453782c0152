import { Args } from '@oclif/core';
import { BaseCommand } from '../base-command.js';
import { exportBundle } from '../../project/bundle.js';

export default class Export extends BaseCommand {
  static override summary = 'Write the project with its whole history (every branch and run) to one file.';
  static override description = 'A git bundle; move it by any means and open it with reprise import. Uncommitted edits are not in it.';
  static override examples = ['<%= config.bin %> export ../fit.bundle'];
  static override args = { file: Args.string({ description: 'file to write', required: true }) };

  async run(): Promise<{ file: string; bytes: number; branches: number }> {
    const { args } = await this.parse(Export);
    const project = await this.project();
    const r = await exportBundle(project.root, args.file);
    this.say(`exported ${r.branches} branch(es) to ${r.file} (${r.bytes} bytes)`);
    return r;
  }
}
