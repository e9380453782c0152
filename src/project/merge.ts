import { copyFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { shellQuote } from '../shell-quote.js';
import { badInput, type RepriseError } from '../errors.js';
import { Git, gitReason } from './git.js';
import { sweepPendingWork, withRecordLock, withTempIndex } from './history.js';
import { ACTIVITY_DIR, ENVIRONMENT_LOCK } from './layout.js';

/** Which side a file changed on both sides is taken from, whole. */
export const keepChoices = ['mine', 'theirs'] as const;
export type Keep = (typeof keepChoices)[number];

export interface Integrated {
  /** The branch that moved (refs/heads/…). */
  branch: string;
  before: string;
  head: string;
  /** Pending edits were swept into a commit first. */
  swept: boolean;
  kind: 'up-to-date' | 'fast-forward' | 'merge';
  /** Files changed on both sides, and the side they were taken from. */
  kept?: { side: Keep; files: string[] };
}

/** Files changed on both sides that need the user's choice; nothing was changed. */
export interface Stopped {
  conflicts: string[];
}

/**
 * Reprise's own files: a conflict there never needs the user (see resolveConflicts). Besides
 * what runs produce (outside USER_FILES_PATHSPEC), the environment lock: it is swept like the
 * user's files (a run's source carries it), but runs write it and each version stays in the
 * commit of the run it names.
 */
const isOwn = (path: string) => path.startsWith('output/') || path.startsWith(`${ACTIVITY_DIR}/`) || path === ENVIRONMENT_LOCK;

/**
 * Bring `theirs` (a commit, or nothing) into the current branch: sweep pending edits into a
 * commit, merge in the object store (`git merge-tree`, nothing on disk changes), and only if
 * that succeeds move the working tree, the index and the branch together. A conflict in the
 * user's files without `keep` returns the files and leaves everything as it was.
 */
export async function integrate(root: string, theirs: string | undefined, options: { keep?: Keep; message: string; untrack?: string[] }): Promise<Integrated | Stopped> {
  const git = new Git(root);
  const branch = `refs/heads/${await checkedOutBranch(git)}`;
  for (let attempt = 0; attempt < 10; attempt++) {
    const before = (await git.revParse(branch))!;
    const snap = await sweepPendingWork(root, `integrate-${process.pid}`, 'Sweep uncommitted changes before merging\n', options.untrack);
    const merged = await mergeCommits(git, snap.sourceCommit, theirs, options);
    if ('conflicts' in merged) return merged;
    const result = { branch, before, head: merged.commit, swept: snap.swept, kind: merged.kind, kept: merged.kept };
    if (result.head === before) return result;
    // Under the record lock, so a run finishing now is recorded before or after, never lost.
    const moved = await withRecordLock(git, async () => {
      if ((await git.revParse(branch)) !== before || (await git.headRef()) !== branch) return false;
      await moveTo(git, branch, before, snap.sourceCommit, merged.commit);
      return true;
    });
    if (moved) return result;
  }
  throw new Error(`${branch} kept moving while merging; try again`);
}

/** The name of the branch HEAD is on; merging and syncing need one. */
export async function checkedOutBranch(git: Git): Promise<string> {
  const ref = await git.headRef();
  if (ref === 'HEAD') throw badInput('HEAD is detached (not on a branch); switch to one first: reprise branch switch NAME');
  return ref.slice('refs/heads/'.length);
}

type Merged = { commit: string; kind: Integrated['kind']; kept?: Integrated['kept'] } | Stopped;

async function mergeCommits(git: Git, ours: string, theirs: string | undefined, options: { keep?: Keep; message: string }): Promise<Merged> {
  const isAncestor = async (a: string, b: string) => (await git.tryRun(['merge-base', '--is-ancestor', a, b])) !== undefined;
  if (!theirs || (await isAncestor(theirs, ours))) return { commit: ours, kind: 'up-to-date' };
  if (await isAncestor(ours, theirs)) return { commit: theirs, kind: 'fast-forward' };
  if ((await git.tryRun(['merge-base', ours, theirs])) === undefined) throw badInput('the two histories share no commit (a different project?); nothing was changed');
  const { code, stdout } = await git.runWithCode(['merge-tree', '--write-tree', '--name-only', '--no-messages', '-z', ours, theirs]);
  if (code > 1) throw new Error(`git merge-tree failed (${code})`);
  const [tree, ...conflicts] = stdout.split('\0').filter(Boolean);
  const mine = conflicts.filter((p) => !isOwn(p));
  if (mine.length > 0 && !options.keep) return { conflicts: mine };
  const resolved = conflicts.length === 0 ? tree! : await resolveConflicts(git, tree!, conflicts, ours, options.keep === 'theirs' ? theirs : ours);
  const note = mine.length > 0 ? `\nFiles changed on both sides, kept from ${options.keep === 'theirs' ? 'theirs' : 'mine'}:\n${mine.map((p) => `  ${p}`).join('\n')}\n` : '';
  const commit = await git.commitTree(resolved, [ours, theirs], `${options.message}\n${note}`, await git.identityEnv());
  return { commit, kind: 'merge', kept: mine.length > 0 ? { side: options.keep!, files: mine } : undefined };
}

/**
 * Take each conflicting file whole from one side. Reprise's own files (output/ and the
 * environment lock, whose every version stays in its run's commit) keep the local copy; the
 * user's files follow `keep`.
 */
async function resolveConflicts(git: Git, tree: string, conflicts: string[], ours: string, kept: string): Promise<string> {
  return withTempIndex(git, `resolve-${process.pid}`, async (env) => {
    await git.run(['read-tree', tree], { env });
    for (const path of conflicts) {
      const side = isOwn(path) ? ours : kept;
      const entry = (await git.run(['ls-tree', '-z', side, '--', path])).split('\0')[0];
      if (entry) {
        const [mode, , oid] = entry.split(/\s/);
        await git.run(['update-index', '--add', '--cacheinfo', `${mode},${oid},${path}`], { env });
      } else {
        await git.run(['update-index', '--force-remove', '--', path], { env });
      }
    }
    return (await git.run(['write-tree'], { env })).trim();
  });
}

/**
 * Local files the merge would overwrite: edits under output/ (never swept: runs write there),
 * untracked files the other side adds. They are the user's: refused, named, nothing changed.
 */
function wouldOverwrite(err: unknown): RepriseError {
  const stderr = String((err as { stderr?: string }).stderr ?? err);
  const files = [...stderr.matchAll(/(?:Entry|working tree file) '([^']+)' (?:not uptodate|would be overwritten)/g)].map((m) => m[1]!);
  if (files.length === 0) return badInput(`merging would overwrite local files, nothing was changed (${gitReason(err)}); move them away and retry`);
  const list = files.join(', ');
  return badInput(`merging would overwrite your edits to ${list}, nothing was changed; keep them elsewhere (or commit them: git add -f ${files.map(shellQuote).join(' ')} && git commit) and try again`);
}

/**
 * Move branch, working tree and index from `from` (the swept state the working tree holds) to
 * `to`. read-tree refuses to overwrite a file edited since the sweep or an untracked file; the
 * dry run checks that before the branch moves, so a refusal leaves everything as it was.
 */
async function moveTo(git: Git, branch: string, before: string, from: string, to: string): Promise<void> {
  await withTempIndex(git, `move-${process.pid}`, async (env) => {
    await git.run(['read-tree', from], { env });
    await git.tryRun(['update-index', '-q', '--refresh'], { env }); // stat info, so unchanged files count as clean
    try {
      await git.run(['read-tree', '-m', '-u', '-n', from, to], { env });
    } catch (err) {
      throw wouldOverwrite(err);
    }
    if (!(await git.updateRef(branch, to, before, 'reprise: merge'))) throw new Error(`${branch} moved while merging; try again`);
    try {
      await git.run(['read-tree', '-m', '-u', from, to], { env });
    } catch (err) {
      await git.updateRef(branch, before, to, 'reprise: undo merge');
      throw badInput(`a file changed while merging, nothing was changed; try again (${gitReason(err)})`);
    }
    await replaceIndex(git, env.GIT_INDEX_FILE!);
  });
}

/** Install `file` as the index the way git does (through index.lock), so no git command sees half of it. */
async function replaceIndex(git: Git, file: string): Promise<void> {
  const index = join(await git.gitDir(), 'index');
  const lock = `${index}.lock`;
  for (let i = 0; ; i++) {
    try {
      await copyFile(file, lock, 1); // COPYFILE_EXCL: fails while another git command holds the index
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || i >= 20) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  try {
    await rename(lock, index);
  } catch (err) {
    await rm(lock, { force: true });
    throw err;
  }
}
