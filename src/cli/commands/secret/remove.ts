import { Args } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { removeSecret, type SecretEntry } from '../../../config/project-secrets.js';

export default class SecretRemove extends BaseCommand {
  static override summary = "Remove the project's secret NAME (runs started from now on no longer see it).";
  static override args = { name: Args.string({ description: 'secret name', required: true }) };

  async run(): Promise<SecretEntry> {
    const { args } = await this.parse(SecretRemove);
    const entry = await removeSecret(this.env.home, (await this.project()).spec.id, args.name);
    this.say(`removed secret ${entry.name}`);
    return entry;
  }
}
