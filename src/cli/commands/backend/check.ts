import { Args } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { loadUserConfig, resolveBackend, DEFAULT_BACKEND, type BackendConfig } from '../../../backends/user-config.js';
import { createBackend } from '../../../backends/registry.js';
import { resolvePool } from '../../../backends/pool/resolve-pool.js';
import type { BackendCheck } from '../../../backends/types.js';
import { backendUnavailable, errorMessage, RepriseError } from '../../../errors.js';

type MemberCheck = { name: string } & (BackendCheck | { kind: string; error: string });

export default class BackendCheckCommand extends BaseCommand {
  static override summary = 'Check that a backend is reachable and report its versions (exit 3 when not); a pool: each of its members.';
  static override args = { name: Args.string({ description: 'backend name', default: DEFAULT_BACKEND }) };

  async run(): Promise<({ name: string } & BackendCheck) | { name: string; kind: 'pool'; members: MemberCheck[] }> {
    const { args } = await this.parse(BackendCheckCommand);
    const config = await loadUserConfig(this.env.home);
    const { name, config: backend } = resolveBackend(config, args.name);
    if (backend.kind !== 'pool') {
      const check = await checkBackend(backend);
      this.say(describeCheck(name, check));
      return { name, ...check };
    }
    // Every member, reachable or not, so one check shows all a pool's runs can meet.
    const members: MemberCheck[] = [];
    for (const member of resolvePool(config, name).members) {
      try {
        members.push({ name: member.name, ...(await checkBackend(member.config)) });
      } catch (err) {
        if (!(err instanceof RepriseError)) throw err;
        members.push({ name: member.name, kind: member.config.kind, error: errorMessage(err) });
      }
    }
    for (const m of members) this.say('error' in m ? `${name}: ${m.name} (${m.kind}): unreachable: ${m.error}` : `${name}: ${describeCheck(m.name, m)}`);
    const failed = members.filter((m) => 'error' in m).map((m) => m.name);
    if (failed.length) throw backendUnavailable(`pool ${name}: ${failed.length} of ${members.length} members unreachable (${failed.join(', ')}); check them one by one for what to fix`);
    return { name, kind: 'pool', members };
  }
}

async function checkBackend(config: BackendConfig): Promise<BackendCheck> {
  const backend = await createBackend(config);
  // A kept-alive SSH connection would hold this process until it idles out.
  return backend.check().finally(() => backend.close?.());
}

const describeCheck = (name: string, check: BackendCheck) =>
  `${name} (${check.kind}): ok, version ${check.version}; ${Object.entries(check.details).map(([k, v]) => `${k} ${v}`).join(', ')}`;
