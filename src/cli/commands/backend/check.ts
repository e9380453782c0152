import { Args } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { loadUserConfig, resolveBackend, DEFAULT_BACKEND } from '../../../config/user-config.js';
import { createBackend } from '../../../backends/registry.js';
import type { BackendCheck } from '../../../backends/types.js';

export default class BackendCheckCommand extends BaseCommand {
  static override summary = 'Check that a backend is reachable and report its versions (exit 3 when not).';
  static override args = { name: Args.string({ description: 'backend name', default: DEFAULT_BACKEND }) };

  async run(): Promise<{ name: string } & BackendCheck> {
    const { args } = await this.parse(BackendCheckCommand);
    const { name, config } = resolveBackend(await loadUserConfig(this.env.home), args.name);
    const check = await createBackend(config).check();
    this.say(`${name} (${check.kind}): ok, version ${check.version}; ${Object.entries(check.details).map(([k, v]) => `${k} ${v}`).join(', ')}`);
    return { name, ...check };
  }
}
