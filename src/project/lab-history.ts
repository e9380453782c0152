import { lstat, readdir, readFile, writeFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { extname, join } from 'node:path';
import { promisify } from 'node:util';
import { notFound } from '../errors.js';
import { CopyBack, type CopyBackChange } from './copy-back.js';
import { Git } from './git.js';
import { cachedGrepLog, commitOnBranch, digestFile } from './history.js';
import { ACTIVITY_DIR } from './layout.js';
import { labAppOf, labCommitMessage, labImageDir, labShortId, type LabExecution, type LabFileChange, type LabRecord } from './lab-record.js';
import { matchId, parseTrailers } from './run-record.js';

/** The project directories a lab brings back; input/ is the project's data and stays as it was. */
export const LAB_PATHS = ['code', 'output'] as const;
/** Where the lab's capture extension writes, inside the job's project (never committed as such). */
export const LAB_STATE_DIR = '.reprise-lab';
const EXECUTIONS_FILE = `${LAB_STATE_DIR}/executions.jsonl`;
/** At most this much of one cell's text is kept in the record (the extension caps it too). */
const TEXT_CAP = 64 * 1024;

const execFileP = promisify(execFile);
const labRecordPath = (labId: string) => `${ACTIVITY_DIR}/${labId}.json`;
const ZERO = '0'.repeat(40);
// eslint-disable-next-line no-control-regex -- control characters are what is looked for
const CONTROL = /[\x00-\x1f\x7f]/;

export interface LabCheckpoint {
  /** The record as far as the caller knows it; files, executions, synced and through are filled in here. */
  record: Omit<LabRecord, 'files' | 'executions' | 'executionsThrough' | 'synced'>;
  /** A local copy of the job's code/, output/ and .reprise-lab/ (collect with paths). */
  collectedDir: string;
  /** Paths collect left out (links, devices): never taken for deletions. */
  skipped: string[];
  /** False when collect left files out for its limits: nothing missing is taken for a deletion. */
  complete: boolean;
  branch?: string;
  /** Commit even when nothing changed (the session's last checkpoint says how it ended). */
  always: boolean;
}

export interface LabCheckpointResult {
  commit?: string;
  checkpoint: number;
  executions: number;
  files: LabFileChange[];
  /** Changed in the lab, but the user has uncommitted edits to them here: committed, not written. */
  notWritten: string[];
}

/**
 * One checkpoint of a lab session as a commit on the branch it started from: the files the lab
 * changed since the last checkpoint (applied onto the branch as it is now, so the user's own
 * commits meanwhile are kept), the cells executed since then and their images, and the record.
 * Safe to repeat: a checkpoint number found recorded returns that commit. Nothing is committed
 * when nothing changed, unless `always`.
 */
export async function recordLabCheckpoint(root: string, c: LabCheckpoint): Promise<LabCheckpointResult> {
  const git = new Git(root);
  const { labId, checkpoint } = c.record;
  const path = labRecordPath(labId);
  const ref = c.branch ?? (await git.headRef());
  const previous = await readLabRecordAt(git, ref, labId);
  if (previous && previous.checkpoint >= checkpoint) {
    const commit = (await git.run(['log', '-1', '--format=%H', ref, '--', path])).trim();
    return { commit, checkpoint: previous.checkpoint, executions: previous.executions.length, files: previous.files, notWritten: [] };
  }

  const base = previous?.synced ?? (await treeBlobs(git, c.record.sourceCommit, ['code']));
  const lab = await hashDir(git, c.collectedDir, [...LAB_PATHS]);
  // No code/ in the copy: the job's files were gone before they could be copied (a deleted pod);
  // that is no reason to delete the project's code.
  const copied = await lstat(join(c.collectedDir, 'code')).then((s) => s.isDirectory(), () => false);
  const changes = diffSynced(base, lab, new Set(c.skipped), copied && c.complete);
  const { executions, through, images } = await readExecutions(c.collectedDir, previous?.executionsThrough ?? 0, labId);
  if (!c.always && changes.length === 0 && executions.length === 0) {
    return { checkpoint: previous?.checkpoint ?? 0, executions: 0, files: [], notWritten: [] };
  }

  let record: LabRecord | undefined;
  const written: Written[] = [];
  const notWritten: string[] = [];
  // Every file the working tree may receive is copied before the commit: a copy that fails
  // leaves the branch and the working tree as they were, and the checkpoint is retried whole.
  const copyBack = await CopyBack.create(await git.gitDir(), `${labId}-${checkpoint}`);
  try {
    for (const ch of changes) if (ch.change !== 'deleted') await copyBack.stage(join(c.collectedDir, ch.path));
    for (const img of images) await copyBack.stage(img.file);
    const commit = await commitOnBranch(git, {
      id: `${labId}-${checkpoint}`,
      branch: ref,
      recordPath: path,
      sourceCommit: c.record.sourceCommit,
      recorded: async () => undefined, // checked above, under the same branch state (the lock is taken next)
      message: () => labCommitMessage(record!),
      entries: async (head) => {
        written.length = 0;
        const entries: string[] = [];
        const files: LabFileChange[] = [];
        const onBranch = await treeBlobs(git, head, [...LAB_PATHS]);
        for (const ch of changes) {
          const theirs = onBranch[ch.path];
          const clean = theirs === base[ch.path] || theirs === lab[ch.path];
          if (ch.change === 'deleted') {
            // Deleted in the lab: removed unless the branch changed it meanwhile (then it stays).
            if (clean && theirs) {
              entries.push(`0 ${ZERO}\t${ch.path}`);
              written.push({ path: ch.path });
            }
            files.push(clean ? ch : { ...ch, keptAs: ch.path });
            continue;
          }
          const target = clean ? ch.path : keptAsPath(ch.path, labId);
          entries.push(`100644 ${lab[ch.path]}\t${target}`);
          written.push({ path: target, blob: lab[ch.path], from: join(c.collectedDir, ch.path) });
          files.push(clean ? ch : { ...ch, keptAs: target });
        }
        const imageBlobs = await Promise.all(images.map(async (img) => (await git.run(['hash-object', '-w', '--', img.file])).trim()));
        images.forEach((img, i) => entries.push(`100644 ${imageBlobs[i]}\t${img.path}`));
        record = { ...c.record, files: await withDigests(files, c.collectedDir), executions, executionsThrough: through, synced: lab };
        const text = JSON.stringify(record, null, 2) + '\n';
        const recordFile = join(c.collectedDir, '.record.json');
        await writeFile(recordFile, text);
        await copyBack.stage(recordFile);
        const blob = await git.hashObject(text);
        entries.push(`100644 ${blob}\t${path}`);
        written.push({ path, blob, from: recordFile });
        images.forEach((img, i) => written.push({ path: img.path, blob: imageBlobs[i], from: img.file }));
        return entries;
      },
      afterCommit: async (head, _newHead, _ref, checkedOut) => {
        if (checkedOut) notWritten.push(...(await syncLabWorkingTree(git, head, written, copyBack)));
      },
    });
    return { commit, checkpoint, executions: executions.length, files: record?.files ?? [], notWritten };
  } finally {
    await copyBack.discard();
  }
}

/** The lab's record as of `rev` (the latest checkpoint there), if it has one. */
export async function readLabRecordAt(git: Git, rev: string, labId: string): Promise<LabRecord | undefined> {
  const text = await git.tryRun(['show', `${rev}:${labRecordPath(labId)}`]);
  return text ? (JSON.parse(text) as LabRecord) : undefined;
}

export interface LabSummary {
  labId: string;
  commits: string[];
  checkpoints: number;
  state: string;
  backend: string;
  /** The app it opened: jupyterlab, vscode, … */
  app: string;
  startedAt: string;
  lastAt: string;
  executions: number;
  sourceCommit: string;
}

/** The bytes of an image a session committed (its latest version on the current branch). */
export async function readLabImage(root: string, labId: string, name: string): Promise<Buffer> {
  const { stdout } = await execFileP('git', ['show', `HEAD:${labImageDir(labId)}/${name}`], { cwd: root, encoding: 'buffer', maxBuffer: 64 * 2 ** 20 });
  return stdout;
}

/** Lab sessions on the current branch, newest first, read from their checkpoint commits' trailers. */
export async function readLabs(root: string): Promise<LabSummary[]> {
  // Cached per head (history.ts): `reprise log` reads it every time, the history may be long.
  const chunks = await cachedGrepLog(root, 'reprise-labs-cache.json', '^Reprise-Kind: lab$', '%H%x1f%(trailers:only,unfold)%x1e');
  const byId = new Map<string, LabSummary>();
  for (const chunk of chunks) {
    const [commit, text] = chunk.split('\x1f');
    const t = parseTrailers(text ?? '');
    const id = t['Reprise-Lab'];
    if (!id) continue;
    const s = byId.get(id);
    if (!s) {
      // Newest first: the first commit seen of a session is its latest checkpoint.
      byId.set(id, {
        labId: id,
        commits: [commit!],
        checkpoints: Number(t['Reprise-Lab-Checkpoint'] ?? 1),
        state: t['Reprise-State'] ?? 'unknown',
        backend: t['Reprise-Backend'] ?? '',
        app: labAppOf({ app: t['Reprise-Lab-App'] }),
        startedAt: t['Reprise-Started'] ?? '',
        lastAt: t['Reprise-Checkpointed'] ?? '',
        executions: Number(t['Reprise-Executions'] ?? 0),
        sourceCommit: t['Reprise-Source-Commit'] ?? '',
      });
    } else {
      s.commits.push(commit!);
      s.executions += Number(t['Reprise-Executions'] ?? 0);
    }
  }
  return [...byId.values()];
}

/** A lab session's id from an id or unique prefix (with or without "lab-"). */
export async function findLab(root: string, idOrPrefix: string): Promise<LabSummary> {
  const labs = await readLabs(root);
  const labId = matchId(labs.map((l) => l.labId), idOrPrefix, 'lab', 'sessions');
  const found = labs.find((l) => l.labId === labId);
  if (!found) throw notFound(`no recorded lab session "${idOrPrefix}" in this project; list them with: reprise lab list`);
  return found;
}

/** Every checkpoint of a session, oldest first: the whole session's executions and file changes. */
export async function readLabSession(root: string, summary: LabSummary): Promise<LabRecord[]> {
  const git = new Git(root);
  const records = await Promise.all(summary.commits.map((commit) => readLabRecordAt(git, commit, summary.labId)));
  return records.filter((r): r is LabRecord => r !== undefined).sort((a, b) => a.checkpoint - b.checkpoint);
}

/** Changes from `base` to `lab`: added and modified anywhere, deleted only under code/ (output/ starts empty in a lab). */
function diffSynced(base: Record<string, string>, lab: Record<string, string>, skipped: Set<string>, deletions: boolean): LabFileChange[] {
  const out: LabFileChange[] = [];
  for (const [path, blob] of Object.entries(lab)) {
    if (base[path] === undefined) out.push({ path, change: 'added' });
    else if (base[path] !== blob) out.push({ path, change: 'modified' });
  }
  for (const path of Object.keys(base)) {
    // A refused folder (a link the job left) hides what was under it: none of that is deleted.
    const hidden = [...path.split('/').keys()].some((i) => skipped.has(path.split('/').slice(0, i + 1).join('/')));
    if (deletions && lab[path] === undefined && path.startsWith('code/') && !hidden) out.push({ path, change: 'deleted' });
  }
  return out.sort((a, b) => a.path.localeCompare(b.path));
}

/** "code/fit.py" → "code/fit.lab-abcd1234.py": the lab's version beside the branch's. */
function keptAsPath(path: string, labId: string): string {
  const ext = extname(path);
  return `${path.slice(0, path.length - ext.length)}.lab-${labShortId(labId)}${ext}`;
}

/** path → blob id of the regular files under `paths` of a commit. */
async function treeBlobs(git: Git, rev: string, paths: string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const text = (await git.tryRun(['ls-tree', '-r', '-z', rev, '--', ...paths])) ?? '';
  for (const line of text.split('\0').filter(Boolean)) {
    const m = /^(\d+) blob ([0-9a-f]+)\t([\s\S]*)$/.exec(line);
    if (m && m[1] !== '120000') out[m[3]!] = m[2]!;
  }
  return out;
}

/** path → blob id (written to the object store) of the regular files under `paths` of a local directory. */
async function hashDir(git: Git, dir: string, paths: string[]): Promise<Record<string, string>> {
  const files: string[] = [];
  async function walk(rel: string): Promise<void> {
    let entries;
    try {
      entries = await readdir(join(dir, rel), { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const e of entries) {
      const child = `${rel}/${e.name}`;
      // Jupyter's own checkpoints and caches are not the user's work.
      if (e.name === '.ipynb_checkpoints' || e.name === '__pycache__') continue;
      if (e.isDirectory()) await walk(child);
      else if (e.isFile()) files.push(child);
    }
  }
  for (const p of paths) await walk(p);
  const out: Record<string, string> = {};
  // One git process for the plain names: paths on stdin, one blob id per line back. A name with
  // a control character (a newline would read as two paths, a trailing CR is dropped) goes as argv.
  const plain = files.filter((f) => !CONTROL.test(f));
  if (plain.length) {
    const ids = (await git.run(['hash-object', '-w', '--stdin-paths'], { input: plain.map((f) => join(dir, f)).join('\n') + '\n' })).trim().split('\n');
    if (ids.length !== plain.length) throw new Error(`git hash-object returned ${ids.length} blob ids for ${plain.length} files`);
    plain.forEach((f, i) => (out[f] = ids[i]!));
  }
  for (const f of files) if (CONTROL.test(f)) out[f] = (await git.run(['hash-object', '-w', '--', join(dir, f)])).trim();
  return out;
}

async function withDigests(files: LabFileChange[], dir: string): Promise<LabFileChange[]> {
  return Promise.all(
    files.map(async (f) => {
      if (f.change === 'deleted') return f;
      const d = await digestFile(join(dir, f.path), f.path);
      return { ...f, sha256: d.sha256, size: d.size };
    }),
  );
}

/**
 * The cells executed since byte `from` of the session's execution log: complete lines only (a
 * line being written is left for the next checkpoint), with their images renamed to where the
 * commit keeps them.
 */
async function readExecutions(dir: string, from: number, labId: string): Promise<{ executions: LabExecution[]; through: number; images: { path: string; file: string }[] }> {
  let text: Buffer;
  try {
    text = await readFile(join(dir, EXECUTIONS_FILE));
  } catch {
    return { executions: [], through: from, images: [] };
  }
  const rest = text.subarray(from);
  const end = rest.lastIndexOf(0x0a) + 1;
  const executions: LabExecution[] = [];
  const images: { path: string; file: string }[] = [];
  for (const line of rest.subarray(0, end).toString('utf8').split('\n')) {
    if (!line.trim()) continue;
    let e: LabExecution;
    try {
      e = JSON.parse(line) as LabExecution;
    } catch {
      continue; // not ours to fail on: the log is written by code running in the user's kernel
    }
    if (typeof e !== 'object' || e === null || typeof e.code !== 'string' || !Number.isInteger(e.n)) continue;
    const kept: string[] = [];
    for (const img of Array.isArray(e.images) ? e.images : []) {
      const name = String(img).split('/').pop() ?? '';
      if (!/^[A-Za-z0-9._-]+$/.test(name) || name.startsWith('.')) continue;
      const file = join(dir, LAB_STATE_DIR, 'images', name);
      if (!(await lstat(file).then((s) => s.isFile()).catch(() => false))) continue;
      const path = `${labImageDir(labId)}/${name}`;
      images.push({ path, file });
      kept.push(path);
    }
    executions.push({
      kernel: String(e.kernel ?? ''),
      n: Number(e.n ?? 0),
      code: cap(String(e.code ?? '')),
      status: e.status === 'error' ? 'error' : 'ok',
      ...(e.error ? { error: cap(String(e.error)) } : {}),
      started: String(e.started ?? ''),
      duration: Number(e.duration ?? 0),
      ...(e.stdout ? { stdout: cap(String(e.stdout)) } : {}),
      ...(e.stderr ? { stderr: cap(String(e.stderr)) } : {}),
      ...(e.result ? { result: cap(String(e.result)) } : {}),
      images: kept,
    });
  }
  return { executions, through: from + end, images };
}

const cap = (s: string) => (s.length > TEXT_CAP ? `${s.slice(0, TEXT_CAP)}\n… (${s.length - TEXT_CAP} more characters)` : s);

/**
 * Bring the checkpoint's files into the working tree where the user has not edited them (the
 * index followed the branch already, keeping what they staged: commitOnBranch): a file is written
 * (or removed) only when the working tree still holds `oldHead`'s version.
 * Returns the paths left alone because the user has their own edits there.
 */
interface Written {
  path: string;
  /** Absent: the path is removed. */
  blob?: string;
  /** A local file with the content. */
  from?: string;
}

async function syncLabWorkingTree(git: Git, oldHead: string, written: Written[], copyBack: CopyBack): Promise<string[]> {
  const root = git.dir;
  const before = await treeBlobs(git, oldHead, written.map((w) => w.path));
  const left: string[] = [];
  const changes: CopyBackChange[] = [];
  for (const w of written) {
    const file = join(root, w.path);
    const current = await lstat(file).then((s) => (s.isFile() ? git.run(['hash-object', '--', file]).then((o) => o.trim()) : 'other'), () => undefined);
    if (current !== before[w.path] && current !== w.blob) {
      left.push(w.path);
      continue;
    }
    if (!w.blob) changes.push({ file });
    else if (current !== w.blob && w.from) changes.push({ file, from: w.from });
  }
  // All of them or none: a failure midway puts back every file it had replaced.
  await copyBack.apply(changes);
  return left;
}

export interface LabView {
  kind: 'lab';
  labId: string;
  state: string;
  reason?: string;
  backend: LabRecord['backend'];
  sourceCommit: string;
  image: LabRecord['image'];
  labImage: LabRecord['labImage'];
  app: string;
  startedAt: string;
  lastAt: string;
  commits: string[];
  files: LabFileChange[];
  executions: LabExecution[];
  /** What the session's checkpoints refused to bring back (links, special files, limits), each path once. */
  skippedOutputs: { path: string; why: string }[];
}

/** A recorded lab session, all its checkpoints together: every file change and executed cell, oldest first. */
export async function labView(root: string, idOrPrefix: string): Promise<LabView> {
  const summary: LabSummary = await findLab(root, idOrPrefix);
  const records = await readLabSession(root, summary);
  const last = records.at(-1)!;
  return {
    kind: 'lab',
    labId: summary.labId,
    state: last.state,
    ...(last.reason ? { reason: last.reason } : {}),
    backend: last.backend,
    sourceCommit: last.sourceCommit,
    image: last.image,
    labImage: last.labImage,
    app: labAppOf(last),
    startedAt: last.startedAt,
    lastAt: last.at,
    commits: [...summary.commits].reverse(),
    files: records.flatMap((r) => r.files),
    executions: records.flatMap((r) => r.executions),
    skippedOutputs: [...new Map(records.flatMap((r) => r.skippedOutputs ?? []).map((o) => [o.path, o])).values()],
  };
}
