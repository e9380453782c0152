import { BaseCommand } from '../../base-command.js';
import { kindDefinition } from '../../../backends/kinds.js';
import { allBackends, loadUserConfig, type BackendConfig } from '../../../backends/user-config.js';
import { table } from '../../table.js';

export default class BackendList extends BaseCommand {
  static override summary = 'List the backends configured for this user (local Docker is built in).';

  async run(): Promise<Record<string, BackendConfig>> {
    await this.parse(BackendList);
    const backends = allBackends(await loadUserConfig(this.env.home));
    this.say(table(['NAME', 'KIND', 'SETTINGS'], Object.entries(backends).map(([name, c]) => [name, c.kind, settingsOf(c)])));
    return backends;
  }
}

const settingsOf = (config: BackendConfig): string =>
  [kindDefinition(config.kind)!.describe(config), ...('maxParallel' in config && config.maxParallel !== undefined ? [`max parallel ${config.maxParallel}`] : [])].join('; ');
