import type Docker from 'dockerode';

/** Enough for a notebook kernel, a compiler or a process pool; a fork bomb stops here. */
export const DEFAULT_PIDS_LIMIT = 4096;

/**
 * What a run's container may do beyond its files: no capability (a job needs none; files it
 * writes are its own), no setuid gain, a bounded process table.
 */
export function hardenedHostConfig(pidsLimit = DEFAULT_PIDS_LIMIT): Pick<Docker.HostConfig, 'SecurityOpt' | 'CapDrop' | 'PidsLimit'> {
  return { SecurityOpt: ['no-new-privileges'], CapDrop: ['ALL'], PidsLimit: pidsLimit };
}
