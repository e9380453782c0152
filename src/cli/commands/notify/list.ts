import { BaseCommand } from '../../base-command.js';
import { loadUserConfig } from '../../../backends/user-config.js';
import { describeNotifier, type NotifierView } from '../../notifier-view.js';
import { table } from '../../table.js';

export default class NotifyList extends BaseCommand {
  static override summary = 'List the notifiers of this user (webhooks shown by scheme and host only).';

  async run(): Promise<NotifierView[]> {
    await this.parse(NotifyList);
    const views = Object.entries((await loadUserConfig(this.env.home)).notifiers ?? {}).map(([name, n]) => describeNotifier(name, n));
    if (!views.length) this.say('no notifiers; add one with: reprise notify add NAME --webhook URL (or --email ADDRESS)');
    else this.say(table(['NAME', 'KIND', 'TO', 'WHEN'], views.map((v) => [v.name, v.kind === 'webhook' ? `webhook (${v.format})` : 'email', v.target, v.filters])));
    return views;
  }
}
