import { Args } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { importImageArchive } from '../../../images/archive.js';
import { dockerClient } from '../../../images/engine.js';

export default class ImageImport extends BaseCommand {
  static override summary = 'Load an image archive made by reprise image export into the local engine, so reruns of its runs find it.';
  static override args = { file: Args.string({ description: 'archive made by reprise image export', required: true }) };

  async run(): Promise<{ images: string[] }> {
    const { args } = await this.parse(ImageImport);
    const images = await importImageArchive(dockerClient(), args.file);
    this.say(`loaded ${images.join(', ')}`);
    return { images };
  }
}
