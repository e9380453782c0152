import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { collectGarbage, type GcResult } from '../../../data/gc.js';
import { formatBytes } from '../../../data/size.js';

export default class DataGc extends BaseCommand {
  static override summary = 'Remove cached data no commit on any branch (nor the working tree) points to.';
  static override examples = ['<%= config.bin %> data gc --dry-run', '<%= config.bin %> data gc'];
  static override flags = { 'dry-run': Flags.boolean({ description: 'only list what would be removed' }) };

  async run(): Promise<GcResult> {
    const { flags } = await this.parse(DataGc);
    const result = await collectGarbage((await this.project()).root, { dryRun: flags['dry-run'] });
    for (const r of result.removed) this.say(`${result.dryRun ? 'would remove' : 'removed'} ${r.md5}  ${formatBytes(r.size)}`);
    this.say(`${result.dryRun ? 'would remove' : 'removed'} ${result.removed.length} object(s), ${formatBytes(result.removedBytes)}; kept ${result.kept}`);
    return result;
  }
}
