import { BaseCommand } from '../../../base-command.js';
import { readDataRemote, type DataRemote } from '../../../../data/store/remote.js';

export default class DataRemoteShow extends BaseCommand {
  static override summary = "Show the project's data remote (from .dvc/config, with .dvc/config.local over it).";
  static override examples = ['<%= config.bin %> data remote show', '<%= config.bin %> data remote show --json'];

  async run(): Promise<{ remote: DataRemote | null }> {
    const project = await this.project();
    const remote = await readDataRemote(project.root);
    if (!remote) this.say('no data remote; set one: reprise data remote set s3://bucket/prefix [--endpoint URL]');
    else {
      this.say(`${remote.name}\t${remote.url}`);
      for (const [key, value] of [['endpoint', remote.endpoint], ['region', remote.region], ['profile', remote.profile]] as const) if (value) this.say(`  ${key}: ${value}`);
    }
    return { remote: remote ?? null };
  }
}
