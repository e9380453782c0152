import { BaseCommand } from '../../base-command.js';
import { listRemotes, type Remote } from '../../../project/remotes.js';
import { table } from '../../table.js';

export default class RemoteList extends BaseCommand {
  static override summary = "List the project's git remotes.";

  async run(): Promise<Remote[]> {
    await this.parse(RemoteList);
    const remotes = await listRemotes((await this.project()).root);
    if (remotes.length === 0) this.say('no remotes; add one with: reprise remote add origin URL');
    else this.say(table(['NAME', 'URL'], remotes.map((r) => [r.name, r.url])));
    return remotes;
  }
}
