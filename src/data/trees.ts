import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { notFound } from '../errors.js';
import { hasObject, linkFromCache, readCachedManifest } from './cache.js';
import { mapLimit } from './hash.js';

/**
 * A tracked folder laid out as its project path shows it, one tree per folder manifest, of hard
 * links to the cache's objects, built once and kept beside them: a backend on this machine mounts
 * the tree read-only, so a run with the same folder version links nothing again. Complete or
 * absent: a tree is built aside and renamed into place.
 */
const TREES = join('reprise', 'trees');

/** A project path a job reads, and the data cache's file or folder tree it is mounted from. */
export interface DataMount {
  path: string;
  source: string;
}

/** Where the tree of folder manifest `md5` (with its ".dir" suffix) lives under `cacheDir`. */
export const treePath = (cacheDir: string, md5: string): string => join(cacheDir, TREES, md5.replace(/\.dir$/, ''));

export async function hasTree(cacheDir: string, md5: string): Promise<boolean> {
  return stat(treePath(cacheDir, md5)).then((s) => s.isDirectory(), () => false);
}

/** The tree of folder `md5` (label: its project path, for errors), made from the cache when absent. */
export async function ensureTree(cacheDir: string, md5: string, label: string): Promise<string> {
  const dest = treePath(cacheDir, md5);
  if (await hasTree(cacheDir, md5)) return dest;
  const entries = await readCachedManifest(cacheDir, md5);
  const tmp = `${dest}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
  try {
    // Every link settles before a failure is thrown, so none lands after the cleanup below.
    const failures = await mapLimit(entries, 8, async (e) =>
      // Hard links where the disk allows (the objects are read-only); the tree is never the user's to edit.
      linkFromCache(cacheDir, e.md5, join(tmp, ...e.relpath.split('/')), ['hardlink', 'copy']).then(
        () => undefined,
        async (err: unknown) => ((await hasObject(cacheDir, e.md5)) ? err : notFound(`the run's input ${label}/${e.relpath} (${e.md5}) is not in the local cache; fetch it (reprise data pull) and run again`)),
      ),
    );
    const failed = failures.find((f) => f !== undefined);
    if (failed) throw failed;
    // An empty folder is a tree too.
    if (!entries.length) await mkdir(tmp, { recursive: true });
    await rename(tmp, dest).catch(async (err: NodeJS.ErrnoException) => {
      // Built meanwhile by another run: that one is as good.
      if ((err.code === 'ENOTEMPTY' || err.code === 'EEXIST') && (await hasTree(cacheDir, md5))) return;
      throw err;
    });
    return dest;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Remove the trees of folder manifests not in `keep` (their links would hold removed objects' bytes on disk); unfinished ones too. */
export async function removeTrees(cacheDir: string, keep: ReadonlySet<string>): Promise<void> {
  const dir = join(cacheDir, TREES);
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!keep.has(`${name}.dir`)) await rm(join(dir, name), { recursive: true, force: true });
  }
}
