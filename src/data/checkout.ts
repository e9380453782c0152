import { lstat, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { badInput, notFound } from '../errors.js';
import { Git } from '../project/git.js';
import { hasObject, linkFromCache, linkTypes, localCacheDir, readCachedManifest } from './cache.js';
import { isDirMd5, type DirEntry } from './format.js';
import { mapLimit, StatCache } from './hash.js';
import { workspacePointers } from './pointers.js';

export interface CheckoutResult {
  /** Tracked paths whose files were (re)linked from the cache. */
  restored: string[];
  unchanged: string[];
}

interface FileToPlace {
  abs: string;
  label: string;
  md5: string;
}

/**
 * Make the workspace match every pointer, from the local cache. Checked first, changed after:
 * a file edited since it was tracked is refused unless `force` (the edit would be lost), and an
 * object the cache lacks is named, with nothing changed.
 */
export async function checkoutData(root: string, options: { force?: boolean; paths?: string[] } = {}): Promise<CheckoutResult> {
  const cacheDir = await localCacheDir(root);
  const types = await linkTypes(root);
  const stats = await StatCache.open(root);
  const plan = new Map<string, FileToPlace[]>();
  const unchanged: string[] = [];
  for (const pointer of await workspacePointers(new Git(root))) {
    for (const out of pointer.outs) {
      if (options.paths && !options.paths.some((p) => out.dataPath === p || out.dataPath.startsWith(`${p}/`) || p.startsWith(`${out.dataPath}/`))) continue;
      const entries: DirEntry[] = isDirMd5(out.md5) ? await readCachedManifest(cacheDir, out.md5) : [{ md5: out.md5, relpath: '' }];
      const files: FileToPlace[] = [];
      for (const e of entries) {
        const abs = e.relpath ? join(root, out.dataPath, e.relpath) : join(root, out.dataPath);
        const label = e.relpath ? `${out.dataPath}/${e.relpath}` : out.dataPath;
        // A path inside a tracked folder restores only that part of it (a partial data pull).
        if (options.paths && !options.paths.some((p) => label === p || label.startsWith(`${p}/`) || out.dataPath.startsWith(`${p}/`))) continue;
        const st = await lstat(abs).catch(() => undefined);
        if (st?.isFile() && (await stats.md5(abs)).md5 === e.md5) continue;
        if (st && !options.force) throw badInput(`${label} was changed since it was tracked; track the change (reprise data add ${out.dataPath}) or discard it: reprise data checkout --force`);
        if (!(await hasObject(cacheDir, e.md5))) throw notFound(`${label} (${e.md5}) is not in the local cache; fetch it first (reprise data pull), nothing was changed`);
        files.push({ abs, label, md5: e.md5 });
      }
      if (files.length) plan.set(out.dataPath, files);
      else unchanged.push(out.dataPath);
    }
  }
  for (const files of plan.values()) {
    await mapLimit(files, 8, async (f) => {
      // A folder standing where a file belongs (or the reverse) goes, as in git checkout --force.
      if ((await lstat(f.abs).catch(() => undefined))?.isDirectory()) await rm(f.abs, { recursive: true, force: true });
      await linkFromCache(cacheDir, f.md5, f.abs, types);
      await stats.remember(f.abs, f.md5);
    });
  }
  await stats.save();
  return { restored: [...plan.keys()], unchanged };
}
