import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../base-command.js';
import { cloneProject, type Cloned } from '../../project/remotes.js';
import { urlWithPassword } from '../url-password.js';

export default class Clone extends BaseCommand {
  static override summary = 'Clone a Reprise project from a git remote (its code, data, runs and branches).';
  static override examples = [
    '<%= config.bin %> clone git@github.com:alice/fit.git',
    '<%= config.bin %> clone ssh://host/srv/fit.git fit-bob',
    'printf %s "$TOKEN" | <%= config.bin %> clone https://alice@git.example.org/team/fit.git --password-stdin',
  ];
  static override args = {
    url: Args.string({ description: 'git URL of the project', required: true }),
    dir: Args.string({ description: 'directory to create (default: the last part of the URL)' }),
  };
  static override flags = {
    'password-stdin': Flags.boolean({ description: 'read the password from standard input (the URL names the user only): never on a command line, which every local account sees with ps' }),
  };

  async run(): Promise<Cloned> {
    const { args, flags } = await this.parse(Clone);
    const url = await urlWithPassword(args.url, flags['password-stdin'], process.stdin, (m) => process.stderr.write(`${m}\n`), 'reprise clone <URL with the user only>');
    const cloned = await cloneProject(url, args.dir, process.cwd(), this.env.home);
    if (cloned.note) this.note(cloned.note);
    this.say(`Cloned ${cloned.url} (branch ${cloned.branch}) into ${cloned.root}`);
    return cloned;
  }
}
