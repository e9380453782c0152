import { BaseCommand } from '../../base-command.js';
import { loadUserConfig } from '../../../backends/user-config.js';

export default class RegistryShow extends BaseCommand {
  static override summary = 'Show the registry images are pushed to (none: images stay on this machine).';

  async run(): Promise<{ registry: string | null }> {
    await this.parse(RegistryShow);
    const registry = (await loadUserConfig(this.env.home)).registry?.url ?? null;
    this.say(registry ?? 'no registry: images stay in the local engine (set one with: reprise registry set URL)');
    return { registry };
  }
}
