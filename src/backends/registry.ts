import type { BackendConfig } from '../config/user-config.js';
import { DockerBackend } from './docker/docker-backend.js';
import { dockerClient } from '../images/engine.js';
import { KubernetesBackend } from './kubernetes/kubernetes-backend.js';
import { SlurmBackend } from './slurm/slurm-backend.js';
import type { Backend, BackendHooks } from './types.js';

/** Backend kinds by name; adding a kind means adding a folder and one line here. */
const factories: { [K in BackendConfig['kind']]: (config: Extract<BackendConfig, { kind: K }>, hooks: BackendHooks) => Backend } = {
  docker: (config) => new DockerBackend(dockerClient(config.socketPath)),
  slurm: (config) => new SlurmBackend(config),
  kubernetes: (config, hooks) => new KubernetesBackend(config, dockerClient(), hooks),
};

export function createBackend(config: BackendConfig, hooks: BackendHooks = {}): Backend {
  const factory = factories[config.kind] as ((c: BackendConfig, h: BackendHooks) => Backend) | undefined;
  if (!factory) throw new Error(`unknown backend kind "${config.kind}"; known kinds: ${Object.keys(factories).join(', ')}`);
  return factory(config, hooks);
}
