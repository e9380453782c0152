import { Args } from '@oclif/core';
import { BaseCommand } from '../base-command.js';
import { cloneProject } from '../../project/remotes.js';

export default class Clone extends BaseCommand {
  static override summary = 'Clone a Reprise project from a git remote (its code, data, runs and branches).';
  static override examples = ['<%= config.bin %> clone git@github.com:alice/fit.git', '<%= config.bin %> clone ssh://host/srv/fit.git fit-bob'];
  static override args = {
    url: Args.string({ description: 'git URL of the project', required: true }),
    dir: Args.string({ description: 'directory to create (default: the last part of the URL)' }),
  };

  async run(): Promise<{ root: string; url: string }> {
    const { args } = await this.parse(Clone);
    const cloned = await cloneProject(args.url, args.dir, process.cwd());
    this.say(`Cloned ${cloned.url} into ${cloned.root}`);
    return cloned;
  }
}
