import { Args } from '@oclif/core';
import { relative, resolve } from 'node:path';
import { BaseCommand } from '../../base-command.js';
import { dataLog, type DataLogEntry } from '../../../data/data-log.js';
import { formatBytes } from '../../../data/size.js';

export default class DataLog extends BaseCommand {
  static override summary = 'The runs that read or wrote a tracked path, with the version (md5) each saw.';
  static override examples = ['<%= config.bin %> data log input/images', '<%= config.bin %> data log output/model.bin --json'];
  static override args = { path: Args.string({ description: 'a tracked file or folder (or a file inside a tracked folder)', required: true }) };

  async run(): Promise<DataLogEntry[]> {
    const { args } = await this.parse(DataLog);
    const project = await this.project();
    const path = relative(project.root, resolve(args.path)).split('\\').join('/');
    const entries = await dataLog(project.root, path);
    for (const e of entries) this.say(`${e.runId}  ${e.role.padEnd(5)} ${e.path}  md5:${e.md5}  ${formatBytes(e.size)}  ${e.state}  ${e.finishedAt}`);
    if (!entries.length) this.say(`no recorded run read or wrote ${path}`);
    return entries;
  }
}
