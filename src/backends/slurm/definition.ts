import { dataStagingFlags, defineBackend, runnableFlags } from '../definition.js';
import { gpuFlags, slurmSchema } from './config.js';

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

