import { lstat, writeFile } from 'node:fs/promises';
import { isAbsolute, join, posix, relative, resolve, sep } from 'node:path';
import { badInput } from '../errors.js';
import { commitWorkspaceFiles } from '../project/commit-files.js';
import { Git } from '../project/git.js';
import { addFileToCache, addManifestToCache, linkFromCache, linkTypes, localCacheDir } from './cache.js';
import { ensureDvcRepository } from './dvc-config.js';
import { POINTER_SUFFIX, serializePointer } from './format.js';
import { ignoreTrackedPath } from './gitignore.js';
import { hashPath, mapLimit, StatCache, type HashedPath } from './hash.js';
import { workspacePointers } from './pointers.js';

/** Folders that are git's, DVC's or Reprise's own: never data. */
const RESERVED = new Set(['.git', '.dvc', '.reprise']);

export interface TrackedPath {
  /** Project-relative, "/"-separated. */
  path: string;
  pointer: string;
  md5: string;
  size: number;
  nfiles?: number;
}

export interface TrackResult {
  tracked: TrackedPath[];
  /** Files git must hold now (pointers, .gitignore files, DVC's own files), project-relative. */
  gitFiles: string[];
}

/**
 * The project-relative path of `abs`, refused in one line unless it is an existing file or folder
 * inside the project, reached without symlinks, outside git's/DVC's/Reprise's folders.
 */
export async function dataPathOf(root: string, abs: string, shown: string): Promise<string> {
  const rel = relative(root, abs);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) throw badInput(`${shown} is outside the project ${root}; give a path inside it`);
  const parts = rel.split(sep);
  if (RESERVED.has(parts[0]!)) throw badInput(`${shown} is inside ${parts[0]}/, which holds no data; give a path under input/, output/ or code/`);
  if (rel.endsWith(POINTER_SUFFIX)) throw badInput(`${shown} is a pointer file; give the data path it tracks`);
  for (let i = 1; i <= parts.length; i++) {
    const st = await lstat(join(root, ...parts.slice(0, i))).catch(() => undefined);
    if (!st) throw badInput(`${shown} does not exist; give an existing file or folder`);
    if (st.isSymbolicLink()) throw badInput(`${parts.slice(0, i).join('/')} is a symlink; track the file or folder itself, not a link to it`);
  }
  return parts.join('/');
}

/**
 * Track project paths as DVC does: hash everything first (so a refusal changes nothing), then
 * move the bytes into the cache, link them back, write `<path>.dvc` and ignore the path in git.
 */
export async function trackPaths(root: string, dataPaths: string[]): Promise<TrackResult> {
  const existing = (await workspacePointers(new Git(root))).flatMap((p) => p.outs.map((o) => o.dataPath));
  for (const p of dataPaths) {
    const outer = existing.find((d) => p.startsWith(`${d}/`));
    if (outer) throw badInput(`${p} is inside the tracked folder ${outer}; track the folder again (reprise data add ${outer}) to record changes in it`);
    const inner = existing.find((d) => d.startsWith(`${p}/`));
    if (inner) throw badInput(`${p} holds ${inner}, which is tracked on its own; track ${inner} and its neighbours separately`);
  }
  const stats = await StatCache.open(root);
  const hashed: [string, HashedPath][] = [];
  for (const p of [...new Set(dataPaths)]) hashed.push([p, await hashPath(join(root, p), p, stats)]);

  const cacheDir = await localCacheDir(root);
  const types = await linkTypes(root);
  // With hard links the workspace file becomes the cache object; otherwise it stays as it is and the cache gets a copy (or a clone).
  const place = async (abs: string, md5: string) => {
    if (types[0] !== 'hardlink') return void (await addFileToCache(cacheDir, abs, md5, false));
    await addFileToCache(cacheDir, abs, md5, true);
    await linkFromCache(cacheDir, md5, abs, types);
    await stats.remember(abs, md5);
  };
  const gitFiles = new Set(await ensureDvcRepository(root));
  const tracked: TrackedPath[] = [];
  for (const [p, h] of hashed) {
    const abs = join(root, p);
    if (h.kind === 'file') {
      await place(abs, h.md5);
    } else {
      await mapLimit(h.files, 8, (f) => place(join(abs, f.relpath), f.md5));
      await addManifestToCache(cacheDir, h.md5, h.files);
    }
    const pointer = `${p}${POINTER_SUFFIX}`;
    const nfiles = h.kind === 'dir' ? h.nfiles : undefined;
    await writeFile(join(root, pointer), serializePointer({ md5: h.md5, size: h.size, nfiles, path: posix.basename(p) }));
    gitFiles.add(pointer);
    gitFiles.add(await ignoreTrackedPath(root, p));
    tracked.push({ path: p, pointer, md5: h.md5, size: h.size, ...(nfiles !== undefined ? { nfiles } : {}) });
  }
  await stats.save();
  return { tracked, gitFiles: [...gitFiles] };
}

/** `reprise data add`: validate every path (cwd-relative as the user typed them), track them, commit pointers and .gitignore files. */
export async function addData(root: string, cwd: string, paths: string[]): Promise<TrackResult & { commit?: string }> {
  const dataPaths: string[] = [];
  for (const p of paths) dataPaths.push(await dataPathOf(root, resolve(cwd, p), p));
  const result = await trackPaths(root, dataPaths);
  const commit = await commitWorkspaceFiles(root, result.gitFiles, dataPaths, trackMessage(result.tracked));
  return { ...result, ...(commit ? { commit } : {}) };
}

export function trackMessage(tracked: TrackedPath[]): string {
  const names = tracked.map((t) => t.path).join(', ');
  const subject = `Track data: ${names.length > 60 ? `${names.slice(0, 57)}...` : names}`;
  return `${subject}\n\n${tracked.map((t) => `${t.path}: ${t.md5} (${t.size} bytes${t.nfiles !== undefined ? `, ${t.nfiles} files` : ''})`).join('\n')}\n`;
}
