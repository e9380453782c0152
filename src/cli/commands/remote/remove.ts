import { Args } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { removeRemote, type Remote } from '../../../project/remotes.js';

export default class RemoteRemove extends BaseCommand {
  static override summary = 'Remove a git remote (the remote itself is not touched).';
  static override args = { name: Args.string({ description: 'remote name', required: true }) };

  async run(): Promise<Remote> {
    const { args } = await this.parse(RemoteRemove);
    const remote = await removeRemote((await this.project()).root, args.name);
    this.say(`removed remote ${remote.name}`);
    return remote;
  }
}
