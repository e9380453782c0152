import { readdir, rm, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { Git } from '../project/git.js';
import { backendUnavailable, errorMessage, notFound } from '../errors.js';
import { cacheObjectPath, hasObject, localCacheDir, readCachedManifest } from './cache.js';
import { parsePointer, POINTER_SUFFIX, referencedObjects, type DataObject, type DirEntry, type PointerOut } from './format.js';
import { workspacePointers } from './pointers.js';
import { md5OfKey } from './store/location.js';
import type { S3Store } from './store/s3-store.js';
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
  const cacheDir = await localCacheDir(root);
  // A folder whose manifest is not here keeps nothing here: its files are not here either, or the
  // store has them.
  const referenced = await referencedMd5s(root, (md5) => readCachedManifest(cacheDir, md5).catch(() => []));
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

export interface RemoteGcResult extends GcResult {
  store: string;
  /** Unreferenced, but newer than the grace period: kept. */
  recent: number;
  /** Unfinished multipart uploads older than the grace period, dropped with their parts. */
  aborted: number;
}

/**
 * Remove from the project's data store every object no pointer references (as collectGarbage
 * decides, with every branch the git remotes have, fetched first) and older than `graceMs`, and
 * drop unfinished multipart uploads older than that (a worker killed mid-upload leaves one). The
 * grace period matters: a collaborator's sync sends its objects before its commits, so for a
 * while the store holds objects no commit anyone can see points to yet. A folder manifest that
 * can be read neither here nor from the store stops everything before anything is deleted.
 */
export async function collectRemoteGarbage(root: string, store: S3Store, options: { dryRun: boolean; graceMs: number; now?: Date }): Promise<RemoteGcResult> {
  const git = new Git(root);
  // Branches only the remotes know (a teammate's) point to objects too.
  if ((await git.run(['remote'])).trim()) {
    await git.run(['fetch', '--all', '--quiet']).catch((err: unknown) => {
      throw backendUnavailable(`could not fetch every branch from the project's git remotes (${errorMessage(err)}); nothing was deleted. Fix the remote or remove it, then run data gc --remote again`);
    });
  }
  const cacheDir = await localCacheDir(root);
  const referenced = await referencedMd5s(root, async (md5) => {
    if (!(await hasObject(cacheDir, md5))) {
      await store.download([{ md5, label: 'folder manifest', dest: cacheObjectPath(cacheDir, md5) }]).catch((err: unknown) => {
        throw notFound(`the folder manifest ${md5} is in neither the local cache nor ${store.url} (${errorMessage(err)}); nothing was deleted: the files it lists cannot be told apart from garbage`);
      });
    }
    return readCachedManifest(cacheDir, md5);
  });
  const cutoff = (options.now ?? new Date()).getTime() - options.graceMs;
  const removed: GcResult['removed'] = [];
  let kept = 0;
  let recent = 0;
  for (const o of await store.listObjects()) {
    if (referenced.has(o.md5)) kept++;
    else if (o.lastModified.getTime() > cutoff) recent++;
    else removed.push({ md5: o.md5, size: o.size });
  }
  const stale = (await store.pendingUploads()).filter((u) => (u.initiated?.getTime() ?? 0) <= cutoff && md5OfKey(store.config.location, u.key));
  if (!options.dryRun) {
    await store.deleteObjects(removed.map((r) => r.md5));
    for (const u of stale) await store.abortMultipart(md5OfKey(store.config.location, u.key)!, u.uploadId);
  }
  return { dryRun: options.dryRun, store: store.url, kept, recent, removed, removedBytes: removed.reduce((n, r) => n + r.size, 0), aborted: stale.length };
}

/** Every object a pointer references, in any commit reachable from any ref or in the working tree; folders through their manifests. */
async function referencedMd5s(root: string, loadManifest: (md5: string) => Promise<DirEntry[]>): Promise<Set<string>> {
  const git = new Git(root);
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
  return new Set((await referencedObjects(outs, loadManifest)).map((o: DataObject) => o.md5));
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
