import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ErrorKind } from '../../../src/errors.js';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createBranch, listBranches, switchBranch } from '../../../src/project/branches.js';
import { addRemote, cloneProject, listRemotes, removeRemote } from '../../../src/project/remotes.js';
import { abortSync, sync } from '../../../src/project/sync.js';
import { git, makeProject, repoState, tempDir } from '../../helpers/project.js';
import { bareRemote, recordFakeRun, refusePushes, runIds, startFakeRun, userError } from '../../helpers/sync.js';

/** Alice's project pushed to a fresh bare remote, and Bob's clone of it. */
async function twoClones(files: Record<string, string> = { 'code/x.py': 'x = 1\n', 'code/y.py': 'y = 1\n' }) {
  const remote = await bareRemote();
  const alice = (await makeProject({ files })).root;
  await addRemote(alice, 'origin', remote);
  expect(await sync(alice, {})).toMatchObject({ pushed: true, integrated: 'up-to-date' });
  const bob = (await cloneProject(remote, 'bob', await tempDir())).root;
  return { remote, alice, bob };
}

describe('remotes', () => {
  it('add, list and remove; an unknown or duplicate name is bad input', async () => {
    const { root } = await makeProject();
    await addRemote(root, 'lab', '/srv/lab.git');
    expect(await listRemotes(root)).toEqual([{ name: 'lab', url: '/srv/lab.git' }]);
    expect((await userError(addRemote(root, 'lab', '/x'))).message).toMatch(/^remote "lab" exists already/);
    expect((await userError(removeRemote(root, 'nope'))).message).toBe('no remote "nope"; remotes: lab (add one with: reprise remote add NAME URL)');
    await removeRemote(root, 'lab');
    expect(await listRemotes(root)).toEqual([]);
  });

  it('clone refuses a repository that is not a Reprise project and leaves nothing behind', async () => {
    const plain = join(await tempDir(), 'plain');
    git(dirname(plain), 'init', '-q', '-b', 'main', plain);
    await writeFile(join(plain, 'a.txt'), 'a\n');
    git(plain, 'add', '-A');
    git(plain, 'commit', '-qm', 'a');
    const where = await tempDir();
    const err = await userError(cloneProject(plain, 'copy', where));
    expect(err.exitCode).toBe(2);
    expect(err.message).toBe(`${plain} is not a Reprise project (no .reprise/project.yaml); nothing was cloned`);
    expect(await readdir(where)).toEqual([]);
  });

  it('clone of a plain `git init --bare` remote whose HEAD names master while the project pushed main checks out main and says so', async () => {
    const remote = join(await tempDir('reprise-remote-'), 'plain.git');
    git(dirname(remote), 'init', '-q', '--bare', remote);
    git(remote, 'symbolic-ref', 'HEAD', 'refs/heads/master');
    const alice = (await makeProject({ files: { 'code/x.py': 'x = 1\n' } })).root;
    await addRemote(alice, 'origin', remote);
    await sync(alice, {});
    const cloned = await cloneProject(remote, 'bob', await tempDir());
    expect(cloned.branch).toBe('main');
    expect(cloned.note).toBe(`${remote}'s HEAD names master, which it lacks; checked out main, the branch that holds the project`);
    expect(await readFile(join(cloned.root, 'code/x.py'), 'utf8')).toBe('x = 1\n');
    expect(git(cloned.root, 'rev-parse', '--abbrev-ref', 'HEAD').trim()).toBe('main');
    expect(git(cloned.root, 'rev-parse', '--abbrev-ref', 'main@{upstream}').trim()).toBe('origin/main');
    expect(git(cloned.root, 'status', '--porcelain')).toBe('');
  });

  it('clone of an unreachable URL: exit 3, nothing left behind', async () => {
    const where = await tempDir();
    const err = await userError(cloneProject('/nonexistent/repo.git', undefined, where));
    expect(err.exitCode).toBe(3);
    expect(err.message).toMatch(/^remote "\/nonexistent\/repo.git" is unreachable \(.*\); check the URL/);
    expect(await readdir(where)).toEqual([]);
  });
});

describe('sync', () => {
  it('two clones both record runs and edit files: sync integrates both feeds, sweeping pending edits, with no conflict', async () => {
    const { remote, alice, bob } = await twoClones();
    await recordFakeRun(alice, 'run-alice0000001', { 'a.txt': 'alice\n' });
    await writeFile(join(alice, 'code/x.py'), 'x = 2  # alice, not committed\n');
    await recordFakeRun(bob, 'run-bob000000001', { 'b.txt': 'bob\n' });
    await writeFile(join(bob, 'code/y.py'), 'y = 2  # bob, not committed\n');

    expect(await sync(alice, {})).toMatchObject({ swept: true, integrated: 'up-to-date', pushed: true });
    expect(await sync(bob, {})).toMatchObject({ swept: true, integrated: 'merge', pushed: true });
    expect(await sync(alice, {})).toMatchObject({ swept: false, integrated: 'fast-forward', pushed: false });

    for (const root of [alice, bob]) {
      expect(await runIds(root)).toEqual(['run-alice0000001', 'run-bob000000001']);
      expect(await readFile(join(root, 'code/x.py'), 'utf8')).toBe('x = 2  # alice, not committed\n');
      expect(await readFile(join(root, 'code/y.py'), 'utf8')).toBe('y = 2  # bob, not committed\n');
      expect(git(root, 'status', '--porcelain')).toBe('');
    }
    expect(git(alice, 'rev-parse', 'HEAD')).toBe(git(remote, 'rev-parse', 'main'));
    expect(git(alice, 'rev-parse', 'origin/main')).toBe(git(remote, 'rev-parse', 'main'));
  });

  it('a file changed on both sides stops the sync with the file list and changes nothing; --abort keeps it so', async () => {
    const { alice, bob } = await twoClones();
    await writeFile(join(alice, 'code/x.py'), 'x = "alice"\n');
    await sync(alice, {});
    await recordFakeRun(bob, 'run-bob000000002');
    await writeFile(join(bob, 'code/x.py'), 'x = "bob"\n'); // uncommitted: must survive everything
    await writeFile(join(bob, 'code/y.py'), 'y = "bob"\n');
    const before = repoState(bob);
    const err = await userError(sync(bob, {}));
    expect(err.kind).toBe(ErrorKind.badInput);
    expect(err.message).toBe(
      'sync stopped, nothing was changed: 1 file(s) changed both here and on origin: code/x.py; choose: reprise sync --keep mine | reprise sync --keep theirs | reprise sync --abort',
    );
    expect(repoState(bob)).toEqual(before);
    expect(await abortSync(bob)).toEqual({ aborted: true, remote: 'origin', branch: 'main', files: ['code/x.py'] });
    expect(repoState(bob)).toEqual(before);
    expect(await abortSync(bob)).toEqual({ aborted: false, files: [] });
  });

  it('--keep mine and --keep theirs take the conflicting file whole from one side, merge the rest, and push', async () => {
    const { remote, alice, bob } = await twoClones();
    await writeFile(join(alice, 'code/x.py'), 'x = "alice"\n');
    await writeFile(join(alice, 'code/y.py'), 'y = "alice"\n');
    await recordFakeRun(alice, 'run-alice0000003');
    await sync(alice, {});
    await writeFile(join(bob, 'code/x.py'), 'x = "bob"\n');
    await writeFile(join(bob, 'code/z.py'), 'z = "bob"\n');
    await recordFakeRun(bob, 'run-bob000000003');

    const mine = await sync(bob, { keep: 'mine' });
    expect(mine).toMatchObject({ integrated: 'merge', pushed: true, kept: { side: 'mine', files: ['code/x.py'] } });
    expect(await readFile(join(bob, 'code/x.py'), 'utf8')).toBe('x = "bob"\n');
    expect(await readFile(join(bob, 'code/y.py'), 'utf8')).toBe('y = "alice"\n');
    expect(git(remote, 'show', 'main:code/x.py')).toBe('x = "bob"\n');
    expect(git(remote, 'show', 'main:code/z.py')).toBe('z = "bob"\n');
    expect(git(bob, 'status', '--porcelain')).toBe('');

    await sync(alice, {});
    expect(await runIds(alice)).toEqual(['run-alice0000003', 'run-bob000000003']);
    await writeFile(join(alice, 'code/x.py'), 'x = "alice again"\n');
    await sync(alice, {});
    await writeFile(join(bob, 'code/x.py'), 'x = "bob again"\n');
    expect(await sync(bob, { keep: 'theirs' })).toMatchObject({ kept: { side: 'theirs', files: ['code/x.py'] }, pushed: true });
    expect(await readFile(join(bob, 'code/x.py'), 'utf8')).toBe('x = "alice again"\n');
    // Nothing is lost: Bob's version stays in history, in the sweep commit that is the merge's parent.
    expect(git(bob, 'show', 'HEAD^1:code/x.py')).toBe('x = "bob again"\n');
    expect(git(bob, 'status', '--porcelain')).toBe('');
  });

  it('output/ files both sides changed never stop a sync: the local copy stays, each version is in its run commit', async () => {
    const { alice, bob } = await twoClones();
    const a = await recordFakeRun(alice, 'run-alice0000004', { 'result.txt': 'alice\n' });
    await sync(alice, {});
    await recordFakeRun(bob, 'run-bob000000004', { 'result.txt': 'bob\n' });
    expect(await sync(bob, {})).toMatchObject({ integrated: 'merge', pushed: true });
    expect(await readFile(join(bob, 'output/result.txt'), 'utf8')).toBe('bob\n');
    expect(git(bob, 'show', `${a}:output/result.txt`)).toBe('alice\n');
    expect(await runIds(bob)).toEqual(['run-alice0000004', 'run-bob000000004']);
  });

  it('environment locks both sides changed never stop a sync either: the local one stays, each in its run commit', async () => {
    const { alice, bob } = await twoClones();
    const commitLock = async (root: string, text: string) => {
      await writeFile(join(root, '.reprise/environment.lock'), text);
      git(root, 'add', '.reprise/environment.lock');
      git(root, 'commit', '-qm', 'lock');
      return git(root, 'rev-parse', 'HEAD').trim();
    };
    const a = await commitLock(alice, '[apt]\njq=1.6\n');
    await sync(alice, {});
    await commitLock(bob, '[apt]\njq=1.7\n');
    expect(await sync(bob, {})).toMatchObject({ integrated: 'merge', pushed: true });
    expect(await readFile(join(bob, '.reprise/environment.lock'), 'utf8')).toBe('[apt]\njq=1.7\n');
    expect(git(bob, 'show', `${a}:.reprise/environment.lock`)).toBe('[apt]\njq=1.6\n');
  });

  it('a remote that refuses the push: exit 3 with the reason, and the fetched commits stay merged (pull still works)', async () => {
    const { remote, alice, bob } = await twoClones();
    await recordFakeRun(alice, 'run-alice0000005');
    await sync(alice, {});
    await refusePushes(remote);
    const remoteHead = git(remote, 'rev-parse', 'main');
    await recordFakeRun(bob, 'run-bob000000005');
    const err = await userError(sync(bob, {}));
    expect(err.exitCode).toBe(3);
    expect(err.message).toBe('remote "origin" refused the push (pre-receive hook declined); you may have read access only: ask for write access');
    expect(await runIds(bob)).toEqual(['run-alice0000005', 'run-bob000000005']);
    expect(git(bob, 'rev-parse', 'origin/main')).toBe(remoteHead);
    expect(git(remote, 'rev-parse', 'main')).toBe(remoteHead);
    expect(git(bob, 'status', '--porcelain')).toBe('');
  });

  it('unknown remote, no remote and an unreachable remote: a one-line error, its exit code, the project untouched', async () => {
    const { root } = await makeProject({ files: { 'code/x.py': '1\n' } });
    await writeFile(join(root, 'code/x.py'), 'pending\n');
    const before = repoState(root);
    const none = await userError(sync(root, {}));
    expect([none.exitCode, none.message]).toEqual([2, 'this project has no remote; add one: reprise remote add origin URL']);
    await addRemote(root, 'origin', '/nonexistent/remote.git');
    const stateWithRemote = repoState(root);
    const unknown = await userError(sync(root, { remote: 'lab' }));
    expect([unknown.exitCode, unknown.message]).toEqual([2, 'no remote "lab"; remotes: origin (add one with: reprise remote add NAME URL)']);
    const unreachable = await userError(sync(root, {}));
    expect(unreachable.exitCode).toBe(3);
    expect(unreachable.message).toMatch(/^remote "origin" is unreachable \(.*'\/nonexistent\/remote.git' does not appear to be a git repository\); check the URL/);
    expect(repoState(root)).toEqual(stateWithRemote);
    expect(stateWithRemote.diff).toBe(before.diff);
  });

  it('a run recorded while a sync moves the branch is kept: both end up in the branch', async () => {
    const { alice, bob } = await twoClones();
    for (let i = 0; i < 4; i++) {
      await recordFakeRun(alice, `run-alice000010${i}`);
      await writeFile(join(alice, 'code/x.py'), `x = ${i}\n`);
      await sync(alice, {});
      // Bob's run started before the sync and finishes while it merges and pushes.
      const run = await startFakeRun(bob, `run-bob00000010${i}`, { [`b${i}.txt`]: `${i}\n` });
      await Promise.all([sync(bob, {}), run.finish()]);
      const ids = await runIds(bob);
      expect(ids).toContain(`run-alice000010${i}`);
      expect(ids).toContain(`run-bob00000010${i}`);
      expect(git(bob, 'status', '--porcelain')).toBe('');
      expect(existsSync(join(bob, `output/b${i}.txt`))).toBe(true);
    }
    await sync(bob, {});
    await sync(alice, {});
    expect((await runIds(alice)).length).toBe(8);
  });

  it('a branch pushed by one clone reaches the other: listed after a sync, switched to with its runs', async () => {
    const { alice, bob } = await twoClones();
    await createBranch(alice, 'exp');
    await switchBranch(alice, 'exp');
    await recordFakeRun(alice, 'run-onexp0000006');
    expect(await sync(alice, {})).toMatchObject({ branch: 'exp', pushed: true });
    await sync(bob, {});
    expect((await listBranches(bob)).map((b) => [b.name, b.current, b.remote])).toEqual([
      ['main', true, undefined],
      ['exp', false, 'origin'],
    ]);
    await switchBranch(bob, 'exp');
    expect(await runIds(bob)).toEqual(['run-onexp0000006']);
    expect((await listBranches(bob)).map((b) => [b.name, b.current, b.remote])).toEqual([
      ['exp', true, undefined],
      ['main', false, undefined],
    ]);
    expect(await sync(bob, {})).toMatchObject({ remote: 'origin', branch: 'exp', integrated: 'up-to-date', pushed: false });
  });

  it('a remote that refuses the credentials: exit 3 naming it, the project untouched', async () => {
    // A real HTTP git endpoint that answers every request with 401, as a host does for a bad token.
    const server = createServer((_req, res) => res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="git"' }).end());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const { root } = await makeProject();
      await addRemote(root, 'origin', `http://alice:wrong@127.0.0.1:${(server.address() as AddressInfo).port}/proj.git`);
      const before = repoState(root);
      const err = await userError(sync(root, {}));
      expect(err.exitCode).toBe(3);
      expect(err.message).toMatch(/^remote "origin" refused your credentials \(Authentication failed for 'http:\/\/127\.0\.0\.1:\d+\/proj\.git\/'\); check your SSH key or token$/);
      expect(repoState(root)).toEqual(before);
    } finally {
      server.close();
    }
  });

  it('a merge that would overwrite a local file git does not track (output/) is refused before anything moves', async () => {
    const { alice, bob } = await twoClones();
    await recordFakeRun(alice, 'run-alice0000007', { 'r.txt': 'alice\n' });
    await sync(alice, {});
    await writeFile(join(bob, 'output/r.txt'), 'bob, not recorded\n');
    await writeFile(join(bob, 'code/x.py'), 'pending\n');
    const before = repoState(bob);
    const err = await userError(sync(bob, {}));
    expect([err.exitCode, err.message]).toEqual([2, "merging would overwrite your edits to output/r.txt, nothing was changed; keep them elsewhere (or commit them: git add -f 'output/r.txt' && git commit) and try again"]);
    expect(repoState(bob)).toEqual(before);
    expect(await readFile(join(bob, 'output/r.txt'), 'utf8')).toBe('bob, not recorded\n');
  });

  it('a detached HEAD is bad input', async () => {
    const { alice } = await twoClones();
    git(alice, 'checkout', '-q', '--detach');
    expect((await userError(sync(alice, {}))).message).toBe('HEAD is detached (not on a branch); switch to one first: reprise branch switch NAME');
  });

  it('a remote holding another project is refused, nothing changed', async () => {
    const { remote } = await twoClones();
    const { root } = await makeProject({ name: 'other' });
    await addRemote(root, 'origin', remote);
    const before = repoState(root);
    expect((await userError(sync(root, {}))).message).toBe('the two histories share no commit (a different project?); nothing was changed');
    expect(repoState(root)).toEqual(before);
  });
});
