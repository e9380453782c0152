import { Args } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { loadUserConfig, saveUserConfig, allBackends } from '../../../config/user-config.js';
import { badInput } from '../../../errors.js';

export default class BackendRemove extends BaseCommand {
  static override summary = 'Remove a backend from your user config.';
  static override args = { name: Args.string({ description: 'backend name', required: true }) };

  async run(): Promise<{ removed: string }> {
    const { args } = await this.parse(BackendRemove);
    const config = await loadUserConfig(this.env.home);
    if (!config.backends[args.name]) {
      throw badInput(`no configured backend "${args.name}"; configured: ${Object.keys(config.backends).join(', ') || 'none'} (${Object.keys(allBackends({ backends: {} })).join(', ')} is built in)`);
    }
    delete config.backends[args.name];
    await saveUserConfig(this.env.home, config);
    this.say(`removed backend ${args.name}`);
    return { removed: args.name };
  }
}
