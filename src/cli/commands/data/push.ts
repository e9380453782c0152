import { BaseCommand } from '../../base-command.js';
import { TransferBar } from '../../progress.js';
import { formatBytes } from '../../../data/size.js';
import { pushCommit, type TransferResult } from '../../../data/store/transfer.js';

export default class DataPush extends BaseCommand {
  static override summary = "Upload to the data remote every object the current commit's pointers reference that it lacks.";
  static override examples = ['<%= config.bin %> data push'];

  async run(): Promise<TransferResult> {
    const project = await this.project();
    const bar = new TransferBar(!this.jsonEnabled());
    try {
      const r = await pushCommit(project.root, 'HEAD', (p) => bar.update(p));
      bar.stop();
      this.say(r.transferred ? `pushed ${r.transferred} object(s), ${formatBytes(r.bytes)}, to ${r.store}` : `${r.store ?? 'the data remote'} has all ${r.objects} object(s); nothing to push`);
      return r;
    } finally {
      bar.stop();
    }
  }
}
