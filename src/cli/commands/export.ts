import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../base-command.js';
import { exportProject } from '../../images/carry.js';
import { dockerClient } from '../../images/engine.js';

export default class Export extends BaseCommand {
  static override summary = 'Write the project with its whole history (every branch and run), and on request the images of chosen runs, to one file.';
  static override description =
    'Without --image: a git bundle. With --image: a tar holding the bundle and each image (docker save). Move it by any means and open it with reprise import. Uncommitted edits are not in it.';
  static override examples = ['<%= config.bin %> export ../fit.bundle', '<%= config.bin %> export ../fit.tar --image run-abc123 --image run-def456'];
  static override args = { file: Args.string({ description: 'file to write', required: true }) };
  static override flags = { image: Flags.string({ description: "also carry this run's image (repeatable)", multiple: true }) };

  async run(): Promise<{ file: string; bytes: number; branches: number; images: { runId: string; digest: string }[] }> {
    const { args, flags } = await this.parse(Export);
    const project = await this.project();
    const runs = flags.image ?? [];
    if (runs.length) this.note(`exporting the history and ${runs.length} image(s)`);
    const r = await exportProject(dockerClient(), project.root, args.file, runs);
    this.say(`exported ${r.branches} branch(es)${r.images.length ? ` and ${new Set(r.images.map((i) => i.digest)).size} image(s)` : ''} to ${r.file} (${r.bytes} bytes)`);
    return r;
  }
}
