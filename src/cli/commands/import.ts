import { Args } from '@oclif/core';
import { BaseCommand } from '../base-command.js';
import { importProject } from '../../images/carry.js';
import { dockerClient } from '../../images/engine.js';

export default class Import extends BaseCommand {
  static override summary = 'Open a project from a file made by reprise export (verified first); images in it go to the local engine.';
  static override examples = ['<%= config.bin %> import fit.bundle', '<%= config.bin %> import fit.tar ~/projects/fit'];
  static override args = {
    file: Args.string({ description: 'export file', required: true }),
    dir: Args.string({ description: 'directory to create (default: the file name without extension)' }),
  };

  async run(): Promise<{ root: string; branches: string[]; head: string; images: string[] }> {
    const { args } = await this.parse(Import);
    const r = await importProject(dockerClient(), args.file, args.dir, process.cwd());
    this.say(`imported ${r.branches.length} branch(es)${r.images.length ? ` and ${r.images.length} image(s)` : ''} into ${r.root} (on ${r.head})`);
    return r;
  }
}
