import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { addRemote, type Remote } from '../../../project/remotes.js';
import { urlWithPassword } from '../../url-password.js';

export default class RemoteAdd extends BaseCommand {
  static override summary = 'Add a git remote to sync the project with.';
  static override examples = [
    '<%= config.bin %> remote add origin git@github.com:alice/fit.git',
    'printf %s "$TOKEN" | <%= config.bin %> remote add origin https://alice@git.example.org/team/fit.git --password-stdin',
  ];
  static override args = {
    name: Args.string({ description: 'remote name', required: true }),
    url: Args.string({ description: 'git URL (ssh, https or a path)', required: true }),
  };
  static override flags = {
    'password-stdin': Flags.boolean({ description: 'read the password from standard input (the URL names the user only): never on a command line, which every local account sees with ps' }),
  };

  async run(): Promise<Remote> {
    const { args, flags } = await this.parse(RemoteAdd);
    const root = (await this.project()).root;
    const url = await urlWithPassword(args.url, flags['password-stdin'], process.stdin, (m) => process.stderr.write(`${m}\n`), `reprise remote add ${args.name} <URL with the user only>`);
    const remote = await addRemote(root, args.name, url, this.env.home);
    this.say(`added remote ${remote.name} ${remote.url}`);
    return remote;
  }
}
