import { lstat, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join, posix, relative, sep } from 'node:path';
import { notFound } from '../errors.js';
import { commitMemo } from '../project/commit-memo.js';
import { Git } from '../project/git.js';
import { addFileToCache, cacheObjectPath, hasObject, linkFromCache, localCacheDir, readCachedManifest } from './cache.js';
import { isDirMd5, parsePointer, POINTER_SUFFIX, serializePointer, type DirEntry } from './format.js';
import { mapLimit, md5File } from './hash.js';
import { pointersAtCommit } from './pointers.js';
import { formatBytes } from './size.js';
import { largeGitFiles, trackedStatus } from './status.js';
import { trackPaths, type TrackedPath } from './track.js';
import { ensureTree, hasTree, type DataMount } from './trees.js';
import type { DataRef } from '../project/run-record.js';
import { openStore, readDataRemote, requireDataRemote } from './store/remote.js';
import type { S3Store } from './store/s3-store.js';

export type { DataRef };


/** Where a job's inputs are read from: only what the run's sources hold (not earlier runs' outputs). */
const isInput = (path: string) => !path.startsWith('output/') && !path.startsWith('.reprise/');

/**
 * Before a run's snapshot: tracked paths changed in the workspace are tracked again (the run
 * reads, and records, the new version), and files under input/ above `threshold` are tracked
 * instead of going into git. The snapshot then commits the pointers; `untrack` are the data
 * paths it must keep out of git.
 */
export async function trackForRun(root: string, threshold: number): Promise<{ tracked: TrackedPath[]; untrack: string[] }> {
  const tracked = await trackedStatus(root);
  const modified = tracked.filter((t) => t.state === 'modified').map((t) => t.path);
  const large = (await largeGitFiles(new Git(root), threshold, 'input')).map((f) => f.path);
  const toTrack = [...modified, ...large];
  return { tracked: toTrack.length ? (await trackPaths(root, toTrack)).tracked : [], untrack: [...tracked.map((t) => t.path), ...large] };
}

/** The one line that says a path went into the data cache instead of git. */
export const trackedNotice = (t: TrackedPath): string => `tracked ${t.path} as data (${formatBytes(t.size)}, ${t.md5}): its pointer ${t.pointer} goes into git, the bytes into the cache`;

/** The tracked inputs of a source commit, as its pointers say. */
export function dataInputsAt(root: string, commit: string): Promise<DataRef[]> {
  return dataInputsOf(commit, async () => {
    const pointers = await pointersAtCommit(new Git(root), commit);
    return pointers.flatMap((p) => p.outs.filter((o) => isInput(o.dataPath)).map((o) => ({ path: o.dataPath, md5: o.md5, size: o.size })));
  });
}
const dataInputsOf = commitMemo<DataRef[]>();

/** One tracked input file a run reads: its project path, object and size. */
export interface RunInputFile {
  path: string;
  md5: string;
  size: number;
}

/**
 * The source commit's tracked inputs missing from the local cache, fetched from the project's
 * data store (manifests first: they name a folder's files), each verified by md5 on arrival.
 * A team worker's cache of the published project starts empty: its runs read the data from the
 * store, never from the submitter's disk; a fresh clone runs without a `data pull` first.
 * Returns the objects fetched.
 */
export async function fetchRunInputs(root: string, commit: string, options: { remoteRequired: boolean; trees?: boolean } = { remoteRequired: true }): Promise<number> {
  const inputs = await dataInputsAt(root, commit);
  if (!inputs.length) return 0;
  const cacheDir = await localCacheDir(root);
  let store: S3Store | undefined;
  const fetch = async (items: { md5: string; label: string }[]) => {
    const missing = new Map<string, string>();
    for (const i of items) if (!missing.has(i.md5) && !(await hasObject(cacheDir, i.md5))) missing.set(i.md5, i.label);
    if (!missing.size) return 0;
    // Without a remote there is nowhere to fetch from: the staging that follows says what is missing.
    if (!options.remoteRequired && !(await readDataRemote(root, commit))) return 0;
    store ??= openStore(await requireDataRemote(root, commit));
    await store.download([...missing].map(([md5, label]) => ({ md5, label, dest: cacheObjectPath(cacheDir, md5) })));
    return missing.size;
  };
  try {
    let fetched = await fetch(inputs.filter((i) => isDirMd5(i.md5)).map((i) => ({ md5: i.md5, label: i.path })));
    const files: { md5: string; label: string }[] = [];
    for (const i of inputs) {
      if (!isDirMd5(i.md5)) files.push({ md5: i.md5, label: i.path });
      // A folder whose tree is built needs none of its objects again: the run reads the tree (mountRunInputs).
      else if (!(options.trees && (await hasTree(cacheDir, i.md5)))) for (const e of await readCachedManifest(cacheDir, i.md5)) files.push({ md5: e.md5, label: `${i.path}/${e.relpath}` });
    }
    fetched += await fetch(files);
    return fetched;
  } finally {
    store?.destroy();
  }
}

/**
 * Cached objects sent to the project's data store, what it holds already left out (a retried
 * step sends nothing twice): before a commit that points at them is published. Returns the bytes sent.
 */
export async function pushCachedObjects(root: string, refs: DataRef[], commit?: string, options: { signal?: AbortSignal; onBytes?: (bytes: number) => void } = {}): Promise<number> {
  if (!refs.length) return 0;
  const cacheDir = await localCacheDir(root);
  const store = openStore(await requireDataRemote(root, commit));
  try {
    const unique = [...new Map(refs.map((r) => [r.md5, r])).values()];
    const held = await store.has(unique.map((r) => r.md5));
    const sent = await store.upload(
      unique.filter((r) => !held.has(r.md5)).map((r) => ({ md5: r.md5, size: r.size, path: cacheObjectPath(cacheDir, r.md5) })),
      options,
    );
    return sent.sent;
  } finally {
    store.destroy();
  }
}

/**
 * Put a source commit's tracked inputs into the exported sources, from the local cache by digest
 * (hard links where the disk allows: no byte copied), so the job sees them at their project
 * paths whatever the workspace holds now. Returns the paths, which the job must get read-only
 * (they may be the cache's own objects), every file with its object, for a backend that
 * stages them by digest itself, and the tracked folders with their manifests' md5s. Without `sourcesDir` nothing is linked (a backend that stages by digest only).
 */
export async function stageRunInputs(root: string, commit: string, sourcesDir: string | undefined): Promise<{ paths: string[]; files: RunInputFile[]; folders: DataRef[] }> {
  const cacheDir = await localCacheDir(root);
  const inputs = await dataInputsAt(root, commit);
  const files: (RunInputFile & { dest: string })[] = [];
  for (const input of inputs) {
    const entries: DirEntry[] = isDirMd5(input.md5) ? await readCachedManifest(cacheDir, input.md5) : [{ md5: input.md5, relpath: '' }];
    for (const e of entries) {
      const path = e.relpath ? `${input.path}/${e.relpath}` : input.path;
      const size = await stat(cacheObjectPath(cacheDir, e.md5)).then((s) => s.size, () => undefined);
      if (size === undefined) throw notFound(`the run's input ${path} (${e.md5}) is not in the local cache; fetch it (reprise data pull) and run again`);
      files.push({ path, md5: e.md5, size, dest: sourcesDir === undefined ? '' : join(sourcesDir, ...path.split('/')) });
    }
  }
  // Without sourcesDir the backend stages every file by digest itself: nothing to link here.
  if (sourcesDir !== undefined) await mapLimit(files, 8, (f) => linkFromCache(cacheDir, f.md5, f.dest, ['hardlink', 'copy']));
  return { paths: inputs.map((i) => i.path), files: files.map(({ path, md5, size }) => ({ path, md5, size })), folders: inputs.filter((i) => isDirMd5(i.md5)) };
}

/**
 * For a backend on this machine: a source commit's tracked inputs as mounts of the local cache
 * by digest, a file as its object and a folder as its tree (built on first use), so a run links
 * and checks nothing per file once a folder version has run before.
 */
export async function mountRunInputs(root: string, commit: string): Promise<DataMount[]> {
  const cacheDir = await localCacheDir(root);
  const mounts: DataMount[] = [];
  for (const input of await dataInputsAt(root, commit)) {
    if (isDirMd5(input.md5)) {
      mounts.push({ path: input.path, source: await ensureTree(cacheDir, input.md5, input.path) });
      continue;
    }
    if (!(await hasObject(cacheDir, input.md5))) throw notFound(`the run's input ${input.path} (${input.md5}) is not in the local cache; fetch it (reprise data pull) and run again`);
    mounts.push({ path: input.path, source: cacheObjectPath(cacheDir, input.md5) });
  }
  return mounts;
}

/**
 * After a run: each collected output file above `threshold` goes into the local cache and is
 * replaced in `outputsDir` by its `.dvc` pointer, so the record commits the pointer, never the
 * bytes. Returns the outputs moved, with `output/` paths, and the `.gitignore` lines per folder.
 */
export async function cacheLargeOutputs(root: string, outputsDir: string, threshold: number, inStore: ReadonlySet<string> = new Set()): Promise<{ outputs: DataRef[]; ignores: Map<string, string[]> }> {
  const cacheDir = await localCacheDir(root);
  const outputs: DataRef[] = [];
  const ignores = new Map<string, string[]>();
  const note = (rel: string, md5: string, size: number) => {
    const folder = posix.join('output', posix.dirname(rel));
    ignores.set(folder, [...(ignores.get(folder) ?? []), `/${posix.basename(rel)}`]);
    outputs.push({ path: `output/${rel}`, md5, size });
  };
  const files = await walkFiles(outputsDir);
  const present = new Set(files);
  for (const rel of files) {
    const abs = join(outputsDir, rel);
    // A pointer this function wrote on an earlier attempt (the record activity was retried), or
    // one the backend wrote for an output it sent to the data store (`inStore`).
    if (rel.endsWith(POINTER_SUFFIX) && !present.has(rel.slice(0, -POINTER_SUFFIX.length))) {
      const out = await readFile(abs, 'utf8').then((t) => parsePointer(t, `output/${rel}`)[0], () => undefined);
      if (out && out.path === posix.basename(rel.slice(0, -POINTER_SUFFIX.length)) && (inStore.has(out.md5) || (await hasObject(cacheDir, out.md5)))) note(rel.slice(0, -POINTER_SUFFIX.length), out.md5, out.size);
      continue;
    }
    const st = await lstat(abs);
    if (!st.isFile() || st.size <= threshold || rel.endsWith(POINTER_SUFFIX)) continue;
    const md5 = await md5File(abs);
    await addFileToCache(cacheDir, abs, md5, true);
    await rm(abs, { force: true });
    await writeFile(`${abs}${POINTER_SUFFIX}`, serializePointer({ md5, size: st.size, path: posix.basename(rel) }));
    note(rel, md5, st.size);
  }
  return { outputs, ignores };
}

/**
 * Bring cached outputs into the working tree after their record commit (links or copies, as the
 * project's cache.type says); one only in the data store stays there until `data pull --run`.
 */
export async function checkoutOutputs(root: string, outputs: DataRef[]): Promise<void> {
  const cacheDir = await localCacheDir(root);
  for (const o of outputs) {
    if (!(await hasObject(cacheDir, o.md5))) continue;
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
