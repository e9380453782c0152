import { Args } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { loadUserConfig, saveUserConfig } from '../../../backends/user-config.js';
import { badInput } from '../../../errors.js';

export default class NotifyRemove extends BaseCommand {
  static override summary = 'Remove a notifier: nothing more is sent to it.';
  static override args = { name: Args.string({ description: 'notifier name', required: true }) };

  async run(): Promise<{ removed: string }> {
    const { args } = await this.parse(NotifyRemove);
    const config = await loadUserConfig(this.env.home);
    if (!config.notifiers?.[args.name]) throw badInput(`no notifier "${args.name}"; list them with: reprise notify list`);
    delete config.notifiers[args.name];
    if (!Object.keys(config.notifiers).length) delete config.notifiers;
    await saveUserConfig(this.env.home, config);
    this.say(`removed notifier ${args.name}`);
    return { removed: args.name };
  }
}
