import { badInput } from '../errors.js';
import { Git, gitReason } from './git.js';
import { findRun, withRecordLock } from './history.js';
import { USER_FILES_PATHSPEC } from './layout.js';
import { integrate, type Integrated, type Keep } from './merge.js';

export interface Branch {
  name: string;
  current: boolean;
  commit: string;
  subject: string;
  /** Set for a branch only a remote has (seen at the last sync or clone); switching to it brings it here. */
  remote?: string;
}

export async function listBranches(root: string): Promise<Branch[]> {
  const out = await new Git(root).run(['for-each-ref', 'refs/heads', 'refs/remotes', '--format=%(HEAD)%00%(refname)%00%(objectname)%00%(subject)']);
  const all = out
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [head, ref, commit, subject] = line.split('\0') as [string, string, string, string];
      const remote = /^refs\/remotes\/([^/]+)\/(.+)$/.exec(ref);
      return { name: remote ? remote[2]! : ref.slice('refs/heads/'.length), current: head === '*', commit, subject, remote: remote?.[1] };
    });
  const local = new Set(all.filter((b) => !b.remote).map((b) => b.name));
  return all.filter((b) => !b.remote || (b.name !== 'HEAD' && !local.has(b.name)));
}

async function requireBranch(git: Git, name: string): Promise<string> {
  const commit = await git.revParse(`refs/heads/${name}`);
  if (commit) return commit;
  throw badInput(`no branch "${name}"; branches: ${(await listBranches(git.dir)).map((b) => b.name).join(', ')}`);
}

/** A new branch at the current commit, or at the source commit of a recorded run (a rollback branch). */
export async function createBranch(root: string, name: string, fromRun?: string): Promise<{ name: string; commit: string; fromRun?: string }> {
  const git = new Git(root);
  if (name.startsWith('-') || (await git.tryRun(['check-ref-format', '--branch', name])) === undefined) {
    throw badInput(`invalid branch name "${name}"; use letters, digits, /, - and _`);
  }
  const run = fromRun ? await findRun(root, fromRun) : undefined;
  const commit = run ? run.sourceCommit : await git.revParse('HEAD');
  if (!commit) throw badInput('the project has no commits yet');
  // Create only: the branch must not exist (an empty old value makes update-ref refuse otherwise).
  if (!(await git.updateRef(`refs/heads/${name}`, commit, '', `reprise: branch ${name}`))) throw badInput(`branch "${name}" exists already; pick another name`);
  return { name, commit, fromRun: run?.runId };
}

/** Uncommitted edits in the user's files (output/ and activity records are Reprise's own). */
async function pendingEdits(git: Git): Promise<string[]> {
  const out = await git.run(['status', '--porcelain=v1', '-z', '--untracked-files=all', '--', ...USER_FILES_PATHSPEC]);
  return out
    .split('\0')
    .filter((e) => /^.. /.test(e))
    .map((e) => e.slice(3));
}

/**
 * Check out another branch. Refused with uncommitted edits, which would follow the user to the
 * other branch. Under the record lock, so a run recording now sees which branch is checked out.
 */
export async function switchBranch(root: string, name: string): Promise<{ name: string; commit: string }> {
  const git = new Git(root);
  const remoteOnly = (await listBranches(root)).filter((b) => b.name === name && b.remote);
  if (remoteOnly.length > 1) throw badInput(`branch "${name}" is on several remotes (${remoteOnly.map((b) => b.remote).join(', ')}); create it from one: git switch -c ${name} --track REMOTE/${name}`);
  const commit = remoteOnly[0]?.commit ?? (await requireBranch(git, name));
  const edits = await pendingEdits(git);
  if (edits.length > 0) {
    throw badInput(
      `uncommitted edits in ${edits.slice(0, 3).join(', ')}${edits.length > 3 ? ` and ${edits.length - 3} more` : ''}; commit them (git add -A && git commit) or undo them, then switch`,
    );
  }
  await withRecordLock(git, async () => {
    try {
      // A branch only a remote has becomes a local one that syncs with it (git switch's own guess).
      await git.run(['switch', '--quiet', name]);
    } catch (err) {
      throw badInput(`cannot switch to ${name}: ${gitReason(err)}`);
    }
  });
  return { name, commit };
}

export async function deleteBranch(root: string, name: string, force: boolean): Promise<{ name: string; commit: string }> {
  const git = new Git(root);
  const commit = await requireBranch(git, name);
  if ((await git.headRef()) === `refs/heads/${name}`) throw badInput(`"${name}" is the current branch; switch to another first`);
  const merged = (await git.tryRun(['merge-base', '--is-ancestor', commit, 'HEAD'])) !== undefined;
  if (!merged && !force) throw badInput(`branch "${name}" has commits the current branch lacks; merge it first (reprise branch merge ${name}) or delete with --force`);
  await git.run(['update-ref', '-d', `refs/heads/${name}`, commit]);
  return { name, commit };
}

/** Merge branch `name` into the current one; conflicts in the user's files need `keep`. */
export async function mergeBranch(root: string, name: string, keep?: Keep): Promise<Integrated & { merged: string }> {
  const theirs = await requireBranch(new Git(root), name);
  const result = await integrate(root, theirs, { keep, message: `Merge branch ${name}` });
  if ('conflicts' in result) {
    throw badInput(
      `merge stopped, nothing was changed: ${result.conflicts.length} file(s) changed on both branches: ${result.conflicts.join(', ')}; choose: reprise branch merge ${name} --keep mine | --keep theirs`,
    );
  }
  return { ...result, merged: name };
}
