import { Args } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { loadUserConfig, saveUserConfig, allBackends, backendsUsing } from '../../../backends/user-config.js';
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
    const users = backendsUsing(config, args.name);
    if (users.length) {
      const them = users.length === 1 ? `"${users[0]!.name}"` : 'them';
      throw badInput(`backend "${args.name}" is used by ${users.map((u) => `${u.config.kind} "${u.name}"`).join(', ')}; remove ${them} first, or add ${them} again without "${args.name}"`);
    }
    delete config.backends[args.name];
    await saveUserConfig(this.env.home, config);
    this.say(`removed backend ${args.name}`);
    return { removed: args.name };
  }
}
