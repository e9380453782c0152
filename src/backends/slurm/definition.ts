import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { dataStagingFlags, dataStagingShape, defineBackend, runnableFlags, runnableShape } from '../definition.js';

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

const slurmSchema = z
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

export const slurmDefinition = defineBackend({
  kind: 'slurm',
  schema: slurmSchema,
  flags: {
    ...runnableFlags,
    host: { key: 'host', type: 'string', description: 'SSH login node: a Host alias of your ssh config, or a host name' },
    port: { key: 'port', type: 'integer', min: 1, max: 65535, description: 'SSH port (default: ssh config, else 22)' },
    user: { key: 'user', type: 'string', description: 'SSH user (default: ssh config, else your user name)' },
    'identity-file': { key: 'identityFile', type: 'string', description: 'SSH private key on this machine (one with a passphrase goes through ssh-agent)' },
    'identity-agent': { key: 'identityAgent', type: 'string', description: 'ssh-agent socket (default: SSH_AUTH_SOCK of the worker)' },
    'known-hosts-file': { key: 'knownHostsFile', type: 'string', description: "known_hosts file listing the login node's host key (default: ssh config, else ~/.ssh/known_hosts; never trusted blindly)" },
    'ssh-config': { key: 'sshConfig', type: 'string', description: 'ssh config file read instead of ~/.ssh/config (Host aliases, ProxyJump, keys, …)' },
    'poll-interval': { key: 'pollInterval', type: 'number', description: "seconds between reads of the jobs' state, one squeue for all runs (default 1)" },
    partition: { key: 'partition', type: 'string', description: 'partition' },
    account: { key: 'account', type: 'string', description: 'account' },
    qos: { key: 'qos', type: 'string', description: 'QOS' },
    'sbatch-arg': { key: 'sbatchArgs', type: 'string', multiple: true, description: 'extra #SBATCH argument (repeatable)' },
    runtime: { key: 'runtime', type: 'string', options: ['charliecloud', 'apptainer'], description: 'container runtime on the nodes (default charliecloud)' },
    'gpu-flag': { key: 'gpuFlag', type: 'string', options: gpuFlags, description: 'how jobs ask for GPUs: --gres=gpu:TYPE:N (gres, default) or --gpus=TYPE:N (gpus)' },
    workdir: { key: 'workdir', type: 'string', description: 'directory on the cluster for images and runs (default ~/.reprise)' },
    ...dataStagingFlags,
  },
  describe: (config) =>
    [`${config.user ? `${config.user}@` : ''}${config.host}${config.port ? `:${config.port}` : ''}`, ...(config.sshConfig ? [`ssh config ${config.sshConfig}`] : []), ...(config.partition ? [`partition ${config.partition}`] : []), config.runtime].join(', '),
  checkOnAdd: async (config) => {
    // The ssh config it names (or ~/.ssh/config) must be there and followable for its host.
    const { resolveSshTarget } = await import('./ssh-target.js');
    const { SshConfigError } = await import('./ssh-config.js');
    try {
      resolveSshTarget(config);
      return undefined;
    } catch (err) {
      if (err instanceof SshConfigError) return err.message;
      throw err;
    }
  },
  create: async (config) => {
    const { SlurmBackend } = await import('./slurm-backend.js');
    return new SlurmBackend(config);
  },
});

