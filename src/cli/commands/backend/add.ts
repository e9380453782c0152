import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { DEFAULT_BACKEND, backendConfigSchema, loadUserConfig, saveUserConfig, type BackendConfig } from '../../../config/user-config.js';
import { badInput } from '../../../errors.js';

export default class BackendAdd extends BaseCommand {
  static override summary = 'Add (or replace) a backend in your user config ($REPRISE_HOME/config.yaml; never in a project).';
  static override examples = ['<%= config.bin %> backend add gpu-box --kind docker --socket /run/user/1000/docker.sock'];
  static override args = { name: Args.string({ description: 'backend name (lowercase letters, digits, dashes)', required: true }) };
  static override flags = {
    kind: Flags.string({ description: 'backend kind', options: ['docker'], required: true }),
    socket: Flags.string({ description: 'docker: Docker Engine API socket (default: DOCKER_HOST or /var/run/docker.sock)' }),
  };

  async run(): Promise<{ name: string; config: BackendConfig }> {
    const { args, flags } = await this.parse(BackendAdd);
    if (args.name === DEFAULT_BACKEND) throw badInput(`"${DEFAULT_BACKEND}" is built in; pick another name`);
    if (!/^[a-z][a-z0-9-]{0,31}$/.test(args.name)) throw badInput(`invalid backend name "${args.name}": use lowercase letters, digits and dashes`);
    const parsed = backendConfigSchema.safeParse({ kind: flags.kind, socketPath: flags.socket });
    if (!parsed.success) throw badInput(`invalid backend settings: ${parsed.error.issues[0]!.message}`);
    const config = await loadUserConfig(this.env.home);
    config.backends[args.name] = parsed.data;
    await saveUserConfig(this.env.home, config);
    this.say(`added backend ${args.name} (${parsed.data.kind}); check it with: reprise backend check ${args.name}`);
    return { name: args.name, config: parsed.data };
  }
}
