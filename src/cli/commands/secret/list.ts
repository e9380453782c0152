import { BaseCommand } from '../../base-command.js';
import { listSecrets, type SecretEntry } from '../../../config/project-secrets.js';
import { table } from '../../table.js';

export default class SecretList extends BaseCommand {
  static override summary = "List the project's secrets: names and sizes, never their content.";

  async run(): Promise<SecretEntry[]> {
    await this.parse(SecretList);
    const secrets = await listSecrets(this.env.home, (await this.project()).spec.id);
    if (secrets.length === 0) this.say('no secrets; add one with: reprise secret add NAME FILE');
    else this.say(table(['NAME', 'BYTES'], secrets.map((s) => [s.name, String(s.size)])));
    return secrets;
  }
}
