import { constants } from 'node:fs';
import { chmod, copyFile, link, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import { notFound } from '../errors.js';
import { Git } from '../project/git.js';
import { DVC_DIR, parseIni, readDvcConfig } from './dvc-config.js';
import { isDirMd5, manifestBytes, parseManifest, referencedObjects, type DataObject, type DirEntry } from './format.js';
import { pointersAtCommit } from './pointers.js';

/**
 * The local content-addressed cache, laid out as DVC 3's (`files/md5/<2 hex>/<30 hex>`, folder
 * manifests with their ".dir" suffix), at the place DVC uses, so DVC and Reprise share it.
 * Objects are written atomically and made read-only: a workspace hard link must not edit them.
 */

export const DEFAULT_CACHE_DIR = '.dvc/cache';

/** The path of the object `md5` (a file's md5, or a manifest's with ".dir") under `cacheDir`. */
export function cacheObjectPath(cacheDir: string, md5: string): string {
  return join(cacheDir, 'files', 'md5', md5.slice(0, 2), md5.slice(2));
}

/** A value of the user's own `.dvc/config.local` (git-ignored), which overrides `.dvc/config`. */
async function localConfigValue(root: string, section: string, key: string): Promise<string | undefined> {
  return readFile(join(root, DVC_DIR, 'config.local'), 'utf8').then((t) => parseIni(t, '.dvc/config.local').get(section, key), () => undefined);
}

/** The project's cache folder: DVC's `cache.dir` (config.local over config, relative to .dvc/), else .dvc/cache. */
export async function localCacheDir(root: string): Promise<string> {
  const dir = (await localConfigValue(root, 'cache', 'dir')) ?? (await readDvcConfig(root)).get('cache', 'dir');
  if (!dir) return join(root, DEFAULT_CACHE_DIR);
  return isAbsolute(dir) ? dir : join(root, DVC_DIR, dir);
}

export async function hasObject(cacheDir: string, md5: string): Promise<boolean> {
  return stat(cacheObjectPath(cacheDir, md5)).then(
    () => true,
    () => false,
  );
}

/**
 * Put the file `src` (whose md5 the caller computed) into the cache: moved when `move` (a rename
 * on the same disk), else copied; a present object is kept. Returns the object's path.
 */
export async function addFileToCache(cacheDir: string, src: string, md5: string, move: boolean): Promise<string> {
  const dest = cacheObjectPath(cacheDir, md5);
  if (await hasObject(cacheDir, md5)) return dest;
  await mkdir(dirname(dest), { recursive: true });
  const tmp = `${dest}.${process.pid}.tmp`;
  try {
    if (move) await rename(src, tmp);
    else await copyFile(src, tmp, constants.COPYFILE_FICLONE);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    await copyFile(src, tmp);
  }
  await chmod(tmp, 0o444);
  await rename(tmp, dest);
  return dest;
}

/** Put a folder's manifest into the cache (its bytes as DVC hashed them). */
export async function addManifestToCache(cacheDir: string, md5: string, entries: DirEntry[]): Promise<void> {
  if (await hasObject(cacheDir, md5)) return;
  const dest = cacheObjectPath(cacheDir, md5);
  await mkdir(dirname(dest), { recursive: true });
  const tmp = `${dest}.${process.pid}.tmp`;
  await writeFile(tmp, manifestBytes(entries), { mode: 0o444 });
  await rename(tmp, dest);
}

/** A folder's manifest from the cache; a missing one says how to get it. */
export async function readCachedManifest(cacheDir: string, md5: string): Promise<DirEntry[]> {
  const path = cacheObjectPath(cacheDir, md5);
  const bytes = await readFile(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') throw notFound(`the folder manifest ${md5} is not in the local cache ${cacheDir}; fetch the data first (reprise data pull)`);
    throw err;
  });
  return parseManifest(bytes, path);
}

/** How workspace files are made from cache objects, in order of preference (DVC's `cache.type`). */
export type LinkType = 'reflink' | 'hardlink' | 'copy';
/** DVC's default: a copy-on-write clone where the file system can, else a copy; never a shared inode a write could corrupt. */
export const DEFAULT_LINK_TYPES: LinkType[] = ['reflink', 'copy'];

/** The project's `cache.type` (e.g. "hardlink,copy"; config.local over config, as DVC reads it), its unknown kinds (symlink) left out. */
export async function linkTypes(root: string): Promise<LinkType[]> {
  const value = (await localConfigValue(root, 'cache', 'type')) ?? (await readDvcConfig(root)).get('cache', 'type');
  const types = (value ?? '').split(',').map((t) => t.trim()).filter((t): t is LinkType => t === 'reflink' || t === 'hardlink' || t === 'copy');
  return types.length ? types : DEFAULT_LINK_TYPES;
}

/**
 * Make `dest` the cached object `md5`, with the first link type that works (a hard link shares
 * the read-only object; copies are the user's to edit). Replaces `dest` atomically. Returns how.
 */
export async function linkFromCache(cacheDir: string, md5: string, dest: string, types: LinkType[] = DEFAULT_LINK_TYPES): Promise<LinkType> {
  const src = cacheObjectPath(cacheDir, md5);
  const srcStat = await stat(src).catch(() => {
    throw notFound(`${md5} is not in the local cache ${cacheDir}; fetch the data first (reprise data pull)`);
  });
  const destStat = await stat(dest).catch(() => undefined);
  // Already that very object: rename() between two links of one inode would do nothing.
  if (destStat && destStat.ino === srcStat.ino && destStat.dev === srcStat.dev) return 'hardlink';
  await mkdir(dirname(dest), { recursive: true });
  const tmp = `${dest}.reprise-${process.pid}.tmp`;
  for (const type of types) {
    await rm(tmp, { force: true });
    try {
      if (type === 'hardlink') await link(src, tmp);
      else {
        await copyFile(src, tmp, type === 'reflink' ? constants.COPYFILE_FICLONE_FORCE : 0);
        await chmod(tmp, 0o644);
      }
    } catch {
      continue;
    }
    await rename(tmp, dest);
    return type;
  }
  throw new Error(`could not place ${dest} from the cache with ${types.join(', ')}`);
}

/** Every object the commit's pointers reference, folder manifests read from the local cache (see format.referencedObjects). */
export async function objectsAtCommit(root: string, commit: string): Promise<DataObject[]> {
  const cacheDir = await localCacheDir(root);
  const pointers = await pointersAtCommit(new Git(root), commit);
  const objects = await referencedObjects(
    pointers.flatMap((p) => p.outs),
    (md5) => readCachedManifest(cacheDir, md5),
  );
  // Sizes a manifest does not carry are known when the object is here.
  for (const o of objects) if (o.size === undefined && !isDirMd5(o.md5)) o.size = await stat(cacheObjectPath(cacheDir, o.md5)).then((s) => s.size, () => undefined);
  return objects;
}
