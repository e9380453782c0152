import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { Git } from '../project/git.js';
import { hasObject, localCacheDir } from './cache.js';
import { isDirMd5 } from './format.js';
import { digestPath, StatCache } from './hash.js';
import { workspacePointers } from './pointers.js';

export type TrackedState = 'ok' | 'modified' | 'missing';

export interface TrackedStatus {
  path: string;
  pointer: string;
  md5: string;
  size: number;
  nfiles?: number;
  state: TrackedState;
  /** What the workspace holds now, when it differs from the pointer. */
  workspace?: { md5: string; size: number };
  /** The pointer's object is in the local cache (checkout can restore it). */
  cached: boolean;
}

export interface DataStatus {
  tracked: TrackedStatus[];
  /** Files git holds or would take that are above the threshold: candidates for `data add`. */
  untrackedLarge: { path: string; size: number }[];
  threshold: number;
}

/** Compare every pointer with the workspace (hashes from the stat cache) and find large untracked files. */
export async function dataStatus(root: string, threshold: number): Promise<DataStatus> {
  return { tracked: await trackedStatus(root), untrackedLarge: await largeGitFiles(new Git(root), threshold), threshold };
}

/** Every pointer's outputs compared with the workspace (hashes from the stat cache). */
export async function trackedStatus(root: string): Promise<TrackedStatus[]> {
  const git = new Git(root);
  const cacheDir = await localCacheDir(root);
  const stats = await StatCache.open(root);
  const tracked: TrackedStatus[] = [];
  for (const pointer of await workspacePointers(git)) {
    for (const out of pointer.outs) {
      const abs = join(root, out.dataPath);
      const exists = await lstat(abs).then(
        () => true,
        () => false,
      );
      const now = exists ? await digestPath(abs, out.dataPath, stats) : undefined;
      const state: TrackedState = !now ? 'missing' : now.md5 === out.md5 ? 'ok' : 'modified';
      tracked.push({
        path: out.dataPath,
        pointer: pointer.file,
        md5: out.md5,
        size: out.size,
        ...(out.nfiles !== undefined ? { nfiles: out.nfiles } : {}),
        state,
        ...(now && state === 'modified' ? { workspace: { md5: now.md5, size: now.size } } : {}),
        cached: await hasObject(cacheDir, out.md5),
      });
    }
  }
  await stats.save();
  return tracked;
}

/** Files git tracks or would take (not ignored), outside .reprise/, larger than `threshold` bytes. */
export async function largeGitFiles(git: Git, threshold: number, under?: string): Promise<{ path: string; size: number }[]> {
  const listed = (await git.run(['ls-files', '-z', '--cached', '--others', '--exclude-standard', ...(under ? ['--', under] : [])])).split('\0');
  const out: { path: string; size: number }[] = [];
  for (const path of [...new Set(listed)].sort()) {
    if (!path || path.startsWith('.reprise/') || path.startsWith('.dvc/')) continue;
    const st = await lstat(join(git.dir, path)).catch(() => undefined);
    if (st?.isFile() && st.size > threshold) out.push({ path, size: st.size });
  }
  return out;
}

export const isFolder = (t: Pick<TrackedStatus, 'md5'>): boolean => isDirMd5(t.md5);
