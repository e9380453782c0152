import { badInput } from '../errors.js';
import type { BackendConfig } from './user-config.js';
import { backendKinds, kindDefinition } from './kinds.js';
import type { Backend, BackendHooks } from './types.js';

/** The Backend for a config, its implementation loaded on first use (kinds.ts lists the kinds). */
export async function createBackend(config: BackendConfig, hooks: BackendHooks = {}): Promise<Backend> {
  const definition = kindDefinition(config.kind);
  if (!definition) throw new Error(`unknown backend kind "${config.kind}"; known kinds: ${backendKinds.map((d) => d.kind).join(', ')}`);
  if (!definition.create) {
    throw badInput(`a ${config.kind} backend does not run jobs itself: the workflow places each run on one of its members (resolvePool)`);
  }
  return definition.create(config, hooks);
}
