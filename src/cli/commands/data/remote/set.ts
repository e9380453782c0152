import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../../base-command.js';
import { setDataRemote, type DataRemote } from '../../../../data/store/remote.js';

export default class DataRemoteSet extends BaseCommand {
  static override summary = "Set the object store the project's data is shared through (kept in .dvc/config, as DVC keeps it).";
  static override description =
    'Collaborators inherit it with the project, and DVC reads the same remote. Credentials never go in the project: they come from the AWS environment (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE) or ~/.aws/credentials.';
  static override examples = ['<%= config.bin %> data remote set s3://lab-data/fit', '<%= config.bin %> data remote set s3://lab-data/fit --endpoint https://s3.example.org'];
  static override args = { url: Args.string({ description: 's3://bucket/prefix', required: true }) };
  static override flags = {
    endpoint: Flags.string({ description: 'endpoint URL of an S3-compatible store (MinIO, SeaweedFS, Ceph, …)', exclusive: ['aws'] }),
    aws: Flags.boolean({ description: 'AWS S3 itself: forget an endpoint set before' }),
  };

  async run(): Promise<DataRemote> {
    const { args, flags } = await this.parse(DataRemoteSet);
    const project = await this.project();
    const remote = await setDataRemote(project.root, args.url, flags.aws ? null : flags.endpoint);
    this.say(`data remote "${remote.name}": ${remote.url}${remote.endpoint ? ` at ${remote.endpoint}` : ''} (in .dvc/config; the next run or sync commits it)`);
    return remote;
  }
}
