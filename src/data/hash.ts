import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { badInput } from '../errors.js';
import { manifestMd5, type DirEntry } from './format.js';

/** md5 of a file, streamed (never the whole file in memory). */
export async function md5File(path: string): Promise<string> {
  const hash = createHash('md5');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

interface StatEntry {
  size: number;
  mtimeNs: string;
  md5: string;
}

/** Where the stat cache lives: .dvc/tmp is git-ignored by DVC's own .dvc/.gitignore. */
export const STAT_CACHE_FILE = '.dvc/tmp/reprise-hashes.json';
/** Folders by path: the digest of their last listing and what it hashed to (small: read on every run). */
const FOLDER_CACHE_FILE = '.dvc/tmp/reprise-folders.json';

interface FolderEntry {
  listing: string;
  md5: string;
  size: number;
}

/**
 * md5s remembered by (device, inode) with the size and mtime they were computed at, so an
 * unchanged file (a 10 GB folder on every run) is not read again; and each folder's manifest md5
 * by the digest of its listing (every file's name, identity, size and mtime), so an unchanged
 * folder of many files costs one listing. Only ever saves time: a cache that cannot be read
 * starts empty. The per-file part is read only when a folder's listing changed.
 */
export class StatCache {
  private dirty = false;
  private foldersDirty = false;
  private entries?: Map<string, StatEntry>;
  /** How many files were actually read (tests and benchmarks look at it). */
  hashedFiles = 0;

  private constructor(
    private readonly file: string,
    private readonly folderFile: string,
    private readonly folders: Map<string, FolderEntry>,
  ) {}

  static async open(root: string): Promise<StatCache> {
    const folderFile = join(root, FOLDER_CACHE_FILE);
    const folders = await readJson<FolderEntry>(folderFile);
    return new StatCache(join(root, STAT_CACHE_FILE), folderFile, new Map(Object.entries(folders)));
  }

  /** The per-file entries, read on first need. */
  async load(): Promise<void> {
    this.entries ??= new Map(Object.entries(await readJson<StatEntry>(this.file)));
  }

  async md5(path: string): Promise<{ md5: string; size: number }> {
    const st = await lstat(path, { bigint: true });
    return this.md5Stated(path, { key: `${st.dev}:${st.ino}`, size: Number(st.size), mtimeNs: String(st.mtimeNs) });
  }

  /** As md5(), with the file's identity, size and mtime already known (FileStat). */
  async md5Stated(path: string, st: FileStat): Promise<{ md5: string; size: number }> {
    await this.load();
    const hit = this.known(st);
    if (hit) return hit;
    const md5 = await md5File(path);
    this.hashedFiles++;
    this.entries!.set(st.key, { size: st.size, mtimeNs: st.mtimeNs, md5 });
    this.dirty = true;
    return { md5, size: st.size };
  }

  /** The md5 remembered for a file as it is now, if any (nothing read); load() first. */
  known(st: FileStat): { md5: string; size: number } | undefined {
    const hit = this.entries?.get(st.key);
    return hit && hit.size === st.size && hit.mtimeNs === st.mtimeNs ? { md5: hit.md5, size: hit.size } : undefined;
  }

  /** Note the md5 of a file just linked from the cache object it names (nothing to read). */
  async remember(path: string, md5: string): Promise<void> {
    await this.load();
    const st = await lstat(path, { bigint: true });
    this.entries!.set(`${st.dev}:${st.ino}`, { size: Number(st.size), mtimeNs: String(st.mtimeNs), md5 });
    this.dirty = true;
  }

  /** The folder at `path` as it hashed when its listing had digest `listing`. */
  folder(path: string, listing: string): { md5: string; size: number } | undefined {
    const hit = this.folders.get(path);
    return hit?.listing === listing ? { md5: hit.md5, size: hit.size } : undefined;
  }

  rememberFolder(path: string, entry: FolderEntry): void {
    this.folders.set(path, entry);
    this.foldersDirty = true;
  }

  async save(): Promise<void> {
    if (this.dirty && this.entries) await writeJson(this.file, this.entries);
    if (this.foldersDirty) await writeJson(this.folderFile, this.folders);
    this.dirty = this.foldersDirty = false;
  }
}

async function readJson<T>(file: string): Promise<Record<string, T>> {
  return readFile(file, 'utf8')
    .then((t) => JSON.parse(t) as Record<string, T>)
    .catch(() => ({}));
}

async function writeJson(file: string, entries: Map<string, unknown>): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await mkdir(join(file, '..'), { recursive: true });
  await writeFile(tmp, JSON.stringify(Object.fromEntries(entries)));
  await rename(tmp, file);
}

export type HashedPath =
  | { kind: 'file'; md5: string; size: number }
  | { kind: 'dir'; md5: string; size: number; nfiles: number; files: (DirEntry & { size: number })[] };

/** Folders DVC never looks into inside a tracked folder. */
const IGNORED_NAMES = new Set(['.git', '.hg', '.dvc']);

/**
 * Hash a file, or a folder as DVC does (each file's md5, then the manifest's). A symlink, or
 * anything but files and folders, is refused: data must be bytes we can address. `label` names
 * the path in errors, relative to the project.
 */
export async function hashPath(abs: string, label: string, cache: StatCache): Promise<HashedPath> {
  const st = await lstat(abs);
  if (st.isFile()) return { kind: 'file', ...(await cache.md5(abs)) };
  if (!st.isDirectory()) throw badInput(`${label} is not a regular file or folder; give files or folders to track`);
  const listing = await findListing(abs);
  const hashed = listing !== undefined ? await hashStated(abs, parseListing(listing, label), cache) : await mapLimit(await listFiles(abs, label), 8, async (relpath) => ({ relpath, ...(await cache.md5(join(abs, relpath))) }));
  const folder = { md5: manifestMd5(hashed), size: hashed.reduce((n, f) => n + f.size, 0) };
  if (listing !== undefined) cache.rememberFolder(abs, { listing: listingDigest(listing), ...folder });
  return { kind: 'dir', ...folder, nfiles: hashed.length, files: hashed };
}

/**
 * What hashPath would say a file or folder hashes to, without its files: a folder whose listing
 * is as it was last hashed (no file added, removed, renamed, or rewritten: each one's identity,
 * size and mtime are in the listing) answers from the stat cache without reading it.
 */
export async function digestPath(abs: string, label: string, cache: StatCache): Promise<{ md5: string; size: number }> {
  if ((await lstat(abs)).isDirectory()) {
    const listing = await findListing(abs);
    const hit = listing !== undefined && cache.folder(abs, listingDigest(listing));
    if (hit) return hit;
  }
  const { md5, size } = await hashPath(abs, label, cache);
  return { md5, size };
}

const listingDigest = (listing: string) => createHash('md5').update(listing).digest('hex');

/** Unchanged files (most, on every run) answered at once from the cache; only the others are read. */
async function hashStated(dir: string, stated: (FileStat & { relpath: string })[], cache: StatCache): Promise<(DirEntry & { size: number })[]> {
  await cache.load();
  const hashed: (DirEntry & { size: number })[] = [];
  const changed: number[] = [];
  for (const [i, f] of stated.entries()) {
    const hit = cache.known(f);
    if (hit) hashed[i] = { relpath: f.relpath, ...hit };
    else changed.push(i);
  }
  await mapLimit(changed, 8, async (i) => {
    const { relpath, ...st } = stated[i]!;
    hashed[i] = { relpath, ...(await cache.md5Stated(join(dir, relpath), st)) };
  });
  return hashed;
}

/** A file's identity (device:inode), size and mtime in nanoseconds, as the stat cache keys and checks them. */
export interface FileStat {
  key: string;
  size: number;
  mtimeNs: string;
}

/**
 * Every entry under `dir` (type, identity, size, mtime, path), from one GNU `find`: it walks and
 * stats in C, about five times faster than a walk here, and a run checks every tracked file.
 * Undefined where find has no -printf (BSD): the caller walks here.
 */
async function findListing(dir: string): Promise<string | undefined> {
  const pruned = [...IGNORED_NAMES].flatMap((n, i) => [...(i ? ['-o'] : []), '-name', n]);
  const args = [dir, '-mindepth', '1', '(', '-type', 'd', '(', ...pruned, ')', '-prune', ')', '-o', '-printf', '%y\\t%D\\t%i\\t%s\\t%T@\\t%P\\0'];
  return new Promise<string | undefined>((resolve) => {
    execFile('find', args, { maxBuffer: 1 << 30, encoding: 'utf8' }, (err, stdout) => resolve(err ? undefined : stdout));
  });
}

/** listFiles from a findListing, with each file's FileStat; symlinks and specials refused by name. */
function parseListing(listing: string, label: string): (FileStat & { relpath: string })[] {
  const out: (FileStat & { relpath: string })[] = [];
  for (const line of listing.split('\0')) {
    if (!line) continue;
    const [type, dev, ino, size, mtime, ...rest] = line.split('\t');
    const relpath = rest.join('\t');
    if (type === 'd') continue;
    if (type !== 'f') throw badInput(`${label}/${relpath} is a ${type === 'l' ? 'symlink' : 'special file'}; data can hold regular files only: replace it with the file itself or remove it`);
    // "%T@" is seconds.fraction: the nanoseconds are its digits run together, as lstat's mtimeNs prints them.
    const [sec = '', frac = ''] = mtime!.split('.');
    const mtimeNs = `${sec}${frac.padEnd(9, '0').slice(0, 9)}`.replace(/^0+(?=\d)/, '');
    out.push({ relpath, key: `${dev}:${ino}`, size: Number(size), mtimeNs });
  }
  return out;
}

/** Regular files under `dir`, "/"-separated relative paths; symlinks and specials refused by name. */
export async function listFiles(dir: string, label: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(d: string): Promise<void> {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const full = join(d, e.name);
      const rel = relative(dir, full).split(sep).join('/');
      if (e.isDirectory()) {
        if (!IGNORED_NAMES.has(e.name)) await walk(full);
      } else if (e.isFile()) out.push(rel);
      else throw badInput(`${label}/${rel} is a ${e.isSymbolicLink() ? 'symlink' : 'special file'}; data can hold regular files only: replace it with the file itself or remove it`);
    }
  }
  await walk(dir);
  return out;
}

/** Map with at most `limit` calls in flight, results in input order. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
