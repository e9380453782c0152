import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { parseDuration } from '../../../config/resources.js';
import { badInput } from '../../../errors.js';
import { collectGarbage, collectRemoteGarbage, type GcResult, type RemoteGcResult } from '../../../data/gc.js';
import { formatBytes } from '../../../data/size.js';
import { openStore, requireDataRemote } from '../../../data/store/remote.js';

export default class DataGc extends BaseCommand {
  static override summary = 'Remove cached data no commit on any branch (nor the working tree) points to; with --remote, from the data store too.';
  static override description =
    'With --remote, the branches of the git remotes are fetched first, and objects newer than --older-than (24h by default) are kept: a collaborator\'s sync sends its data before its commits. Unfinished multipart uploads older than that are dropped too.';
  static override examples = ['<%= config.bin %> data gc --dry-run', '<%= config.bin %> data gc', '<%= config.bin %> data gc --remote --dry-run'];
  static override flags = {
    'dry-run': Flags.boolean({ description: 'only list what would be removed' }),
    remote: Flags.boolean({ description: "also remove unreferenced objects from the project's data store" }),
    'older-than': Flags.string({ description: 'with --remote: only remove objects and unfinished uploads older than this (e.g. 24h, 7d; 0 for any age)', default: '24h' }),
  };

  async run(): Promise<GcResult & { remote?: RemoteGcResult }> {
    const { flags } = await this.parse(DataGc);
    const root = (await this.project()).root;
    const graceMs = flags['older-than'] === '0' ? 0 : parseGrace(flags['older-than']) * 1000;
    const dryRun = flags['dry-run'];
    const verb = dryRun ? 'would remove' : 'removed';
    // The store first: it reads folder manifests into the local cache, which the local gc then judges.
    let remote: RemoteGcResult | undefined;
    if (flags.remote) {
      const store = openStore(await requireDataRemote(root));
      try {
        remote = await collectRemoteGarbage(root, store, { dryRun, graceMs });
      } finally {
        store.destroy();
      }
      for (const r of remote.removed) this.say(`${verb} ${r.md5}  ${formatBytes(r.size)}  from ${remote.store}`);
      const aborted = remote.aborted ? `; ${dryRun ? 'would drop' : 'dropped'} ${remote.aborted} unfinished upload(s)` : '';
      this.say(`${verb} ${remote.removed.length} object(s), ${formatBytes(remote.removedBytes)}, from ${remote.store}; kept ${remote.kept} referenced and ${remote.recent} newer than ${flags['older-than']}${aborted}`);
    }
    const local = await collectGarbage(root, { dryRun });
    for (const r of local.removed) this.say(`${verb} ${r.md5}  ${formatBytes(r.size)}`);
    this.say(`${verb} ${local.removed.length} object(s), ${formatBytes(local.removedBytes)}, from the local cache; kept ${local.kept}`);
    return { ...local, ...(remote ? { remote } : {}) };
  }
}

function parseGrace(text: string): number {
  try {
    return parseDuration(text);
  } catch {
    throw badInput(`invalid --older-than "${text}": give an age such as 24h, 7d or 90m, or 0 for any age`);
  }
}
