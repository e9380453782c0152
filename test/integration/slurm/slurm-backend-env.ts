// Settings of the real test cluster (`test/infra/slurm up` writes them): fail loudly, never skip.
import { execFileSync } from 'node:child_process';
import { dockerClient } from '../../../src/images/engine.js';
import { pushImage } from '../../../src/images/registry.js';
import type { SlurmConfig } from '../../../src/backends/slurm/config.js';
import type { SshTarget } from '../../../src/backends/slurm/ssh-target.js';
import { buildTestImage as buildImage, readInfraEnv } from '../../helpers/infra.js';

export const SLURM_ENV_KEYS = ['SLURM_SSH_HOST', 'SLURM_SSH_PORT', 'SLURM_SSH_USER', 'SLURM_SSH_IDENTITY', 'SLURM_SSH_KNOWN_HOSTS', 'SLURM_PARTITION'] as const;

export function clusterConfig(workdir: string): SlurmConfig & { identityFile: string; knownHostsFile: string; user: string; port: number } {
  const vars = readInfraEnv('slurm', SLURM_ENV_KEYS, ['SLURM_SSH_IDENTITY', 'SLURM_SSH_KNOWN_HOSTS']);
  return {
    kind: 'slurm',
    host: vars.SLURM_SSH_HOST,
    port: Number(vars.SLURM_SSH_PORT),
    user: vars.SLURM_SSH_USER,
    identityFile: vars.SLURM_SSH_IDENTITY,
    knownHostsFile: vars.SLURM_SSH_KNOWN_HOSTS,
    partition: vars.SLURM_PARTITION,
    runtime: 'charliecloud',
    workdir,
  };
}

/** The login node as an SSH target of its own, no ssh_config read (credentials: none unless given). */
export function clusterTarget(extra: Partial<SshTarget> = {}): SshTarget {
  const c = clusterConfig('~');
  return {
    alias: c.host, host: c.host, port: c.port, user: c.user, identityFiles: [], identitiesOnly: false, knownHostsFiles: [c.knownHostsFile],
    jumps: [], keepaliveIntervalMs: 15_000, keepaliveCountMax: 3, readyTimeoutMs: 20_000, configFiles: [], ...extra,
  };
}

/** A fresh image FROM the local busybox, unique per call (its own digest), tagged `tag`. */
export function buildTestImage(tag: string): string {
  return buildImage(tag, ['ENV GREETING="hi from the image env"', `LABEL org.reprise.test=${JSON.stringify(tag)}`]);
}

/** Remove an image from the local engine (gone already is fine). */
export function rmi(id: string): void {
  try {
    execFileSync('docker', ['rmi', '-f', id], { stdio: 'ignore' });
  } catch {
    // not there
  }
}

/**
 * A registry reference that names another image than the recorded one: one image pushed to the
 * site registry, another recorded, neither left in the local engine (so the cluster's pull is the
 * only way to get either).
 */
export async function mismatchedReference(registry: string, tagPrefix: string): Promise<{ pushed: string; recorded: string; reference: string }> {
  const pushedTag = `${tagPrefix}-other`;
  const pushed = buildTestImage(pushedTag);
  const reference = await pushImage(dockerClient(), `${registry}/reprise-it`, { digest: pushed, tag: pushedTag });
  const recorded = buildTestImage(`${tagPrefix}-recorded`);
  rmi(recorded);
  rmi(pushed);
  return { pushed, recorded, reference };
}

/** `reprise backend add` arguments for the test cluster, as a user would type them. */
export function slurmAddArgs(name: string, workdir: string): string[] {
  const c = clusterConfig(workdir);
  return [name, '--kind', 'slurm', '--host', c.host, '--port', String(c.port), '--user', c.user, '--identity-file', c.identityFile,
    '--known-hosts-file', c.knownHostsFile, '--partition', c.partition!, '--workdir', c.workdir!];
}

export const JUMP_ENV_KEYS = ['SLURM_JUMP_HOST', 'SLURM_JUMP_PORT', 'SLURM_JUMP_USER', 'SLURM_LOGIN_INNER_HOST', 'SLURM_JUMP_KNOWN_HOSTS', 'SLURM_SCHEDULER_CALLS_LOG', 'SLURM_INNER_SSHD_LOG'] as const;

/** The jump host of the test cluster: the only way to the login node's inner address. */
export function jumpEnv(): Record<(typeof JUMP_ENV_KEYS)[number] | (typeof SLURM_ENV_KEYS)[number], string> {
  return readInfraEnv('slurm', [...SLURM_ENV_KEYS, ...JUMP_ENV_KEYS], ['SLURM_SSH_IDENTITY', 'SLURM_JUMP_KNOWN_HOSTS', 'SLURM_SCHEDULER_CALLS_LOG', 'SLURM_INNER_SSHD_LOG']);
}

/**
 * An ssh_config as a user would write it: alias `login` (the cluster's inner address) through
 * alias `bastion` (the jump host), their users, ports, key and known_hosts file, each under
 * `prefix-`. The config is the only place these settings are.
 */
export function jumpSshConfig(prefix: string, knownHosts: string): string {
  const v = jumpEnv();
  return [
    `Host ${prefix}-login`,
    `  HostName ${v.SLURM_LOGIN_INNER_HOST}`,
    `  Port ${v.SLURM_SSH_PORT}`,
    `  User ${v.SLURM_SSH_USER}`,
    `  ProxyJump ${prefix}-bastion`,
    `Host ${prefix}-bastion`,
    `  HostName ${v.SLURM_JUMP_HOST}`,
    `  Port ${v.SLURM_JUMP_PORT}`,
    `  User ${v.SLURM_JUMP_USER}`,
    `Host ${prefix}-*`,
    `  IdentityFile ${v.SLURM_SSH_IDENTITY}`,
    '  IdentitiesOnly yes',
    `  UserKnownHostsFile ${knownHosts}`,
    '',
  ].join('\n');
}
