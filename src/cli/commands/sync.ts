import { Flags } from '@oclif/core';
import { BaseCommand } from '../base-command.js';
import { keepChoices } from '../../project/merge.js';
import { abortSync, sync, type SyncResult } from '../../project/sync.js';
import { trackForRun, trackedNotice } from '../../data/run-data.js';
import { autoTrackBytes } from '../../data/settings.js';
import { pushDataOfNewCommits } from '../../data/store/transfer.js';
import { TransferBar } from '../progress.js';

export default class Sync extends BaseCommand {
  static override summary = "Share your work: sweep pending edits into a commit, merge the remote's branch, push (tracked data to the data remote first).";
  static override description =
    'Run records never conflict. When a file of yours was changed on both sides the sync stops, changing nothing, and lists the files: choose --keep mine, --keep theirs or --abort.';
  static override examples = ['<%= config.bin %> sync', '<%= config.bin %> sync --remote lab --keep theirs', '<%= config.bin %> sync --abort'];
  static override flags = {
    remote: Flags.string({ description: "remote to sync with (default: the branch's upstream, else origin)" }),
    keep: Flags.option({ options: keepChoices, description: 'for files changed on both sides: keep your version or theirs' })(),
    abort: Flags.boolean({ description: 'abandon a stopped sync (it changed nothing)', exclusive: ['keep', 'remote'] }),
  };

  async run(): Promise<SyncResult | Awaited<ReturnType<typeof abortSync>>> {
    const { flags } = await this.parse(Sync);
    const project = await this.project();
    if (flags.abort) {
      const aborted = await abortSync(project.root);
      this.say(aborted.aborted ? 'sync abandoned; the project is as it was before it' : 'no stopped sync; nothing to abort');
      return aborted;
    }
    // Large new inputs and changed tracked data become pointers before the sweep commits them.
    const data = await trackForRun(project.root, autoTrackBytes(project.spec));
    for (const t of data.tracked) this.note(trackedNotice(t));
    const bar = new TransferBar(!this.jsonEnabled());
    // Data first: a commit never reaches the remote before the data it points at is in the store.
    const beforePush = async (head: string, theirs: string[]) => {
      const pushed = await pushDataOfNewCommits(project.root, head, theirs, (p) => bar.update(p)).finally(() => bar.stop());
      if (pushed.transferred) this.note(`pushed ${pushed.transferred} data object(s) to ${pushed.store}`);
    };
    const r = await sync(project.root, { remote: flags.remote, keep: flags.keep, untrack: data.untrack, beforePush, home: this.env.home });
    if (r.kept) this.note(`kept ${r.kept.side} for: ${r.kept.files.join(', ')}`);
    const what = { 'up-to-date': 'nothing new from', 'fast-forward': 'fast-forwarded to', merge: 'merged' }[r.integrated];
    this.say(`${r.swept ? 'committed pending edits; ' : ''}${what} ${r.remote}/${r.branch}; ${r.pushed ? `pushed ${r.head.slice(0, 12)}` : 'nothing to push'}`);
    return r;
  }
}
