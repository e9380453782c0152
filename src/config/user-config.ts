import { mkdir, writeFile, rename } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';
import { badInput } from '../errors.js';
import { paths } from './env.js';
import { readYamlFile, toYaml } from './yaml-file.js';

/**
 * Per-user configuration ($REPRISE_HOME/config.yaml). Backends live here, never in a project,
 * so credentials and host names are not committed or synced.
 */
export const backendName = z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'backend names are lowercase letters, digits and dashes');

/** host[:port][/path]: where built images are pushed and pulled by digest. */
export const registryUrl = z
  .string()
  .regex(/^[a-zA-Z0-9.-]+(:\d+)?(\/[a-z0-9._-]+)*$/, 'a registry such as registry.example.com/team or 127.0.0.1:5000 (no scheme)');

export const dockerBackendSchema = z
  .object({
    kind: z.literal('docker'),
    /** Docker Engine API endpoint; default: DOCKER_HOST or the local socket. */
    socketPath: z.string().optional(),
  })
  .strict();

export const slurmBackendSchema = z
  .object({
    kind: z.literal('slurm'),
    /** The login node, reached over SSH as `user` with `identityFile` and/or an ssh-agent. */
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(22),
    user: z.string().min(1),
    /** A private key without a passphrase; a key with one is used through the ssh-agent. */
    identityFile: z.string().min(1).optional(),
    /** The ssh-agent socket (as ssh_config's IdentityAgent); default: SSH_AUTH_SOCK. */
    identityAgent: z.string().min(1).optional(),
    /** Required: the host key is verified against it, never trusted blindly. */
    knownHostsFile: z.string().min(1),
    partition: z.string().optional(),
    account: z.string().optional(),
    qos: z.string().optional(),
    /** Extra `#SBATCH` arguments, one per element (e.g. --constraint=haswell). */
    sbatchArgs: z.array(z.string()).optional(),
    runtime: z.enum(['charliecloud', 'apptainer']).default('charliecloud'),
    /** On the cluster: the image cache and run directories. */
    workdir: z.string().default('~/.reprise'),
  })
  .strict();

export const kubernetesBackendSchema = z
  .object({
    kind: z.literal('kubernetes'),
    /** Default: KUBECONFIG, else ~/.kube/config. */
    kubeconfig: z.string().min(1).optional(),
    /** Default: the kubeconfig's current context. */
    context: z.string().min(1).optional(),
    namespace: z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'a Kubernetes namespace name (DNS-1123 label)'),
    /** Where images are pushed (host[:port][/path]); the cluster's nodes pull from it. */
    registry: registryUrl,
    /**
     * Fail a run no node can ever hold (default true). Set false where a cluster autoscaler may
     * add bigger nodes: the run then waits, its pending reason shown.
     */
    failUnschedulable: z.boolean().optional(),
  })
  .strict();

export const backendConfigSchema = z.discriminatedUnion('kind', [dockerBackendSchema, slurmBackendSchema, kubernetesBackendSchema]);
export type BackendConfig = z.infer<typeof backendConfigSchema>;
export type BackendKind = BackendConfig['kind'];

/** What reaches image builds from the user's network: a CA bundle to trust and proxies. */
export const buildSettingsSchema = z
  .object({
    /** PEM bundle trusted by pip/conda during builds; default: the host's trust store. "none": only the image's own. */
    caFile: z.string().min(1).optional(),
    /** Default: the HTTP(S)_PROXY / NO_PROXY of the process that builds. */
    httpProxy: z.string().optional(),
    httpsProxy: z.string().optional(),
    noProxy: z.string().optional(),
  })
  .strict();
export type BuildSettings = z.infer<typeof buildSettingsSchema>;

export const userConfigSchema = z
  .object({
    backends: z.record(backendName, backendConfigSchema).default({}),
    registry: z.object({ url: registryUrl }).strict().optional(),
    build: buildSettingsSchema.optional(),
  })
  .strict();
export type UserConfig = z.infer<typeof userConfigSchema>;

/** The embedded default: the local Docker engine, always available under this name. */
export const DEFAULT_BACKEND = 'local';
const builtInBackends: Record<string, BackendConfig> = { [DEFAULT_BACKEND]: { kind: 'docker' } };

export async function loadUserConfig(home: string): Promise<UserConfig> {
  const file = paths.userConfig(home);
  if (!existsSync(file)) return { backends: {} };
  return readYamlFile(file, userConfigSchema, file);
}

export async function saveUserConfig(home: string, config: UserConfig): Promise<void> {
  const file = paths.userConfig(home);
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, toYaml(config), { mode: 0o600 });
  await rename(tmp, file);
}

export function allBackends(config: UserConfig): Record<string, BackendConfig> {
  return { ...builtInBackends, ...config.backends };
}

export function resolveBackend(config: UserConfig, name: string): { name: string; config: BackendConfig } {
  const backends = allBackends(config);
  const found = backends[name];
  if (!found) {
    throw badInput(`unknown backend "${name}"; known backends: ${Object.keys(backends).sort().join(', ')} (add one with: reprise backend add)`);
  }
  return { name, config: found };
}
