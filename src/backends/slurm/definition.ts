import { z } from 'zod';
import { defineBackend, runnableFlags, runnableShape } from '../definition.js';

const slurmSchema = z
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
    ...runnableShape,
  })
  .strict();
export type SlurmConfig = z.output<typeof slurmSchema>;

export const slurmDefinition = defineBackend({
  kind: 'slurm',
  schema: slurmSchema,
  flags: {
    ...runnableFlags,
    host: { key: 'host', type: 'string', description: 'SSH login node' },
    port: { key: 'port', type: 'integer', min: 1, max: 65535, description: 'SSH port (default 22)' },
    user: { key: 'user', type: 'string', description: 'SSH user' },
    'identity-file': { key: 'identityFile', type: 'string', description: 'SSH private key on this machine (one with a passphrase goes through ssh-agent)' },
    'identity-agent': { key: 'identityAgent', type: 'string', description: 'ssh-agent socket (default: SSH_AUTH_SOCK of the worker)' },
    'known-hosts-file': { key: 'knownHostsFile', type: 'string', description: "known_hosts file listing the login node's host key (required; never trusted blindly)" },
    partition: { key: 'partition', type: 'string', description: 'partition' },
    account: { key: 'account', type: 'string', description: 'account' },
    qos: { key: 'qos', type: 'string', description: 'QOS' },
    'sbatch-arg': { key: 'sbatchArgs', type: 'string', multiple: true, description: 'extra #SBATCH argument (repeatable)' },
    runtime: { key: 'runtime', type: 'string', options: ['charliecloud', 'apptainer'], description: 'container runtime on the nodes (default charliecloud)' },
    workdir: { key: 'workdir', type: 'string', description: 'directory on the cluster for images and runs (default ~/.reprise)' },
  },
  describe: (config) => [`${config.user}@${config.host}:${config.port}`, ...(config.partition ? [`partition ${config.partition}`] : []), config.runtime].join(', '),
  create: async (config) => {
    const { SlurmBackend } = await import('./slurm-backend.js');
    return new SlurmBackend(config);
  },
});

