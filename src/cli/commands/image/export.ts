import { Args } from '@oclif/core';
import { BaseCommand, runIdArg } from '../../base-command.js';
import { findRun, readRunRecord } from '../../../project/history.js';
import { exportImageArchive } from '../../../images/archive.js';
import { dockerClient } from '../../../images/engine.js';

export default class ImageExport extends BaseCommand {
  static override summary = "Write a recorded run's image to a file, for a machine that shares no registry (reprise image import FILE there).";
  static override args = { run: Args.string(runIdArg), file: Args.string({ description: 'archive to write (docker save format)', required: true }) };

  async run(): Promise<{ runId: string; image: string; file: string; bytes: number }> {
    const { args } = await this.parse(ImageExport);
    const project = await this.project();
    const record = await readRunRecord(project.root, await findRun(project.root, args.run));
    this.note(`exporting ${record.image.digest}`);
    const { bytes } = await exportImageArchive(dockerClient(), record.image, args.file);
    this.say(`wrote ${args.file} (${(bytes / 2 ** 20).toFixed(1)} MiB): image ${record.image.digest} of run ${record.runId}`);
    return { runId: record.runId, image: record.image.digest, file: args.file, bytes };
  }
}
