import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { badInput } from '../errors.js';
import { Git } from './git.js';
import { checkedOutBranch, integrate, type Integrated, type Keep } from './merge.js';
import { defaultRemote, fetchRemote, remoteError, remoteUrl, secureRemoteCredentials, updateTracking } from './remotes.js';

export interface SyncResult {
  remote: string;
  branch: string;
  /** Pending edits were swept into a commit. */
  swept: boolean;
  integrated: Integrated['kind'];
  kept?: Integrated['kept'];
  pushed: boolean;
  head: string;
}

const SYNC_ATTEMPTS = 10;

/** Runs before commits are pushed, given the head to push and the remote's heads: the data layer sends the data they track. */
export type BeforePush = (head: string, theirs: string[]) => Promise<void>;

/** A sync stopped on conflicts, kept so --abort can say what it abandons. */
interface StoppedSync {
  remote: string;
  branch: string;
  files: string[];
}

const stoppedFile = async (git: Git) => join(await git.gitDir(), 'reprise-sync-stopped.json');

/**
 * Sweep pending work, fetch the remote's branch, merge it (see integrate) and push the result.
 * A conflict stops with the files and changes nothing; a refused push keeps the merge (exit 3).
 */
export async function sync(root: string, options: { remote?: string; keep?: Keep; untrack?: string[]; beforePush?: BeforePush; home?: string }): Promise<SyncResult> {
  const git = new Git(root);
  const branch = await checkedOutBranch(git);
  const remote = options.remote ?? (await defaultRemote(root, branch));
  await remoteUrl(root, remote);
  await secureRemoteCredentials(root, remote, options.home);
  // Another clone (or, in team mode, a worker publishing a record) may push between our fetch and
  // our push: the push is then rejected, so fetch again, a little later each time.
  for (let attempt = 0; attempt < SYNC_ATTEMPTS; attempt++) {
    if (attempt > 0) await new Promise((r) => setTimeout(r, Math.random() * 200 * attempt));
    const heads = await fetchRemote(root, remote);
    const theirs = heads.get(branch);
    const merged = await integrate(root, theirs, { keep: options.keep, message: `Sync with ${remote}/${branch}`, untrack: options.untrack });
    if ('conflicts' in merged) {
      await writeFile(await stoppedFile(git), JSON.stringify({ remote, branch, files: merged.conflicts } satisfies StoppedSync) + '\n');
      throw badInput(
        `sync stopped, nothing was changed: ${merged.conflicts.length} file(s) changed both here and on ${remote}: ${merged.conflicts.join(', ')}; choose: reprise sync --keep mine | reprise sync --keep theirs | reprise sync --abort`,
      );
    }
    await rm(await stoppedFile(git), { force: true });
    // The pull part is done: the tracking refs say what the remote has, whatever the push does.
    await updateTracking(root, remote, heads);
    const result = { remote, branch, swept: merged.swept, integrated: merged.kind, kept: merged.kept, head: merged.head };
    if (merged.head === theirs) return { ...result, pushed: false };
    await options.beforePush?.(merged.head, [...heads.values()]);
    try {
      await git.run(['push', '--quiet', '--', remote, `${merged.head}:refs/heads/${branch}`]);
    } catch (err) {
      const stderr = String((err as { stderr?: string }).stderr ?? '');
      // Lost the race: not a fast-forward any more, or the branch moved inside the remote while it updated.
      if (/\[rejected\].*\((fetch first|non-fast-forward)\)|failed to update ref|cannot lock ref/.test(stderr)) continue;
      throw remoteError(remote, err, 'push');
    }
    await updateTracking(root, remote, new Map([...heads, [branch, merged.head]]));
    return { ...result, pushed: true };
  }
  throw badInput(`${remote}/${branch} kept moving while syncing (others are pushing); run reprise sync again`);
}

/** Abandon a stopped sync. A stopped sync changed nothing, so this only forgets it. */
export async function abortSync(root: string): Promise<{ aborted: boolean; remote?: string; branch?: string; files: string[] }> {
  const file = await stoppedFile(new Git(root));
  const stopped = await readFile(file, 'utf8').then((s) => JSON.parse(s) as StoppedSync, () => undefined);
  await rm(file, { force: true });
  return stopped ? { aborted: true, ...stopped } : { aborted: false, files: [] };
}
