import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { spawn } from 'node:child_process';
import { notFound } from '../errors.js';
import { Git } from './git.js';
import { hashFiles, parseChanges, treeWith, writeBlob, type PathChange, type PriorEntries } from './objects.js';
import { sweepCommitMessage, type SweepRecord } from './sweep-record.js';
import { withFileLock } from './lock.js';
import { refusePrivateKeys } from './private-keys.js';
import { ACTIVITY_DIR, USER_FILES_PATHSPEC } from './layout.js';
import {
  commitMessage,
  feedEntryFromTrailers,
  matchId,
  matchRunId,
  parseTrailers,
  shortId,
  type FeedEntry,
  type FileDigest,
  type RunRecord,
} from './run-record.js';


/** Run `fn` with a private index file, so the user's index is never touched. */
export async function withTempIndex<T>(git: Git, name: string, fn: (env: NodeJS.ProcessEnv) => Promise<T>): Promise<T> {
  const file = join(await git.gitDir(), `reprise-index-${name}-${process.pid}`);
  try {
    return await fn({ GIT_INDEX_FILE: file });
  } finally {
    await rm(file, { force: true });
  }
}

export interface Snapshot {
  sourceCommit: string;
  /** True when uncommitted edits were swept into a new (not yet published) commit. */
  swept: boolean;
  /** The ref HEAD pointed at (refs/heads/…, or HEAD when detached): where the run is recorded. */
  branch: string;
}

/** The ref HEAD points at now (refs/heads/…, or HEAD when detached). */
export const currentBranch = (root: string): Promise<string> => new Git(root).headRef();

/**
 * Hold the lock that serialises every move of a branch by Reprise (records, sync, branch
 * switch), so none of them builds on a head another is replacing.
 */
export async function withRecordLock<T>(git: Git, fn: () => Promise<T>): Promise<T> {
  return withFileLock(join(await git.gitDir(), 'reprise-record.lock'), fn);
}

/**
 * The commit a run executes: HEAD, or a new commit holding HEAD plus the working tree's
 * pending edits (code, input, .reprise). The commit is only created as an object here; it
 * becomes part of the branch when the run is recorded, so a run that never starts (bad spec,
 * failed build) leaves the history exactly as it was.
 */
export async function snapshotSources(root: string, runId: string, untrack: string[] = []): Promise<Snapshot> {
  return sweepPendingWork(root, runId, `Sweep uncommitted changes before run ${shortId(runId)}\n\nReprise-Sweep-For: ${runId}\n`, untrack);
}

/**
 * HEAD plus the pending edits as an unpublished commit (HEAD itself when nothing is pending).
 * `untrack`: paths now tracked as data (their pointers are swept), kept out of git even when an
 * older commit held their bytes.
 */
export async function sweepPendingWork(root: string, name: string, message: string, untrack: string[] = []): Promise<Snapshot> {
  const git = new Git(root);
  const branch = await git.headRef();
  const head = await git.revParse('HEAD');
  if (!head) throw notFound(`the project at ${root} has no commits; commit something first`);
  await refusePrivateKeys(git, USER_FILES_PATHSPEC);
  return withTempIndex(git, name, async (env) => {
    await git.run(['read-tree', head], { env });
    await git.run(['add', '-A', '--', ...USER_FILES_PATHSPEC], { env });
    if (untrack.length) await git.run(['rm', '-r', '-q', '--cached', '--ignore-unmatch', '--', ...untrack], { env: { ...env, GIT_LITERAL_PATHSPECS: '1' } });
    const tree = (await git.run(['write-tree'], { env })).trim();
    const headTree = (await git.run(['rev-parse', `${head}^{tree}`])).trim();
    if (tree === headTree) return { sourceCommit: head, swept: false, branch };
    const commit = await git.commitTree(tree, [head], message, await git.identityEnv());
    return { sourceCommit: commit, swept: true, branch };
  });
}

/**
 * Write the user's files of `commit` into `dest`: what a job gets. Not the outputs and records
 * earlier runs left (USER_FILES_PATHSPEC): the run starts with an empty output/, and shipping
 * every earlier record made each run's staging grow with the history (git archive cannot escape dest).
 */
export async function exportSources(root: string, commit: string, dest: string): Promise<void> {
  return extractFiles(root, commit, USER_FILES_PATHSPEC, dest);
}

/** The files of `commit` that `pathspec` names, written under `dest` at their paths (one archive, one tar). */
export async function extractFiles(root: string, commit: string, pathspec: string[], dest: string, env?: NodeJS.ProcessEnv): Promise<void> {
  await mkdir(dest, { recursive: true });
  await new Promise<void>((resolve, reject) => {
    const archive = spawn('git', ['archive', '--format=tar', commit, '--', ...pathspec], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: env ? { ...process.env, ...env } : undefined });
    const untar = spawn('tar', ['-x', '--no-same-owner', '-C', dest], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    archive.stderr.on('data', (d: Buffer) => (err += d));
    untar.stderr.on('data', (d: Buffer) => (err += d));
    archive.stdout.pipe(untar.stdin);
    let pending = 2;
    const done = (code: number | null) => {
      if (code !== 0) reject(new Error(`exporting sources of ${commit} failed: ${err.trim()}`));
      else if (--pending === 0) resolve();
    };
    archive.on('close', done);
    untar.on('close', done);
  });
}

export async function digestFile(file: string, path: string): Promise<FileDigest> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return { path, sha256: hash.digest('hex'), size: (await stat(file)).size };
}

/** All regular files under `dir`, relative, sorted, with their digests. */
export async function digestTree(dir: string, prefix: string): Promise<FileDigest[]> {
  const out: FileDigest[] = [];
  async function walk(d: string): Promise<void> {
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const e of entries) {
      const full = join(d, e.name);
      if (e.isDirectory()) await walk(full);
      else if (e.isFile()) out.push(await digestFile(full, `${prefix}/${relative(dir, full).split(sep).join('/')}`));
    }
  }
  await walk(dir);
  return out.sort((a, b) => a.path.localeCompare(b.path));
}

export interface RecordInput {
  record: RunRecord;
  /** Local directory with the run's output/ files (as collected from the backend). */
  outputsDir: string;
  logFile: string;
  /** More files the record commit holds and writes into the working tree (the environment lock). */
  files?: { path: string; content: string }[];
  /** The branch the run started from; absent for runs prepared before runs carried it (then HEAD's). */
  branch?: string;
  /** A repository without a working tree (a worker's cache of a remote): only the branch moves. */
  bare?: boolean;
}

/** The branch a run is recorded on when the branch it started from was deleted while it ran. */
export const recoveryBranch = (runId: string) => `refs/heads/${runId}`;

export const recordPath = (runId: string) => `${ACTIVITY_DIR}/${runId}.json`;
export const logPath = (runId: string) => `${ACTIVITY_DIR}/${runId}.log`;

/**
 * Record a finished run as one commit on the branch it started from, holding exactly its
 * outputs, its log and its JSON record, then bring those files into the working tree when that
 * branch is still checked out. Safe to repeat (a run is recorded once) and to call concurrently:
 * commits are built aside (commitOnBranch) and published with compare-and-swap.
 */
export async function recordRun(root: string, input: RecordInput): Promise<string> {
  return (await recordRunOn(root, input)).commit;
}

/** Where recordRun put a run: the commit, its branch (the run's own when its branch was deleted) and whether that branch is checked out. */
export interface RecordedOn {
  commit: string;
  ref: string;
  checkedOut: boolean;
}

export async function recordRunOn(root: string, input: RecordInput): Promise<RecordedOn> {
  const git = new Git(root);
  const { record } = input;
  let made: Omit<RecordedOn, 'commit'> | undefined;
  const commit = await commitOnBranch(git, {
    id: record.runId,
    branch: input.branch,
    recoverTo: input.bare ? undefined : recoveryBranch(record.runId),
    recordPath: recordPath(record.runId),
    sourceCommit: record.sourceCommit,
    message: commitMessage(record),
    entries: async () => {
      // The files in one spawn (git's attributes apply to them as before); the texts written here.
      const [log, ...outputs] = await hashFiles(git, [input.logFile, ...record.outputs.map((o) => join(input.outputsDir, o.path.replace(/^output\//, '')))]);
      const entries = record.outputs.map((o, i) => `100644 ${outputs[i]}\t${o.path}`);
      entries.push(`100644 ${await writeBlob(git, JSON.stringify(record, null, 2) + '\n')}\t${recordPath(record.runId)}`);
      entries.push(`100644 ${log}\t${logPath(record.runId)}`);
      for (const f of input.files ?? []) entries.push(`100644 ${await writeBlob(git, f.content)}\t${f.path}`);
      return entries;
    },
    // The user switched branches while the run ran: their working tree belongs to another branch.
    afterCommit: async (_head, _commit, ref, checkedOut) => {
      made = { ref, checkedOut: !input.bare && checkedOut };
      if (made.checkedOut) await writeRunFiles(git, input);
    },
  });
  if (made) return { commit, ...made };
  // Recorded already (a repeat): on its branch, or on the run's own when that was deleted.
  const recovery = input.bare ? undefined : recoveryBranch(record.runId);
  const head = await git.headRef();
  const ref = recovery && (await git.revParse(recovery)) === commit ? recovery : (input.branch ?? head);
  return { commit, ref, checkedOut: !input.bare && head === ref };
}

/**
 * A sweep's summary: one commit holding `.reprise/activity/<sweep>.json`, on the branch the
 * sweep started from. Recorded once (a repeat returns the commit already made).
 */
export async function recordSweep(root: string, record: SweepRecord, branch?: string): Promise<string> {
  const git = new Git(root);
  const path = recordPath(record.sweepId);
  const text = JSON.stringify(record, null, 2) + '\n';
  return commitOnBranch(git, {
    id: record.sweepId,
    branch,
    recordPath: path,
    sourceCommit: record.sourceCommit,
    message: sweepCommitMessage(record),
    entries: async () => [`100644 ${await writeBlob(git, text)}\t${path}`],
    afterCommit: async (_head, _commit, _ref, checkedOut) => {
      if (!checkedOut) return;
      await mkdir(join(root, ACTIVITY_DIR), { recursive: true });
      await writeFile(join(root, path), text);
    },
  });
}

export interface BranchCommit {
  /** The run or sweep id: names the log of the ref update. */
  id: string;
  branch?: string;
  /** A path only this record's commit adds: finding it on the branch means it is recorded already. */
  recordPath: string;
  /** Where to record when `branch` was deleted meanwhile (made at the source commit); absent: refuse. */
  recoverTo?: string;
  /** Overrides how a commit made already is found (a lab's record path is rewritten by each checkpoint). */
  recorded?: (ref: string) => Promise<string | undefined>;
  sourceCommit: string;
  /** A function is called after `entries` (a lab's message says what they held). */
  message: string | (() => string);
  /** `mode oid\tpath` lines (mode 0: removed) applied to the base tree, for the branch at `head`. */
  entries: (head: string) => Promise<string[]>;
  /**
   * Called once the commit is published on `ref` over `head`; `checkedOut`: `ref` is the working
   * tree's branch, whose index has been moved to the commit already (publishOnBranch).
   */
  afterCommit: (head: string, commit: string, ref: string, checkedOut: boolean) => Promise<void>;
}

/**
 * One commit on a branch, its tree edited in process on the changed paths only (objects.ts) and
 * published with compare-and-swap, under the record lock: safe to repeat and to call
 * concurrently, and as cheap on a long history as on a short one. A branch moved by anyone else
 * meanwhile (the user's own commit) fails the swap: the commit is made again on the new head.
 * After SWAPS_LOST_BEFORE_HOLDING lost swaps on a checked-out branch, the attempts are built
 * holding the user's index, as their `git commit` holds it: a user committing faster than a record
 * is built (every ~50 ms in the faults suite) starved it, 184 swaps lost and 4 minutes in a trial.
 */
export async function commitOnBranch(git: Git, c: BranchCommit): Promise<string> {
  return withRecordLock(git, async () => {
    let ref = c.branch ?? (await git.headRef());
    // The head as first seen: the first attempt builds on it (a branch moved meanwhile fails the swap).
    let seen = await git.revParse(ref);
    if (c.recoverTo && !seen) {
      ref = c.recoverTo;
      await git.tryRun(['update-ref', '-m', `reprise: ${c.id}'s branch was deleted`, ref, c.sourceCommit, '']); // '': only if absent (a retry finds it)
      seen = undefined;
    }
    if (c.recorded) {
      const existing = await c.recorded(ref);
      if (existing) return existing;
    }
    let held: IndexLock | undefined;
    try {
      for (let attempt = 0; ; attempt++) {
        if (!held && attempt >= SWAPS_LOST_BEFORE_HOLDING && (await isCheckedOut(git, ref))) held = await lockIndex(git);
        const head = (attempt === 0 && seen) || (await git.revParse(ref));
        if (!head) throw notFound(`cannot record ${c.id}: its branch ${ref} no longer exists; recreate it with: git branch ${ref.replace(/^refs\/heads\//, '')} ${c.sourceCommit}`);
        const { parents, base } = await recordParents(git, head, c.sourceCommit);
        const identity = git.identityEnv(); // asked while the tree is built
        const changes = parseChanges(await c.entries(head));
        // The record path is among the changes: the branch holding it already means recorded already.
        const { tree, prior, written } = await treeWith(git, base, changes);
        const onHead = base === head ? prior.get(c.recordPath) !== undefined : (await git.tryRun(['cat-file', '-e', `${head}:${c.recordPath}`])) !== undefined;
        if (!c.recorded && onHead) {
          await written.catch(() => undefined); // objects no one refers to
          const existing = (await git.run(['log', '-1', '--format=%H', ref, '--', c.recordPath])).trim();
          await held?.release();
          held = undefined;
          await repairIndex(git, ref, existing, c.recordPath);
          return existing;
        }
        const [commit] = await Promise.all([git.commitTree(tree, parents, typeof c.message === 'string' ? c.message : c.message(), await identity), written]);
        const moved = base === head ? changedEntries(changes, prior) : undefined;
        const checkedOut = await isCheckedOut(git, ref);
        if (await publishOnBranch(git, ref, commit, head, `reprise: record ${c.id}`, checkedOut ? (env) => moveIndex(git, head, commit, moved, env) : undefined, held)) {
          await held?.release();
          held = undefined;
          await c.afterCommit(head, commit, ref, checkedOut);
          return commit;
        }
        if (attempt >= 20) throw new Error(`could not record ${c.id}: ${ref} kept moving`);
      }
    } finally {
      await held?.release();
    }
  });
}

/** Swaps a record loses to the user's commits before it builds its next attempts holding their index. */
const SWAPS_LOST_BEFORE_HOLDING = 3;

/** What the index moves by, path by path, from what `prior` says each changed path held. */
function changedEntries(changes: PathChange[], prior: PriorEntries): IndexChanges {
  return new Map(
    changes.map((ch) => {
      const was = prior.get(ch.path);
      return [ch.path, { from: was ? entryOf(was.mode, was.oid) : NO_ENTRY, to: entryOf(ch.mode, ch.oid) }];
    }),
  );
}

/**
 * The record commit's parents: normally the branch head. A swept source commit (child of an
 * older head) becomes the parent when the branch has not moved, else a second parent, so the
 * exact source of every run stays in history.
 */
async function recordParents(git: Git, head: string, source: string): Promise<{ parents: string[]; base: string }> {
  const isAncestor = async (a: string, b: string) => a === b || (await git.tryRun(['merge-base', '--is-ancestor', a, b])) !== undefined;
  if (await isAncestor(source, head)) return { parents: [head], base: head };
  if (await isAncestor(head, source)) return { parents: [source], base: source };
  return { parents: [head, source], base: head };
}

/** Write the run's files into the working tree (the index holds them already: publishOnBranch). */
async function writeRunFiles(git: Git, input: RecordInput): Promise<void> {
  const root = git.dir;
  for (const o of input.record.outputs) {
    const dest = join(root, o.path);
    await mkdir(join(dest, '..'), { recursive: true });
    await copyFile(join(input.outputsDir, o.path.replace(/^output\//, '')), dest);
  }
  await mkdir(join(root, ACTIVITY_DIR), { recursive: true });
  await writeFile(join(root, recordPath(input.record.runId)), JSON.stringify(input.record, null, 2) + '\n');
  await copyFile(input.logFile, join(root, logPath(input.record.runId)));
  for (const f of input.files ?? []) {
    await mkdir(join(root, f.path, '..'), { recursive: true });
    await writeFile(join(root, f.path), f.content);
  }
}

/** `ref` is the branch checked out in this repository's working tree (its index follows the branch). */
async function isCheckedOut(git: Git, ref: string): Promise<boolean> {
  return (await git.headRef()) === ref && (await git.tryRun(['rev-parse', '--is-inside-work-tree']))?.trim() === 'true';
}

/**
 * Publish `commit` on `ref` with compare-and-swap (false: `ref` is no longer at `head`). With
 * `move` (`ref` is checked out), the user's index is held from before the swap until it has
 * followed the branch, by git's own index.lock as `git commit` holds it: no git command of the
 * user's reads the index in between. A `git commit` there committed the old index on top of the
 * new head, deleting the new commit's files (the faults suite's "user commits during the record").
 * `move` writes a private copy of the index (GIT_INDEX_FILE in its env) that replaces the index
 * before the lock is let go; when it fails, the index is left as it was (a retried record repairs
 * it: repairIndex). A git of the user's holding the index is waited for, before anything moves.
 */
export async function publishOnBranch(
  git: Git,
  ref: string,
  commit: string,
  head: string,
  reason: string,
  move?: (env: NodeJS.ProcessEnv) => Promise<void>,
  /** The index lock the caller holds already (and lets go); else one is taken for the swap. */
  held?: IndexLock,
): Promise<boolean> {
  if (!move) return git.updateRef(ref, commit, head, reason);
  const lock = held ?? (await lockIndex(git));
  try {
    if (!(await git.updateRef(ref, commit, head, reason))) return false;
    await move(lock.env);
    await lock.commit();
    return true;
  } finally {
    if (!held) await lock.release();
  }
}

/** The user's index held (index.lock): `env` names the copy to edit, `commit` puts it in place, `release` lets the lock go (idempotent). */
export interface IndexLock {
  env: NodeJS.ProcessEnv;
  commit: () => Promise<void>;
  release: () => Promise<void>;
}

/** What a Reprise writes into the index.lock it holds: one found with this was left by a Reprise killed holding it. */
const INDEX_LOCK_MARK = 'reprise: moving the index after its commit\n';

/**
 * Take the index's lock as git does (index.lock created exclusively); `env` names a copy of the
 * index to edit, `commit` puts the copy in place, `release` lets the lock go. Called under the
 * record lock, which every Reprise holding the index lock holds: an index.lock marked as
 * Reprise's is one left by a Reprise that was killed, and is taken over.
 */
async function lockIndex(git: Git): Promise<IndexLock> {
  const dir = await git.gitDir();
  const [index, lock, copy] = [join(dir, 'index'), join(dir, 'index.lock'), join(dir, `reprise-index-move-${process.pid}`)];
  for (let i = 0; ; i++) {
    try {
      await writeFile(lock, INDEX_LOCK_MARK, { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if ((await readFile(lock, 'utf8').catch(() => '')) === INDEX_LOCK_MARK) {
        await rm(lock, { force: true });
        continue;
      }
      // Retryable: nothing is published yet.
      if (i >= INDEX_LOCK_WAITS) throw new Error(`${lock} stayed locked (a git command of the user's?); nothing was recorded yet, the record is retried`);
      await new Promise((r) => setTimeout(r, Math.min(100 * (i + 1), 2000)));
    }
  }
  let kept = false;
  let released = false;
  try {
    await copyFile(index, copy);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      await rm(lock, { force: true });
      throw err;
    }
    await rm(copy, { force: true }); // no index yet: git makes one
  }
  return {
    env: { GIT_INDEX_FILE: copy },
    commit: async () => {
      await rename(copy, index);
      kept = true;
    },
    release: async () => {
      if (released) return;
      released = true;
      if (!kept) await rm(copy, { force: true });
      await rm(lock, { force: true });
    },
  };
}

/**
 * Move the user's index from `oldHead` to `newHead` after a record commit, in the copy `locked`
 * names while the index is held (lockIndex): two-tree read-tree (-i: index only) updates the
 * entries they have not staged. When git refuses (a merge in conflict, a path they staged), each
 * path the commit changed is carried over unless they staged their own version of it. With the
 * commit's changes known (`moved`), only those paths are carried: a two-tree read-tree walks both
 * whole trees, and a history of 10,000 runs made it the slowest step of a record.
 */
export async function moveIndex(git: Git, oldHead: string, newHead: string, moved: IndexChanges | undefined, locked: NodeJS.ProcessEnv): Promise<void> {
  if (!moved && (await git.tryRun(['read-tree', '-m', '-i', oldHead, newHead], { env: locked })) !== undefined) return;
  await git.run(['update-index', '-z', '--index-info'], { env: locked, input: await carriedEntries(git, moved ?? (await treeChanges(git, oldHead, newHead)), locked) });
}

/** About a minute of waiting for another git command to release the index. */
const INDEX_LOCK_WAITS = 40;

/** Each changed path's index entry before and after a commit ("<mode> <sha>", or NO_ENTRY). */
export type IndexChanges = Map<string, { from: string; to: string }>;

/** The paths that differ between `oldHead` and `newHead`. */
async function treeChanges(git: Git, oldHead: string, newHead: string): Promise<IndexChanges> {
  // Raw -z: ":<old mode> <new mode> <old sha> <new sha> <status>\0<path>\0".
  const fields = (await git.run(['diff-tree', '-r', '-z', '--no-renames', oldHead, newHead])).split('\0');
  const changes: IndexChanges = new Map();
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const [oldMode, newMode, oldSha, newSha] = fields[i]!.slice(1).split(' ');
    changes.set(fields[i + 1]!, { from: entryOf(oldMode!, oldSha!), to: entryOf(newMode!, newSha!) });
  }
  return changes;
}

/**
 * `update-index --index-info` lines (NUL-terminated) setting every changed path to its new
 * entry, where the user's index still holds the old one.
 */
async function carriedEntries(git: Git, changes: IndexChanges, env?: NodeJS.ProcessEnv): Promise<string> {
  if (!changes.size) return '';
  // "<mode> <sha> <stage>\t<path>\0": a path in conflict (stage > 0) is the user's to resolve.
  const staged = new Map<string, string>();
  for (const line of (await git.run(['ls-files', '-s', '-z', '--', ...[...changes.keys()].map((p) => `:(literal)${p}`)], { env })).split('\0').filter(Boolean)) {
    const [meta, path] = [line.slice(0, line.indexOf('\t')), line.slice(line.indexOf('\t') + 1)];
    const [mode, sha, stage] = meta.split(' ');
    staged.set(path, stage === '0' ? entryOf(mode!, sha!) : 'conflict');
  }
  return [...changes]
    .filter(([path, { from }]) => (staged.get(path) ?? NO_ENTRY) === from)
    .map(([path, { to }]) => `${to === NO_ENTRY ? `0 ${'0'.repeat(40)}` : to}\t${path}\0`)
    .join('');
}

const NO_ENTRY = 'none';
const entryOf = (mode: string, sha: string) => (/^0+$/.test(mode) ? NO_ENTRY : `${mode} ${sha}`);

/**
 * A record found already made (a retried record) whose files the checked-out index lacks:
 * the index is moved across that commit now, so the user's next commit keeps them.
 */
async function repairIndex(git: Git, ref: string, commit: string, recordPath: string): Promise<void> {
  if (!(await isCheckedOut(git, ref)) || (await git.run(['ls-files', '-z', '--', `:(literal)${recordPath}`])) !== '') return;
  const parent = await git.revParse(`${commit}^`);
  if (!parent) return;
  // Held as publishOnBranch holds it: no git command of the user's reads the index half moved.
  const lock = await lockIndex(git);
  try {
    await moveIndex(git, parent, commit, undefined, lock.env);
    await lock.commit();
  } finally {
    await lock.release();
  }
}

/** The activity feed: run commits on the current branch, newest first (at most `limit`). */
export async function readFeed(root: string, limit?: number): Promise<FeedEntry[]> {
  const git = new Git(root);
  const head = await git.revParse('HEAD');
  if (!head) return [];
  if (limit !== undefined) return logFeed(git, [`-n${limit}`, head]);
  return wholeFeed(git, head);
}

/** Run commits among `git log <args>`, read from their trailers. */
export async function logFeed(git: Git, args: string[]): Promise<FeedEntry[]> {
  const out = await git.run(['log', '--grep=^Reprise-Run: ', '--format=%H%x1f%s%x1f%(trailers:only,unfold)%x1e', ...args]);
  return out
    .split('\x1e')
    .map((chunk) => chunk.trim())
    .filter(Boolean)
    .flatMap((chunk) => {
      const [commit, subject, trailers] = chunk.split('\x1f');
      const entry = feedEntryFromTrailers(commit!, subject!, parseTrailers(trailers ?? ''));
      return entry ? [entry] : [];
    });
}

/** Sweep summaries on the current branch, newest first: commit, id and trailers. */
export async function readSweeps(root: string): Promise<{ commit: string; sweepId: string; trailers: Record<string, string> }[]> {
  const git = new Git(root);
  if (!(await git.revParse('HEAD'))) return [];
  const out = await git.run(['log', '--grep=^Reprise-Kind: sweep$', '--format=%H%x1f%(trailers:only,unfold)%x1e']);
  return out
    .split('\x1e')
    .map((chunk) => chunk.trim())
    .filter(Boolean)
    .flatMap((chunk) => {
      const [commit, text] = chunk.split('\x1f');
      const trailers = parseTrailers(text ?? '');
      return trailers['Reprise-Sweep'] ? [{ commit: commit!, sweepId: trailers['Reprise-Sweep'], trailers }] : [];
    });
}

/** A recorded sweep's summary by id or unique prefix (with or without "sweep-"). */
export async function readSweepRecord(root: string, idOrPrefix: string): Promise<{ commit: string; record: SweepRecord }> {
  const sweeps = await readSweeps(root);
  const sweepId = matchId(sweeps.map((s) => s.sweepId), idOrPrefix, 'sweep');
  const found = sweeps.find((s) => s.sweepId === sweepId);
  if (!found) throw notFound(`no recorded sweep "${idOrPrefix}" in this project; list them with: reprise log`);
  const record = JSON.parse(await new Git(root).run(['show', `${found.commit}:${recordPath(found.sweepId)}`])) as SweepRecord;
  return { commit: found.commit, record };
}

const FEED_CACHE = 'reprise-feed-cache.json';
const FEED_CACHE_VERSION = 1;
interface FeedCache {
  version: number;
  head: string;
  entries: FeedEntry[];
}

/**
 * The whole feed of `head`. Reading it from git costs ~20 ms per 1,000 commits (trailers are
 * parsed per commit), so it is kept in the git directory keyed by the commit it was read at
 * (commits never change): the same head is read from there, and a head that only added
 * commits after it, one parent each, adds their entries in front. Anything else (a merge, a
 * branch switch, a reset) reads the whole log again. A cache that cannot be read or written is
 * ignored: it only ever saves time.
 */
async function wholeFeed(git: Git, head: string): Promise<FeedEntry[]> {
  const file = join(await git.gitDir(), FEED_CACHE);
  const cached = await readFile(file, 'utf8')
    .then((text) => JSON.parse(text) as FeedCache)
    .catch(() => undefined);
  const usable = cached?.version === FEED_CACHE_VERSION && typeof cached.head === 'string' && Array.isArray(cached.entries) ? cached : undefined;
  if (usable?.head === head) return usable.entries;
  const entries =
    usable && (await onlyAddsTo(git, usable.head, head)) ? [...(await logFeed(git, [`${usable.head}..${head}`])), ...usable.entries] : await logFeed(git, [head]);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify({ version: FEED_CACHE_VERSION, head, entries } satisfies FeedCache))
    .then(() => rename(tmp, file))
    .catch(() => rm(tmp, { force: true }).catch(() => undefined));
  return entries;
}

const GREP_CACHE_VERSION = 1;
interface GrepCache {
  version: number;
  grep: string;
  format: string;
  head: string;
  chunks: string[];
}

/**
 * `git log --grep=<grep> --format=<format> HEAD` as its chunks (the output split at \x1e, which
 * the format must end with), newest first, cached in the git directory under `name` like the
 * whole feed (wholeFeed): the same head is read from the cache, a head that only added commits
 * adds theirs in front, anything else reads the whole log again. For the kinds of commit that
 * must be found in the whole history (lab sessions) on every `reprise log`: scanning 10,000
 * commits costs 0.1–0.4 s, the cache a file read.
 */
export async function cachedGrepLog(root: string, name: string, grep: string, format: string): Promise<string[]> {
  const git = new Git(root);
  const head = await git.revParse('HEAD');
  if (!head) return [];
  const file = join(await git.gitDir(), name);
  const cached = await readFile(file, 'utf8')
    .then((text) => JSON.parse(text) as GrepCache)
    .catch(() => undefined);
  const usable =
    cached?.version === GREP_CACHE_VERSION && cached.grep === grep && cached.format === format && typeof cached.head === 'string' && Array.isArray(cached.chunks)
      ? cached
      : undefined;
  if (usable?.head === head) return usable.chunks;
  const read = async (range: string) =>
    (await git.run(['log', `--grep=${grep}`, `--format=${format}`, range]))
      .split('\x1e')
      .map((chunk) => chunk.trim())
      .filter(Boolean);
  const chunks = usable && (await onlyAddsTo(git, usable.head, head)) ? [...(await read(`${usable.head}..${head}`)), ...usable.chunks] : await read(head);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify({ version: GREP_CACHE_VERSION, grep, format, head, chunks } satisfies GrepCache))
    .then(() => rename(tmp, file))
    .catch(() => rm(tmp, { force: true }).catch(() => undefined));
  return chunks;
}

/**
 * True when `to` is `from` plus a chain of commits with one parent each. Then `git log to` walks
 * that chain first and continues exactly as `git log from`, so the feed of `from` can be reused.
 */
async function onlyAddsTo(git: Git, from: string, to: string): Promise<boolean> {
  const out = await git.tryRun(['rev-list', '--parents', `${from}..${to}`]);
  const lines = (out ?? '').split('\n').filter(Boolean).map((line) => line.split(' '));
  if (lines.length === 0) return false; // not a descendant (or git failed)
  return lines.every(([, ...parents], i) => parents.length === 1 && parents[0] === (i + 1 < lines.length ? lines[i + 1]![0] : from));
}

/** Resolve a run id or unique prefix against the feed. */
export async function findRun(root: string, idOrPrefix: string): Promise<FeedEntry> {
  const feed = await readFeed(root);
  const runId = matchRunId(feed.map((e) => e.runId), idOrPrefix);
  if (runId) return feed.find((e) => e.runId === runId)!;
  throw notFound(`no recorded run "${idOrPrefix}" in this project; list runs with: reprise log`);
}

/**
 * The run a record stands for when it is rerun: a reused run's original (found on any branch, as
 * reuse finds it), any other run itself.
 */
export async function executedRecord(root: string, record: RunRecord): Promise<RunRecord> {
  if (!record.reusedFrom) return record;
  const commit = (await new Git(root).run(['log', '--branches', '-F', `--grep=Reprise-Run: ${record.reusedFrom}`, '-n1', '--format=%H'])).trim();
  if (!commit) throw notFound(`run ${record.runId} reused ${record.reusedFrom}, which no branch holds any more`);
  return readRunRecord(root, { runId: record.reusedFrom, commit });
}

/** A run's record and its log. */
export async function readRecord(root: string, entry: Pick<FeedEntry, 'runId' | 'commit'>): Promise<{ record: RunRecord; log: string }> {
  const [record, log] = await Promise.all([readRunRecord(root, entry), new Git(root).tryRun(['show', `${entry.commit}:${logPath(entry.runId)}`])]);
  return { record, log: log ?? '' };
}

/** A recorded run's log as it is read from git, chunk by chunk (a reader of a large log holds one chunk at a time). */
export function recordedLogChunks(root: string, entry: Pick<FeedEntry, 'runId' | 'commit'>, signal?: AbortSignal): AsyncGenerator<string> {
  return new Git(root).stream(['cat-file', 'blob', `${entry.commit}:${logPath(entry.runId)}`], signal);
}

/** A run's record alone (its log can be large). */
export async function readRunRecord(root: string, entry: Pick<FeedEntry, 'runId' | 'commit'>): Promise<RunRecord> {
  return JSON.parse(await new Git(root).run(['show', `${entry.commit}:${recordPath(entry.runId)}`])) as RunRecord;
}
