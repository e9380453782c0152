import { BaseCommand } from '../../base-command.js';
import { dataStatus, type DataStatus } from '../../../data/status.js';
import { autoTrackBytes } from '../../../data/settings.js';
import { formatBytes } from '../../../data/size.js';

export default class DataStatusCommand extends BaseCommand {
  static override summary = 'Tracked data (ok, modified, missing) and large files git would take.';
  static override examples = ['<%= config.bin %> data status', '<%= config.bin %> data status --json'];

  async run(): Promise<DataStatus> {
    const project = await this.project();
    const status = await dataStatus(project.root, autoTrackBytes(project.spec));
    for (const t of status.tracked) {
      const extra = t.state === 'missing' ? (t.cached ? ' (in the cache: reprise data checkout)' : ' (not in the local cache)') : t.state === 'modified' ? ' (reprise data add to track the change)' : '';
      this.say(`${t.state.padEnd(8)} ${t.path}  ${formatBytes(t.size)}${extra}`);
    }
    for (const f of status.untrackedLarge) this.say(`large    ${f.path}  ${formatBytes(f.size)} (over ${formatBytes(status.threshold)}: reprise data add ${f.path})`);
    if (!status.tracked.length && !status.untrackedLarge.length) this.say('no tracked data and no file over the threshold');
    return status;
  }
}
