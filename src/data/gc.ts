import { readdir, rm, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { Git } from '../project/git.js';
import { cacheObjectPath, localCacheDir, readCachedManifest } from './cache.js';
import { parsePointer, POINTER_SUFFIX, referencedObjects, type DataObject, type PointerOut } from './format.js';
import { workspacePointers } from './pointers.js';
import { removeTrees } from './trees.js';

export interface GcResult {
  dryRun: boolean;
  kept: number;
  removed: { md5: string; size: number }[];
  removedBytes: number;
}

/**
 * Remove from the local cache every object no pointer references: pointers in any commit
 * reachable from any ref (every branch, tag and run ref), and the working tree's (tracked but
 * not committed yet). `dryRun` only lists them.
 */
export async function collectGarbage(root: string, options: { dryRun: boolean }): Promise<GcResult> {
  const git = new Git(root);
  const cacheDir = await localCacheDir(root);
  const outs: PointerOut[] = (await workspacePointers(git)).flatMap((p) => p.outs);
  // Every pointer blob ever reachable, each read once (the same version in many commits is one blob).
  const objects = (await git.run(['rev-list', '--all', '--objects'])).split('\n');
  const blobs = new Map<string, string>();
  for (const line of objects) {
    const space = line.indexOf(' ');
    const path = line.slice(space + 1);
    // Not DVC's own folder (a tree named ".dvc"), nor files in it.
    if (space > 0 && path.endsWith(POINTER_SUFFIX) && posix.basename(path) !== POINTER_SUFFIX && !path.startsWith('.dvc/')) blobs.set(line.slice(0, space), path);
  }
  for (const [blob, path] of blobs) {
    const text = await git.run(['cat-file', 'blob', blob]);
    // A broken pointer in an old commit keeps nothing and stops nothing.
    outs.push(...(() => {
      try {
        return parsePointer(text, path);
      } catch {
        return [];
      }
    })());
  }
  const referenced = new Set(
    (await referencedObjects(outs, (md5) => readCachedManifest(cacheDir, md5).catch(() => []))).map((o: DataObject) => o.md5),
  );
  const removed: GcResult['removed'] = [];
  let kept = 0;
  for (const md5 of await cachedObjects(cacheDir)) {
    if (referenced.has(md5)) {
      kept++;
      continue;
    }
    const path = cacheObjectPath(cacheDir, md5);
    removed.push({ md5, size: (await stat(path)).size });
    if (!options.dryRun) await rm(path, { force: true });
  }
  // A folder's tree of links would keep its removed objects' bytes on disk.
  if (!options.dryRun) await removeTrees(cacheDir, referenced);
  return { dryRun: options.dryRun, kept, removed, removedBytes: removed.reduce((n, r) => n + r.size, 0) };
}

/** Every object in the cache by md5 (".dir" for manifests); unfinished writes (.tmp) are not objects. */
async function cachedObjects(cacheDir: string): Promise<string[]> {
  const base = join(cacheDir, 'files', 'md5');
  const out: string[] = [];
  for (const prefix of await readdir(base).catch(() => [] as string[])) {
    if (!/^[0-9a-f]{2}$/.test(prefix)) continue;
    for (const rest of await readdir(join(base, prefix))) if (/^[0-9a-f]{30}(\.dir)?$/.test(rest)) out.push(prefix + rest);
  }
  return out.sort();
}
