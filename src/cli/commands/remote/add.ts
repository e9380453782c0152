import { Args } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { addRemote, type Remote } from '../../../project/remotes.js';

export default class RemoteAdd extends BaseCommand {
  static override summary = 'Add a git remote to sync the project with.';
  static override examples = ['<%= config.bin %> remote add origin git@github.com:alice/fit.git'];
  static override args = {
    name: Args.string({ description: 'remote name', required: true }),
    url: Args.string({ description: 'git URL (ssh, https or a path)', required: true }),
  };

  async run(): Promise<Remote> {
    const { args } = await this.parse(RemoteAdd);
    const remote = await addRemote((await this.project()).root, args.name, args.url, this.env.home);
    this.say(`added remote ${remote.name} ${remote.url}`);
    return remote;
  }
}
