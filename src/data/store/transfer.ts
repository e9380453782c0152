import { stat } from 'node:fs/promises';
import { posix } from 'node:path';
import { notFound, badInput } from '../../errors.js';
import { Git } from '../../project/git.js';
import { findRun, readRecord } from '../../project/history.js';
import type { TransferProgress } from '../../images/transfer-progress.js';
import { cacheObjectPath, hasObject, localCacheDir, readCachedManifest } from '../cache.js';
import { DVC_DIR } from '../dvc-config.js';
import { isDirMd5, parsePointer, POINTER_SUFFIX, type DirEntry, type PointerOut } from '../format.js';
import { pointersAtCommit, withDataPaths, workspacePointers } from '../pointers.js';
import { openStore, readDataRemote, requireDataRemote } from './remote.js';
import type { S3Store } from './s3-store.js';

/** A tracked output with its path relative to the project root. */
export type TrackedOut = PointerOut & { dataPath: string };

/** An object a tracked path needs, named in errors by that path. */
interface NeededObject {
  md5: string;
  size?: number;
  label: string;
}

export interface TransferResult {
  /** The store's s3:// URL; absent when nothing had to move and no store was asked. */
  store?: string;
  /** Objects the selection references. */
  objects: number;
  /** Objects moved (uploaded by push, downloaded by pull). */
  transferred: number;
  /** Bytes sent or received over the network (a resumed download counts only its rest). */
  bytes: number;
}

export type OnTransfer = (p: TransferProgress) => void;

/** The project's store, checked once (unreachable, refused and missing bucket fail here). */
async function connect(root: string): Promise<S3Store> {
  const store = openStore(await requireDataRemote(root));
  await store.check();
  return store;
}

/**
 * Send every object the outs reference that the store lacks (file contents, folder manifests and
 * the files they list). Everything is checked before the first byte moves: an object that is
 * neither in the local cache nor in the store fails naming its path, and nothing is sent.
 */
export async function pushOuts(root: string, outs: TrackedOut[], onProgress?: OnTransfer): Promise<TransferResult> {
  if (outs.length === 0) return { objects: 0, transferred: 0, bytes: 0 };
  const cacheDir = await localCacheDir(root);
  const needed = new Map<string, NeededObject>();
  for (const out of outs) {
    if (!needed.has(out.md5)) needed.set(out.md5, { md5: out.md5, label: out.dataPath });
    // A folder whose manifest is not here was pushed from elsewhere, or is lost: the store says which.
    if (!isDirMd5(out.md5) || !(await hasObject(cacheDir, out.md5))) continue;
    for (const e of await readCachedManifest(cacheDir, out.md5)) if (!needed.has(e.md5)) needed.set(e.md5, { md5: e.md5, label: `${out.dataPath}/${e.relpath}` });
  }
  const store = await connect(root);
  try {
    const present = await store.has([...needed.keys()]);
    const missing = [...needed.values()].filter((o) => !present.has(o.md5));
    const outgoing = [];
    for (const o of missing) {
      const path = cacheObjectPath(cacheDir, o.md5);
      const size = await stat(path).then((s) => s.size, () => undefined);
      if (size === undefined) throw notFound(`${o.label} (${o.md5}) is neither in the local cache nor in the data store ${store.url}; nothing was pushed: track the file again (reprise data add) or pull it where it exists`);
      outgoing.push({ md5: o.md5, path, size });
    }
    const total = outgoing.reduce((n, o) => n + o.size, 0);
    let sent = 0;
    const what = `pushing ${outgoing.length} object(s) to ${store.url}`;
    if (outgoing.length) onProgress?.({ what, current: 0, total });
    // Parts a cut push had sent already count as progress, not as bytes moved now.
    const moved = await store.upload(outgoing, { onBytes: (n) => onProgress?.({ what, current: (sent += n), total }) });
    return { store: store.url, objects: needed.size, transferred: outgoing.length, bytes: moved.sent };
  } finally {
    store.destroy();
  }
}

/** Push what a commit's pointers reference (default: HEAD). */
export async function pushCommit(root: string, commit = 'HEAD', onProgress?: OnTransfer): Promise<TransferResult> {
  const pointers = await pointersAtCommit(new Git(root), commit);
  return pushOuts(root, pointers.flatMap((p) => p.outs), onProgress);
}

/** An out to fetch, whole or (inside a tracked folder) only the files under `within`. */
export interface Selected {
  out: TrackedOut;
  within?: string;
}

/**
 * The outs that project-relative `paths` ask for: a tracked path, a folder holding tracked paths,
 * or a path inside a tracked folder (a partial checkout). A path that matches none is bad input.
 */
export function selectOuts(outs: TrackedOut[], paths: string[] | undefined): Selected[] {
  if (!paths || paths.length === 0) return outs.map((out) => ({ out }));
  const selected: Selected[] = [];
  for (const p of paths) {
    const matches = outs.filter((o) => p === '.' || o.dataPath === p || o.dataPath.startsWith(`${p}/`));
    const inside = outs.find((o) => isDirMd5(o.md5) && p.startsWith(`${o.dataPath}/`));
    if (matches.length === 0 && !inside) throw badInput(`${p} is not tracked data (no .dvc pointer covers it); see: reprise data status`);
    for (const out of matches) selected.push({ out });
    if (inside) selected.push({ out: inside, within: p.slice(inside.dataPath.length + 1) });
  }
  return selected;
}

/**
 * Fetch into the local cache what the selected outs need and the cache lacks: folder manifests
 * first (they say which files a folder holds), then the files. Nothing in the workspace changes
 * here; the store is asked only when something is missing.
 */
export async function fetchSelected(root: string, selection: Selected[], onProgress?: OnTransfer): Promise<TransferResult> {
  const cacheDir = await localCacheDir(root);
  let store: S3Store | undefined;
  const moved = { transferred: 0, bytes: 0 };
  const fetch = async (objects: NeededObject[], what: string) => {
    const missing: NeededObject[] = [];
    for (const o of objects) if (!(await hasObject(cacheDir, o.md5))) missing.push(o);
    if (missing.length === 0) return;
    store ??= await connect(root);
    let total = missing.reduce((n, o) => n + (o.size ?? 0), 0);
    let got = 0;
    const label = `${what} ${missing.length} object(s) from ${store.url}`;
    onProgress?.({ what: label, current: 0, total });
    const { received } = await store.download(
      missing.map((o) => ({ md5: o.md5, dest: cacheObjectPath(cacheDir, o.md5), size: o.size, label: o.label })),
      { onBytes: (n) => onProgress?.({ what: label, current: (got += n), total }), onSize: (n) => (total += n) },
    );
    moved.transferred += missing.length;
    moved.bytes += received;
  };
  try {
    const unique = <T extends { md5: string }>(xs: T[]) => [...new Map(xs.map((x) => [x.md5, x])).values()];
    const folders = selection.filter((s) => isDirMd5(s.out.md5));
    await fetch(unique(folders.map((s) => ({ md5: s.out.md5, label: s.out.dataPath }))), 'pulling manifests:');
    const files: NeededObject[] = selection.filter((s) => !isDirMd5(s.out.md5)).map((s) => ({ md5: s.out.md5, size: s.out.size, label: s.out.dataPath }));
    for (const s of folders) {
      const entries: DirEntry[] = await readCachedManifest(cacheDir, s.out.md5);
      for (const e of entries) if (!s.within || e.relpath === s.within || e.relpath.startsWith(`${s.within}/`)) files.push({ md5: e.md5, label: `${s.out.dataPath}/${e.relpath}` });
    }
    await fetch(unique(files), 'pulling');
    return { ...(store ? { store: (store as S3Store).url } : {}), objects: files.length + folders.length, ...moved };
  } finally {
    (store as S3Store | undefined)?.destroy();
  }
}

/** The workspace's pointers (committed or not), as `dvc pull` reads them. */
export async function workspaceOuts(root: string): Promise<TrackedOut[]> {
  return (await workspacePointers(new Git(root))).flatMap((p) => p.outs);
}

/**
 * Before commits are pushed to a git remote: send the data of every pointer file those commits
 * bring that the remote's branches do not have yet (`theirs`: the remote's heads). Without a
 * data remote such commits are refused, so a commit never points at data the remote lacks.
 */
export async function pushDataOfNewCommits(root: string, head: string, theirs: string[], onProgress?: OnTransfer): Promise<TransferResult> {
  const git = new Git(root);
  const listed = await git.run(['rev-list', '--objects', head, '--not', ...theirs, '--']);
  const pointerBlobs = listed
    .split('\n')
    .map((line) => /^([0-9a-f]{40,64}) (.+)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null && m[2]!.endsWith(POINTER_SUFFIX) && !m[2]!.startsWith(`${DVC_DIR}/`));
  const outs: TrackedOut[] = [];
  for (const [, oid, file] of pointerBlobs) {
    // Only blobs: a folder named *.dvc is a tree.
    if ((await git.run(['cat-file', '-t', oid!])).trim() !== 'blob') continue;
    outs.push(...withDataPaths(file!, parsePointer(await git.run(['cat-file', 'blob', oid!]), file!)).outs);
  }
  if (outs.length === 0) return { objects: 0, transferred: 0, bytes: 0 };
  if (!(await readDataRemote(root))) {
    throw badInput(`the commits to push track data (${outs[0]!.dataPath}${outs.length > 1 ? ` and ${outs.length - 1} more` : ''}) but the project has no data remote to hold it; set one first: reprise data remote set s3://bucket/prefix`);
  }
  return pushOuts(root, outs, onProgress);
}

/**
 * The large outputs a recorded run wrote, as outs to fetch. The record carries them by digest,
 * so a later run that overwrote the same path does not change what this run's outputs are.
 */
export async function runOutputs(root: string, idOrPrefix: string): Promise<{ runId: string; outs: TrackedOut[] }> {
  const entry = await findRun(root, idOrPrefix);
  const { record } = await readRecord(root, entry);
  const outputs = record.data?.outputs ?? [];
  if (outputs.length === 0) throw badInput(`run ${entry.runId} recorded no large outputs; its outputs are in git (reprise show ${entry.runId})`);
  return { runId: entry.runId, outs: outputs.map((o) => ({ md5: o.md5, size: o.size, path: posix.basename(o.path), dataPath: o.path })) };
}
