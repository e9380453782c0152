import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { DEFAULT_BACKEND, backendConfigSchema, backendName, loadUserConfig, saveUserConfig, type BackendConfig } from '../../../config/user-config.js';
import { badInput } from '../../../errors.js';

export default class BackendAdd extends BaseCommand {
  static override summary = 'Add (or replace) a backend in your user config ($REPRISE_HOME/config.yaml; never in a project).';
  static override examples = [
    '<%= config.bin %> backend add gpu-box --kind docker --socket /run/user/1000/docker.sock',
    '<%= config.bin %> backend add hpc --kind slurm --host login.cluster.edu --user alice --identity-file ~/.ssh/id_ed25519 --known-hosts-file ~/.ssh/known_hosts --partition debug',
    '<%= config.bin %> backend add k8s --kind kubernetes --namespace reprise-runs --registry registry.example.com/team --context prod',
  ];
  static override args = { name: Args.string({ description: 'backend name (lowercase letters, digits, dashes)', required: true }) };
  static override flags = {
    kind: Flags.string({ description: 'backend kind', options: ['docker', 'slurm', 'kubernetes'], required: true }),
    socket: Flags.string({ description: 'docker: Docker Engine API socket (default: DOCKER_HOST or /var/run/docker.sock)' }),
    host: Flags.string({ description: 'slurm: SSH login node' }),
    port: Flags.integer({ description: 'slurm: SSH port (default 22)', min: 1, max: 65535 }),
    user: Flags.string({ description: 'slurm: SSH user' }),
    'identity-file': Flags.string({ description: 'slurm: SSH private key on this machine (one with a passphrase goes through ssh-agent)' }),
    'identity-agent': Flags.string({ description: 'slurm: ssh-agent socket (default: SSH_AUTH_SOCK of the worker)' }),
    'known-hosts-file': Flags.string({ description: "slurm: known_hosts file listing the login node's host key (required; never trusted blindly)" }),
    partition: Flags.string({ description: 'slurm: partition' }),
    account: Flags.string({ description: 'slurm: account' }),
    qos: Flags.string({ description: 'slurm: QOS' }),
    'sbatch-arg': Flags.string({ description: 'slurm: extra #SBATCH argument (repeatable)', multiple: true }),
    runtime: Flags.string({ description: 'slurm: container runtime on the nodes (default charliecloud)', options: ['charliecloud', 'apptainer'] }),
    workdir: Flags.string({ description: 'slurm: directory on the cluster for images and runs (default ~/.reprise)' }),
    kubeconfig: Flags.string({ description: 'kubernetes: kubeconfig file (default: KUBECONFIG or ~/.kube/config)' }),
    context: Flags.string({ description: "kubernetes: kubeconfig context (default: the kubeconfig's current one)" }),
    namespace: Flags.string({ description: 'kubernetes: namespace the run Jobs go to' }),
    registry: Flags.string({ description: 'kubernetes: registry images are pushed to and the nodes pull from' }),
  };

  async run(): Promise<{ name: string; config: BackendConfig }> {
    const { args, flags } = await this.parse(BackendAdd);
    if (args.name === DEFAULT_BACKEND) throw badInput(`"${DEFAULT_BACKEND}" is built in; pick another name`);
    if (!backendName.safeParse(args.name).success) throw badInput(`invalid backend name "${args.name}": use lowercase letters, digits and dashes`);
    const settings = {
      kind: flags.kind,
      socketPath: flags.socket,
      host: flags.host,
      port: flags.port,
      user: flags.user,
      identityFile: flags['identity-file'],
      identityAgent: flags['identity-agent'],
      knownHostsFile: flags['known-hosts-file'],
      partition: flags.partition,
      account: flags.account,
      qos: flags.qos,
      sbatchArgs: flags['sbatch-arg'],
      runtime: flags.runtime,
      workdir: flags.workdir,
      kubeconfig: flags.kubeconfig,
      context: flags.context,
      namespace: flags.namespace,
      registry: flags.registry,
    };
    // Flags not given are left out, so a strict schema only sees what the user set.
    const given = Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined));
    const parsed = backendConfigSchema.safeParse(given);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const toFlag = (key: string) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`).replace('socket-path', 'socket').replace('sbatch-args', 'sbatch-arg')}`;
      if (issue.code === 'unrecognized_keys') throw badInput(`${issue.keys.map(toFlag).join(', ')} does not apply to --kind ${flags.kind}; leave it out`);
      const key = issue.path.join('.');
      const flag = key ? ` ${toFlag(key)}` : '';
      throw badInput(`invalid backend settings for --kind ${flags.kind}:${flag} ${issue.message === 'Required' ? 'is required' : issue.message}`);
    }
    const config = await loadUserConfig(this.env.home);
    config.backends[args.name] = parsed.data;
    await saveUserConfig(this.env.home, config);
    this.say(`added backend ${args.name} (${parsed.data.kind}); check it with: reprise backend check ${args.name}`);
    return { name: args.name, config: parsed.data };
  }
}
