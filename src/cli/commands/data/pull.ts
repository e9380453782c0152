import { Args } from '@oclif/core';
import { relative, resolve } from 'node:path';
import { BaseCommand } from '../../base-command.js';
import { TransferBar } from '../../progress.js';
import { checkoutData, type CheckoutResult } from '../../../data/checkout.js';
import { formatBytes } from '../../../data/size.js';
import { fetchSelected, selectOuts, workspaceOuts, type TransferResult } from '../../../data/store/transfer.js';

export default class DataPull extends BaseCommand {
  static override summary = 'Fetch tracked data from the data remote into the cache and restore it in the workspace (all, or only the paths given).';
  static override description =
    'A path inside a tracked folder fetches only that part of it. Every object is verified by its md5 on arrival; a cut transfer resumes where it stopped when run again.';
  static override examples = ['<%= config.bin %> data pull', '<%= config.bin %> data pull input/images/cats'];
  static override strict = false;
  static override args = { path: Args.string({ description: 'tracked paths, folders holding them, or paths inside a tracked folder (default: all)' }) };

  async run(): Promise<TransferResult & CheckoutResult> {
    const { argv } = await this.parse(DataPull);
    const project = await this.project();
    const asked = (argv as string[]).map((p) => relative(project.root, resolve(p)).split('\\').join('/') || '.');
    const paths = asked.includes('.') ? [] : asked;
    const selection = selectOuts(await workspaceOuts(project.root), paths.length ? paths : undefined);
    const bar = new TransferBar(!this.jsonEnabled());
    let fetched: TransferResult;
    try {
      fetched = await fetchSelected(project.root, selection, (p) => bar.update(p));
    } finally {
      bar.stop();
    }
    const restored = await checkoutData(project.root, paths.length ? { paths } : {});
    this.say(`${fetched.transferred ? `fetched ${fetched.transferred} object(s), ${formatBytes(fetched.bytes)}` : 'nothing to fetch'}; ${restored.restored.length} path(s) restored, ${restored.unchanged.length} up to date`);
    return { ...fetched, ...restored };
  }
}
