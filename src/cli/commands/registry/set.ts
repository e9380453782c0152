import { Args } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { loadUserConfig, registryUrl, saveUserConfig } from '../../../backends/user-config.js';
import { badInput } from '../../../errors.js';

export default class RegistrySet extends BaseCommand {
  static override summary = 'Push every built image to this registry, so runs record a digest any machine can pull.';
  static override description = 'Credentials come from your Docker config (docker login, credential helpers); they are never stored by Reprise.';
  static override examples = ['<%= config.bin %> registry set registry.example.com/team', '<%= config.bin %> registry set 127.0.0.1:5000'];
  static override args = { url: Args.string({ description: 'host[:port][/path], no scheme', required: true }) };

  async run(): Promise<{ registry: string }> {
    const { args } = await this.parse(RegistrySet);
    const parsed = registryUrl.safeParse(args.url);
    if (!parsed.success) throw badInput(`invalid registry "${args.url}": ${parsed.error.issues[0]!.message}`);
    const config = await loadUserConfig(this.env.home);
    config.registry = { url: parsed.data };
    await saveUserConfig(this.env.home, config);
    this.say(`images will be pushed to ${parsed.data}`);
    return { registry: parsed.data };
  }
}
