import { Args } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { formatBytes } from '../../../data/size.js';
import { addData, type TrackResult } from '../../../data/track.js';

export default class DataAdd extends BaseCommand {
  static override summary = 'Track files or folders as data: bytes into the cache, a DVC pointer into git.';
  static override description =
    'The content is hashed (md5, as DVC does), moved into the project cache (.dvc/cache) and linked back; <path>.dvc and a .gitignore entry are committed in one commit. DVC reads the same pointers and cache.';
  static override examples = ['<%= config.bin %> data add input/images', '<%= config.bin %> data add input/train.csv input/test.csv'];
  static override strict = false;
  static override args = { path: Args.string({ description: 'file or folder inside the project', required: true }) };

  async run(): Promise<TrackResult & { commit?: string }> {
    const { argv } = await this.parse(DataAdd);
    const project = await this.project();
    const result = await addData(project.root, process.cwd(), argv as string[]);
    for (const t of result.tracked) {
      this.say(`tracked ${t.path} (${formatBytes(t.size)}${t.nfiles !== undefined ? `, ${t.nfiles} files` : ''}) ${t.md5}`);
    }
    this.say(result.commit ? `committed ${result.tracked.map((t) => t.pointer).join(', ')} in ${result.commit.slice(0, 12)}` : 'already tracked at this version; nothing to commit');
    return result;
  }
}
