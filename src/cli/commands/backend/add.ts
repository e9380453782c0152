import { Args } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { backendAddFlags, describeBackendIssue, settingsFromFlags } from '../../backend-settings.js';
import { kindDefinition } from '../../../backends/kinds.js';
import { DEFAULT_BACKEND, allBackends, backendIssues, backendName, loadUserConfig, saveUserConfig, type BackendConfig } from '../../../backends/user-config.js';
import { badInput } from '../../../errors.js';

export default class BackendAdd extends BaseCommand {
  static override summary = 'Add (or replace) a backend in your user config ($REPRISE_HOME/config.yaml; never in a project).';
  static override examples = [
    '<%= config.bin %> backend add gpu-box --kind docker --socket /run/user/1000/docker.sock',
    '<%= config.bin %> backend add hpc --kind slurm --host hpc-login --partition debug   # hpc-login: a Host alias in ~/.ssh/config',
    '<%= config.bin %> backend add hpc --kind slurm --host login.cluster.edu --user alice --identity-file ~/.ssh/id_ed25519 --known-hosts-file ~/.ssh/known_hosts --partition debug --max-parallel 8',
    '<%= config.bin %> backend add k8s --kind kubernetes --namespace reprise-runs --registry registry.example.com/team --context prod',
    '<%= config.bin %> backend add burst --kind pool --member hpc --member k8s --max-queue-wait 5m',
  ];
  static override args = { name: Args.string({ description: 'backend name (lowercase letters, digits, dashes)', required: true }) };
  static override flags = backendAddFlags();

  async run(): Promise<{ name: string; config: BackendConfig }> {
    const { args, flags } = await this.parse(BackendAdd);
    if (args.name === DEFAULT_BACKEND) throw badInput(`"${DEFAULT_BACKEND}" is built in; pick another name`);
    if (!backendName.safeParse(args.name).success) throw badInput(`invalid backend name "${args.name}": use lowercase letters, digits and dashes`);
    const definition = kindDefinition(flags.kind)!; // --kind's options are the known kinds
    const settings = settingsFromFlags(definition, flags);
    if ('error' in settings) throw badInput(settings.error);
    const added = settings.config as BackendConfig; // parsed by the kind's own schema
    const problem = await definition.checkOnAdd?.(added);
    if (problem) throw badInput(`invalid backend settings for --kind ${definition.kind}: ${problem}`);
    const config = await loadUserConfig(this.env.home);
    config.backends[args.name] = added;
    const issues = backendIssues(config.backends);
    const issue = issues.find((i) => i.backend === args.name) ?? issues[0];
    if (issue) throw badInput(describeBackendIssue(definition, args.name, issue, (b) => allBackends(config)[b]!.kind));
    await saveUserConfig(this.env.home, config);
    this.say(`added backend ${args.name} (${added.kind}); check it with: reprise backend check ${args.name}`);
    return { name: args.name, config: added };
  }
}

