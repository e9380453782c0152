import { createHash } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, posix, relative, sep } from 'node:path';
import { notFound } from '../errors.js';
import { Git } from '../project/git.js';
import { addFileToCache, hasObject, linkFromCache, localCacheDir, readCachedManifest } from './cache.js';
import { isDirMd5, POINTER_SUFFIX, serializePointer, type DirEntry } from './format.js';
import { mapLimit, md5File } from './hash.js';
import { pointersAtCommit } from './pointers.js';
import { dataStatus, largeGitFiles } from './status.js';
import { trackPaths, type TrackedPath } from './track.js';

/** A tracked path a run read or wrote, by content. */
export interface DataRef {
  path: string;
  md5: string;
  size: number;
}

export interface RunData {
  inputs: DataRef[];
  outputs: DataRef[];
}

/** Where a job's inputs are read from: only what the run's sources hold (not earlier runs' outputs). */
const isInput = (path: string) => !path.startsWith('output/') && !path.startsWith('.reprise/');

/**
 * Before a run's snapshot: tracked paths changed in the workspace are tracked again (the run
 * reads, and records, the new version), and files under input/ above `threshold` are tracked
 * instead of going into git. The snapshot then commits the pointers; `untrack` are the data
 * paths it must keep out of git.
 */
export async function trackForRun(root: string, threshold: number): Promise<{ tracked: TrackedPath[]; untrack: string[] }> {
  const status = await dataStatus(root, Number.MAX_SAFE_INTEGER);
  const modified = status.tracked.filter((t) => t.state === 'modified').map((t) => t.path);
  const large = (await largeGitFiles(new Git(root), threshold, 'input')).map((f) => f.path);
  const toTrack = [...modified, ...large];
  const tracked = toTrack.length ? (await trackPaths(root, toTrack)).tracked : [];
  return { tracked, untrack: [...status.tracked.map((t) => t.path), ...large] };
}

/** The tracked inputs of a source commit, as its pointers say. */
export async function dataInputsAt(root: string, commit: string): Promise<DataRef[]> {
  const pointers = await pointersAtCommit(new Git(root), commit);
  return pointers.flatMap((p) => p.outs.filter((o) => isInput(o.dataPath)).map((o) => ({ path: o.dataPath, md5: o.md5, size: o.size })));
}

/**
 * Put a source commit's tracked inputs into the exported sources, from the local cache by digest
 * (hard links where the disk allows: no byte copied), so the job sees them at their project
 * paths whatever the workspace holds now. Returns the paths, which the job must get read-only
 * (they may be the cache's own objects).
 */
export async function stageRunInputs(root: string, commit: string, sourcesDir: string): Promise<string[]> {
  const cacheDir = await localCacheDir(root);
  const inputs = await dataInputsAt(root, commit);
  const files: { md5: string; dest: string; label: string }[] = [];
  for (const input of inputs) {
    const entries: DirEntry[] = isDirMd5(input.md5) ? await readCachedManifest(cacheDir, input.md5) : [{ md5: input.md5, relpath: '' }];
    for (const e of entries) {
      const label = e.relpath ? `${input.path}/${e.relpath}` : input.path;
      if (!(await hasObject(cacheDir, e.md5))) throw notFound(`the run's input ${label} (${e.md5}) is not in the local cache; fetch it (reprise data pull) and run again`);
      files.push({ md5: e.md5, dest: e.relpath ? join(sourcesDir, input.path, e.relpath) : join(sourcesDir, input.path), label });
    }
  }
  await mapLimit(files, 8, (f) => linkFromCache(cacheDir, f.md5, f.dest, ['hardlink', 'copy']));
  return inputs.map((i) => i.path);
}

/**
 * After a run: each collected output file above `threshold` goes into the local cache and is
 * replaced in `outputsDir` by its `.dvc` pointer, so the record commits the pointer, never the
 * bytes. Returns the outputs moved, with `output/` paths, and the `.gitignore` lines per folder.
 */
export async function cacheLargeOutputs(root: string, outputsDir: string, threshold: number): Promise<{ outputs: DataRef[]; ignores: Map<string, string[]> }> {
  const cacheDir = await localCacheDir(root);
  const outputs: DataRef[] = [];
  const ignores = new Map<string, string[]>();
  for (const rel of await walkFiles(outputsDir)) {
    const abs = join(outputsDir, rel);
    const st = await lstat(abs);
    if (!st.isFile() || st.size <= threshold || rel.endsWith(POINTER_SUFFIX)) continue;
    const md5 = await md5File(abs);
    await addFileToCache(cacheDir, abs, md5, true);
    await rm(abs, { force: true });
    const name = posix.basename(rel);
    await writeFile(`${abs}${POINTER_SUFFIX}`, serializePointer({ md5, size: st.size, path: name }));
    const folder = posix.join('output', posix.dirname(rel));
    ignores.set(folder, [...(ignores.get(folder) ?? []), `/${name}`]);
    outputs.push({ path: `output/${rel}`, md5, size: st.size });
  }
  return { outputs, ignores };
}

/** Bring cached outputs into the working tree after their record commit (links or copies, as the project's cache.type says). */
export async function checkoutOutputs(root: string, outputs: DataRef[]): Promise<void> {
  const cacheDir = await localCacheDir(root);
  for (const o of outputs) {
    await mkdir(join(root, posix.dirname(o.path)), { recursive: true });
    await linkFromCache(cacheDir, o.md5, join(root, o.path));
  }
}

/** `.gitignore` text for `folder`: what the branch holds plus `lines` not already there. */
export async function gitignoreWith(root: string, folder: string, lines: string[]): Promise<string> {
  const current = await readFile(join(root, folder, '.gitignore'), 'utf8').catch(() => '');
  const have = new Set(current.split('\n'));
  const added = lines.filter((l) => !have.has(l));
  return current + (current && !current.endsWith('\n') ? '\n' : '') + added.map((l) => `${l}\n`).join('');
}

/** The `Reprise-Data` trailer's value: sha256 of the record's data list as JSON. */
export function dataDigest(data: RunData): string {
  return `sha256:${createHash('sha256').update(JSON.stringify(data)).digest('hex')}`;
}

async function walkFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(d: string): Promise<void> {
    const entries = await readdir(d, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      const full = join(d, e.name);
      if (e.isDirectory()) await walk(full);
      else if (e.isFile()) out.push(relative(dir, full).split(sep).join('/'));
    }
  }
  await walk(dir);
  return out.sort();
}
