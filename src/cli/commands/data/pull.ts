import { Args, Flags } from '@oclif/core';
import { relative, resolve } from 'node:path';
import { BaseCommand } from '../../base-command.js';
import { TransferBar } from '../../progress.js';
import { checkoutData, type CheckoutResult } from '../../../data/checkout.js';
import { formatBytes } from '../../../data/size.js';
import { fetchSelected, runOutputs, selectOuts, workspaceOuts, type TrackedOut, type TransferResult } from '../../../data/store/transfer.js';

export default class DataPull extends BaseCommand {
  static override summary = 'Fetch tracked data from the data remote into the cache and restore it in the workspace (all, or only the paths given).';
  static override description =
    'A path inside a tracked folder fetches only that part of it. Every object is verified by its md5 on arrival; a cut transfer resumes where it stopped when run again.';
  static override examples = ['<%= config.bin %> data pull', '<%= config.bin %> data pull input/images/cats', '<%= config.bin %> data pull --run 3f2a'];
  static override strict = false;
  static override args = { path: Args.string({ description: 'tracked paths, folders holding them, or paths inside a tracked folder (default: all)' }) };
  static override flags = { run: Flags.string({ description: "a recorded run's large outputs (id or unique prefix), as its record lists them by digest" }) };

  async run(): Promise<TransferResult & CheckoutResult & { kept?: string[] }> {
    const { argv, flags } = await this.parse(DataPull);
    const project = await this.project();
    const asked = (argv as string[]).map((p) => relative(project.root, resolve(p)).split('\\').join('/') || '.');
    if (flags.run) return this.pullRun(project.root, flags.run, asked);
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

  /**
   * A run's recorded outputs into the cache; restored in the workspace where its pointers still
   * name the same content (a later run may have written another version there: that one stays).
   */
  private async pullRun(root: string, runRef: string, paths: string[]): Promise<TransferResult & CheckoutResult & { kept: string[] }> {
    const { runId, outs } = await runOutputs(root, runRef);
    const bar = new TransferBar(!this.jsonEnabled());
    let fetched: TransferResult;
    try {
      fetched = await fetchSelected(root, selectOuts(outs, paths.length && !paths.includes('.') ? paths : undefined), (p) => bar.update(p));
    } finally {
      bar.stop();
    }
    const current = new Map((await workspaceOuts(root)).map((o: TrackedOut) => [o.dataPath, o.md5]));
    const here = outs.filter((o) => current.get(o.dataPath) === o.md5).map((o) => o.dataPath);
    const kept = outs.filter((o) => current.get(o.dataPath) !== o.md5).map((o) => o.dataPath);
    const restored = here.length ? await checkoutData(root, { paths: here }) : { restored: [], unchanged: [] };
    for (const p of kept) this.note(`${p}: the workspace tracks another version; run ${runId}'s is in the cache (reprise data checkout after checking out that run's commit)`);
    this.say(`run ${runId}: ${fetched.transferred ? `fetched ${fetched.transferred} object(s), ${formatBytes(fetched.bytes)}` : 'nothing to fetch'}; ${restored.restored.length} output(s) restored, ${restored.unchanged.length} up to date`);
    return { ...fetched, ...restored, kept };
  }
}
