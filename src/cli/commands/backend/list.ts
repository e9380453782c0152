import { BaseCommand } from '../../base-command.js';
import { allBackends, loadUserConfig, type BackendConfig } from '../../../config/user-config.js';
import { table } from '../../table.js';

export default class BackendList extends BaseCommand {
  static override summary = 'List the backends configured for this user (local Docker is built in).';

  async run(): Promise<Record<string, BackendConfig>> {
    await this.parse(BackendList);
    const backends = allBackends(await loadUserConfig(this.env.home));
    this.say(table(['NAME', 'KIND'], Object.entries(backends).map(([name, c]) => [name, c.kind])));
    return backends;
  }
}
