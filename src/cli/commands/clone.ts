import { Args } from '@oclif/core';
import { BaseCommand } from '../base-command.js';
import { cloneProject, type Cloned } from '../../project/remotes.js';

export default class Clone extends BaseCommand {
  static override summary = 'Clone a Reprise project from a git remote (its code, data, runs and branches).';
  static override examples = ['<%= config.bin %> clone git@github.com:alice/fit.git', '<%= config.bin %> clone ssh://host/srv/fit.git fit-bob'];
  static override args = {
    url: Args.string({ description: 'git URL of the project', required: true }),
    dir: Args.string({ description: 'directory to create (default: the last part of the URL)' }),
  };

  async run(): Promise<Cloned> {
    const { args } = await this.parse(Clone);
    const cloned = await cloneProject(args.url, args.dir, process.cwd(), this.env.home);
    if (cloned.note) this.note(cloned.note);
    this.say(`Cloned ${cloned.url} (branch ${cloned.branch}) into ${cloned.root}`);
    return cloned;
  }
}
