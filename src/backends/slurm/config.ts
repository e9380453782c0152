import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { dataStagingShape, runnableShape } from '../definition.js';

// A SLURM backend's settings in the user config. Apart from definition.ts, which loads the
// backend lazily: the backend's own files import these, and would close a circle through it.

/** Names as SLURM writes them (a comma-separated list allowed): checked when the config is written or loaded, not at sbatch. */
const slurmName = (what: string) =>
  z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9._-]*(,[A-Za-z0-9_][A-Za-z0-9._-]*)*$/, `must be a SLURM ${what} name (letters, digits, ".", "_", "-"; a list separated by commas)`).max(200);

/** One `#SBATCH` option as sbatch reads it: `--name[=value]` or `-X[value]`, nothing a #SBATCH line cannot hold (spaces, quotes, backslashes). */
const sbatchArg = z
  .string()
  .regex(/^(--[A-Za-z][A-Za-z0-9-]*(=[^\s"'\\]+)?|-[A-Za-z][^\s"'\\]*)$/, 'must be one sbatch option such as --constraint=haswell or -Chaswell (no spaces, quotes or backslashes)')
  .max(500);

/** How a site has jobs ask for GPUs (sbatch takes both; sites document one). */
export const gpuFlags = ['gres', 'gpus'] as const;
export type GpuFlag = (typeof gpuFlags)[number];

export const slurmSchema = z
  .object({
    kind: z.literal('slurm'),
    /**
     * The login node: an ssh_config Host alias or a host name. What is not set here comes from
     * ssh_config (HostName, Port, User, IdentityFile, UserKnownHostsFile, ProxyJump, …), then from
     * ssh's defaults (port 22, the local user name, ~/.ssh/id_*, ~/.ssh/known_hosts).
     */
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).optional(),
    user: z.string().min(1).optional(),
    /** A private key without a passphrase; a key with one is used through the ssh-agent. */
    identityFile: z.string().min(1).optional(),
    /** The ssh-agent socket (as ssh_config's IdentityAgent); default: SSH_AUTH_SOCK. */
    identityAgent: z.string().min(1).optional(),
    /** The login node's host key is verified against it (never trusted blindly); default: ssh_config's, else ~/.ssh/known_hosts. */
    knownHostsFile: z.string().min(1).optional(),
    /**
     * An ssh_config file read instead of ~/.ssh/config and /etc/ssh/ssh_config (as `ssh -F`); kept
     * absolute, since the worker that reads it does not start where `backend add` ran.
     */
    sshConfig: z
      .string()
      .min(1)
      .transform((p) => (p.startsWith('~') || isAbsolute(p) ? p : resolve(p)))
      .optional(),
    /** Seconds between reads of the state of the backend's jobs (one squeue for all of them); default 1. */
    pollInterval: z.number({ invalid_type_error: 'must be a number of seconds' }).min(0.1).max(3600).optional(),
    partition: slurmName('partition').optional(),
    account: slurmName('account').optional(),
    qos: slurmName('QOS').optional(),
    /** Extra `#SBATCH` arguments, one per element (e.g. --constraint=haswell). */
    sbatchArgs: z.array(sbatchArg).optional(),
    runtime: z.enum(['charliecloud', 'apptainer']).default('charliecloud'),
    /** How jobs ask for GPUs: `--gres=gpu:TYPE:N` (default) or `--gpus=TYPE:N`, whichever the site documents. */
    gpuFlag: z.enum(gpuFlags).optional(),
    /** On the cluster: the image cache and run directories. */
    workdir: z.string().default('~/.reprise'),
    ...dataStagingShape,
    ...runnableShape,
  })
  .strict();
export type SlurmConfig = z.output<typeof slurmSchema>;

