import { BaseCommand } from '../../base-command.js';
import { loadUserConfig, saveUserConfig } from '../../../backends/user-config.js';

export default class RegistryUnset extends BaseCommand {
  static override summary = 'Stop pushing images (recorded references stay valid where the registry keeps them).';

  async run(): Promise<{ registry: null }> {
    await this.parse(RegistryUnset);
    const config = await loadUserConfig(this.env.home);
    delete config.registry;
    await saveUserConfig(this.env.home, config);
    this.say('images stay in the local engine');
    return { registry: null };
  }
}
