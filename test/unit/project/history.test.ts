import { describe, expect, it, vi } from 'vitest';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cachedGrepLog, digestTree, exportSources, findRun, readFeed, readRecord, recordRun, snapshotSources } from '../../../src/project/history.js';
import type { RunRecord } from '../../../src/project/run-record.js';
import { git, makeProject, repoState, tempDir } from '../../helpers/project.js';
import { RepriseError } from '../../../src/errors.js';
import { Git } from '../../../src/project/git.js';
import { sampleRecord } from './run-record.test.js';
import { fakeRunFiles } from '../../helpers/sync.js';

async function fakeRun(root: string, runId: string, sourceCommit: string, outputs: Record<string, string>) {
  const { outputsDir, logFile } = await fakeRunFiles(runId, outputs);
  const record: RunRecord = { ...sampleRecord, runId, sourceCommit, outputs: await digestTree(outputsDir, 'output') };
  return { record, outputsDir, logFile };
}

describe('snapshotSources', () => {
  it('uses HEAD when nothing is pending', async () => {
    const p = await makeProject();
    const before = repoState(p.root);
    expect(await snapshotSources(p.root, 'run-a')).toEqual({ sourceCommit: before.head, swept: false, branch: 'refs/heads/main' });
    expect(repoState(p.root)).toEqual(before);
  });

  it('sweeps pending edits into a new commit without moving the branch or touching the index', async () => {
    const p = await makeProject({ files: { 'code/a.py': 'print(1)\n' } });
    await writeFile(join(p.root, 'code/a.py'), 'print(2)\n');
    await writeFile(join(p.root, 'code/new.py'), 'new\n');
    await writeFile(join(p.root, 'output/stale.txt'), 'not swept\n');
    const before = repoState(p.root);
    const snap = await snapshotSources(p.root, 'run-b');
    expect(snap.swept).toBe(true);
    expect(repoState(p.root)).toEqual(before);
    expect(git(p.root, 'show', `${snap.sourceCommit}:code/a.py`)).toBe('print(2)\n');
    expect(git(p.root, 'show', `${snap.sourceCommit}:code/new.py`)).toBe('new\n');
    expect(git(p.root, 'ls-tree', '-r', '--name-only', snap.sourceCommit)).not.toContain('output/stale.txt');
    expect(git(p.root, 'rev-parse', `${snap.sourceCommit}^`).trim()).toBe(before.head);
  });

  it.each([
    ['a PEM private key', 'code/deploy-credentials', '-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----\n'],
    ['an OpenSSH private key', 'input/backup_ssh', '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----\n'],
    ['a key inside another file', 'code/notes.txt', 'see below\n-----BEGIN EC PRIVATE KEY-----\nMHcC\n-----END EC PRIVATE KEY-----\n'],
  ])('refuses to sweep %s into a commit, naming it, and leaves the project as it was', async (_, path, content) => {
    const p = await makeProject({ files: { 'code/a.py': 'v1\n' } });
    await writeFile(join(p.root, 'code/a.py'), 'v2\n');
    await writeFile(join(p.root, path), content);
    const before = repoState(p.root);
    const objects = git(p.root, 'count-objects');
    const err = await snapshotSources(p.root, 'run-k').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RepriseError);
    expect((err as RepriseError).kind).toBe('BadInput');
    expect((err as RepriseError).message).toBe(
      `${path} looks like a private key; Reprise will not commit it: move it out of the project (or add it to .gitignore) and run again`,
    );
    expect(repoState(p.root)).toEqual(before);
    expect(git(p.root, 'count-objects')).toBe(objects);
  });

  it('sweeps a public key and a file that only mentions private keys', async () => {
    const p = await makeProject();
    await writeFile(join(p.root, 'code/id_ed25519.pub'), 'ssh-ed25519 AAAAC3Nza me@host\n');
    await writeFile(join(p.root, 'code/howto.md'), 'A key starts with BEGIN OPENSSH PRIVATE KEY.\n');
    expect((await snapshotSources(p.root, 'run-p')).swept).toBe(true);
  });
});

describe('recordRun', () => {
  it('records exactly the outputs, log and record in one commit with trailers', async () => {
    const p = await makeProject();
    const head = git(p.root, 'rev-parse', 'HEAD').trim();
    const run = await fakeRun(p.root, 'run-aaaaaaaa2222', head, { 'result.txt': 'x=1\n' });
    const commit = await recordRun(p.root, run);
    expect(git(p.root, 'rev-parse', 'HEAD').trim()).toBe(commit);
    expect(git(p.root, 'diff-tree', '--no-commit-id', '--name-only', '-r', commit).trim().split('\n').sort()).toEqual([
      '.reprise/activity/run-aaaaaaaa2222.json',
      '.reprise/activity/run-aaaaaaaa2222.log',
      'output/result.txt',
    ]);
    expect(git(p.root, 'log', '-1', '--format=%(trailers:key=Reprise-Run,valueonly)').trim()).toBe('run-aaaaaaaa2222');
    expect(await readFile(join(p.root, 'output/result.txt'), 'utf8')).toBe('x=1\n');
    expect(git(p.root, 'status', '--porcelain')).toBe('');
    const [entry] = await readFeed(p.root);
    expect(entry).toMatchObject({ runId: 'run-aaaaaaaa2222', state: 'succeeded', commit });
    expect((await readRecord(p.root, entry!)).log).toBe('log of run-aaaaaaaa2222\n');
    expect((await findRun(p.root, 'aaaaaaaa')).commit).toBe(commit);
  });

  it('never commits unrelated edits, and keeps staged and unstaged work as it was', async () => {
    const p = await makeProject({ files: { 'code/a.py': 'v1\n', 'code/b.py': 'v1\n' } });
    const head = git(p.root, 'rev-parse', 'HEAD').trim();
    await writeFile(join(p.root, 'code/a.py'), 'edited meanwhile\n');
    await writeFile(join(p.root, 'code/b.py'), 'staged meanwhile\n');
    git(p.root, 'add', 'code/b.py');
    await writeFile(join(p.root, 'notes.txt'), 'untracked\n');
    const run = await fakeRun(p.root, 'run-bbbbbbbb2222', head, { 'r.txt': '1\n' });
    const commit = await recordRun(p.root, run);
    expect(git(p.root, 'show', `${commit}:code/a.py`)).toBe('v1\n');
    expect(git(p.root, 'show', `${commit}:code/b.py`)).toBe('v1\n');
    expect(git(p.root, 'status', '--porcelain').split('\n').filter(Boolean).sort()).toEqual(['?? notes.txt', 'M  code/b.py', ' M code/a.py'].sort());
    expect(await readFile(join(p.root, 'code/a.py'), 'utf8')).toBe('edited meanwhile\n');
  });

  it('keeps the record in the index while the user is in a merge conflict, so their merge commit keeps it', async () => {
    const p = await makeProject({ files: { 'code/a.py': 'base\n' } });
    git(p.root, 'checkout', '-qb', 'side');
    await writeFile(join(p.root, 'code/a.py'), 'side\n');
    git(p.root, 'commit', '-qam', 'side');
    git(p.root, 'checkout', '-q', 'main');
    await writeFile(join(p.root, 'code/a.py'), 'main\n');
    git(p.root, 'commit', '-qam', 'main');
    expect(() => git(p.root, 'merge', '-q', 'side')).toThrow();
    const run = await fakeRun(p.root, 'run-merge1112222', git(p.root, 'rev-parse', 'HEAD').trim(), { 'r.txt': '1\n' });
    const commit = await recordRun(p.root, run);
    expect(git(p.root, 'ls-files', '-s', 'code/a.py').trim().split('\n')).toHaveLength(3); // their conflict is theirs
    await writeFile(join(p.root, 'code/a.py'), 'resolved\n');
    git(p.root, 'add', 'code/a.py');
    git(p.root, 'commit', '-qm', 'merge side');
    const files = git(p.root, 'ls-tree', '-r', '--name-only', 'HEAD');
    expect(files).toContain('.reprise/activity/run-merge1112222.json');
    expect(files).toContain('output/r.txt');
    expect(git(p.root, 'rev-parse', 'HEAD^1').trim()).toBe(commit);
  });

  it('carries the record into the index when the user staged their own version of one of its outputs, keeping theirs', async () => {
    const p = await makeProject({ files: { 'output/r.txt': 'old\n' } });
    const head = git(p.root, 'rev-parse', 'HEAD').trim();
    await writeFile(join(p.root, 'output/r.txt'), 'mine\n');
    git(p.root, 'add', 'output/r.txt');
    await recordRun(p.root, await fakeRun(p.root, 'run-staged112222', head, { 'r.txt': 'run\n', 'other.txt': 'o\n' }));
    const staged = git(p.root, 'diff', '--cached', '--name-status', 'HEAD');
    expect(staged).not.toMatch(/activity|other\.txt/);
    expect(git(p.root, 'show', ':output/r.txt')).toBe('mine\n');
  });

  it('a retried record repairs an index left behind its commit', async () => {
    const p = await makeProject();
    const head = git(p.root, 'rev-parse', 'HEAD').trim();
    const run = await fakeRun(p.root, 'run-repair112222', head, { 'r.txt': '1\n' });
    const commit = await recordRun(p.root, run);
    git(p.root, 'read-tree', head); // as if the index could not follow the first time
    expect(git(p.root, 'diff', '--cached', '--name-only', 'HEAD')).toContain('.reprise/activity/run-repair112222.json');
    expect(await recordRun(p.root, run)).toBe(commit);
    expect(git(p.root, 'diff', '--cached', '--name-only', 'HEAD')).toBe('');
  });

  it('records a run whose branch was deleted while it ran on a branch named after the run, once', async () => {
    const p = await makeProject();
    git(p.root, 'checkout', '-qb', 'experiment');
    const source = git(p.root, 'rev-parse', 'HEAD').trim();
    git(p.root, 'checkout', '-q', 'main');
    git(p.root, 'branch', '-D', 'experiment');
    const run = await fakeRun(p.root, 'run-gone11112222', source, { 'r.txt': '1\n' });
    const commit = await recordRun(p.root, { ...run, branch: 'refs/heads/experiment' });
    expect(git(p.root, 'rev-parse', 'run-gone11112222').trim()).toBe(commit);
    expect(git(p.root, 'rev-parse', `${commit}^`).trim()).toBe(source);
    expect(git(p.root, 'show', `${commit}:output/r.txt`)).toBe('1\n');
    expect(await recordRun(p.root, { ...run, branch: 'refs/heads/experiment' })).toBe(commit);
    expect(git(p.root, 'rev-parse', 'HEAD').trim()).toBe(source); // main, checked out, untouched
  });

  it('is idempotent: recording the same run twice makes one commit', async () => {
    const p = await makeProject();
    const run = await fakeRun(p.root, 'run-cccccccc2222', git(p.root, 'rev-parse', 'HEAD').trim(), { 'r.txt': '1\n' });
    const first = await recordRun(p.root, run);
    expect(await recordRun(p.root, run)).toBe(first);
    expect((await readFeed(p.root)).length).toBe(1);
  });

  it("a commit of the user's landing between the record's read of the branch and its update-ref: both kept, the record on top", async () => {
    const p = await makeProject({ files: { 'code/a.py': 'v1\n' } });
    const head = git(p.root, 'rev-parse', 'HEAD').trim();
    const run = await fakeRun(p.root, 'run-race11112222', head, { 'r.txt': '1\n' });
    const commitTree = Git.prototype.commitTree;
    let userCommit = '';
    // The first record commit is built on `head`; the user commits before it is published.
    const spy = vi.spyOn(Git.prototype, 'commitTree').mockImplementation(async function (this: Git, ...args) {
      if (!userCommit) {
        await writeFile(join(p.root, 'code/a.py'), 'v2\n');
        git(p.root, 'commit', '-qam', 'the user commits meanwhile');
        userCommit = git(p.root, 'rev-parse', 'HEAD').trim();
      }
      return commitTree.apply(this, args);
    });
    try {
      const commit = await recordRun(p.root, run);
      expect(spy).toHaveBeenCalledTimes(2); // the swap failed once, the retry built on the user's commit
      expect(git(p.root, 'rev-parse', 'HEAD').trim()).toBe(commit);
      expect(git(p.root, 'rev-list', '--parents', '-n1', commit).trim().split(' ').slice(1)).toEqual([userCommit]);
      expect(git(p.root, 'rev-parse', `${userCommit}^`).trim()).toBe(head);
      expect(git(p.root, 'show', `${commit}:code/a.py`)).toBe('v2\n');
      expect(git(p.root, 'diff-tree', '--no-commit-id', '--name-only', '-r', commit).trim().split('\n').sort()).toEqual([
        '.reprise/activity/run-race11112222.json',
        '.reprise/activity/run-race11112222.log',
        'output/r.txt',
      ]);
      expect(git(p.root, 'status', '--porcelain')).toBe('');
      expect(await recordRun(p.root, run)).toBe(commit); // and a retried record adds nothing
      expect(git(p.root, 'rev-parse', 'HEAD').trim()).toBe(commit);
    } finally {
      spy.mockRestore();
    }
  });

  it("a user's `git commit` right after the record's update-ref, before their index follows: refused (index.lock held), so it cannot undo the record", async () => {
    const p = await makeProject({ files: { 'code/a.py': 'v1\n' } });
    const head = git(p.root, 'rev-parse', 'HEAD').trim();
    const run = await fakeRun(p.root, 'run-idxlock11122', head, { 'r.txt': '1\n' });
    await writeFile(join(p.root, 'code/a.py'), 'v2\n');
    git(p.root, 'add', 'code/a.py'); // staged by the user, committed the moment the branch moves
    const updateRef = Git.prototype.updateRef;
    let tried: string | undefined;
    const spy = vi.spyOn(Git.prototype, 'updateRef').mockImplementation(async function (this: Git, ...args) {
      const swapped = await updateRef.apply(this, args);
      if (swapped && tried === undefined) {
        try {
          git(p.root, 'commit', '-qm', 'the user commits as the branch moves');
          tried = 'committed';
        } catch (err) {
          tried = String((err as { stderr?: string }).stderr);
        }
      }
      return swapped;
    });
    try {
      const commit = await recordRun(p.root, run);
      // Before the fix the commit went through, made from the index without the record's files: it deleted them.
      expect(tried).toMatch(/index\.lock': File exists/);
      expect(git(p.root, 'rev-parse', 'HEAD').trim()).toBe(commit);
      commitAgainOnTop(p.root, commit, ['-qm', 'the user commits again']); // as a user would, once git lets them
    } finally {
      spy.mockRestore();
    }
  });

  it('a user committing before every swap does not starve the record: after 3 lost swaps it is built holding their index', async () => {
    const p = await makeProject({ files: { 'code/a.py': '0\n' } });
    const head = git(p.root, 'rev-parse', 'HEAD').trim();
    const run = await fakeRun(p.root, 'run-starve111222', head, { 'r.txt': '1\n' });
    const commitTree = Git.prototype.commitTree;
    const tries: string[] = [];
    // Each record commit built, the user commits before it is published (before the fix: 21 lost swaps, "kept moving").
    const spy = vi.spyOn(Git.prototype, 'commitTree').mockImplementation(async function (this: Git, ...args) {
      await writeFile(join(p.root, 'code/a.py'), `${tries.length + 1}\n`);
      try {
        git(p.root, 'commit', '-qam', `user ${tries.length + 1}`);
        tries.push('committed');
      } catch (err) {
        tries.push(/index\.lock': File exists/.test(String((err as { stderr?: string }).stderr)) ? 'index.lock' : String(err));
      }
      return commitTree.apply(this, args);
    });
    try {
      const commit = await recordRun(p.root, run);
      expect(tries).toEqual(['committed', 'committed', 'committed', 'index.lock']);
      expect(git(p.root, 'log', '--format=%s', '-n4', commit).trim().split('\n').slice(1)).toEqual(['user 3', 'user 2', 'user 1']);
      commitAgainOnTop(p.root, commit, ['-qam', 'user 4']); // the refused commit, again
    } finally {
      spy.mockRestore();
    }
  });

  it('takes over an index.lock a killed Reprise left, and waits for one a git of the user holds', async () => {
    const p = await makeProject({ files: { 'code/a.py': 'v1\n' } });
    const head = git(p.root, 'rev-parse', 'HEAD').trim();
    await writeFile(join(p.root, '.git/index.lock'), 'reprise: moving the index after its commit\n');
    const first = await recordRun(p.root, await fakeRun(p.root, 'run-stale1111222', head, { 'r.txt': '1\n' }));
    expect(git(p.root, 'status', '--porcelain')).toBe('');
    // A git of the user's holds the index: the record waits, then publishes and moves the index.
    await writeFile(join(p.root, '.git/index.lock'), '');
    const second = recordRun(p.root, await fakeRun(p.root, 'run-stale2222333', first, { 's.txt': '2\n' }));
    await new Promise((r) => setTimeout(r, 300));
    expect(git(p.root, 'rev-parse', 'HEAD').trim()).toBe(first); // nothing published while the user's git holds the index
    await rm(join(p.root, '.git/index.lock'));
    const recorded = await second;
    expect(git(p.root, 'rev-parse', 'HEAD').trim()).toBe(recorded);
    expect(git(p.root, 'status', '--porcelain')).toBe('');
  });

  it('records many runs finishing at the same moment, each with only its own outputs', async () => {
    const p = await makeProject();
    const head = git(p.root, 'rev-parse', 'HEAD').trim();
    const runs = await Promise.all(
      Array.from({ length: 6 }, (_, i) => fakeRun(p.root, `run-concur${i}aaa22`, head, { [`r${i}.txt`]: `${i}\n` })),
    );
    const commits = await Promise.all(runs.map((r) => recordRun(p.root, r)));
    expect(new Set(commits).size).toBe(6);
    const feed = await readFeed(p.root);
    expect(feed.map((e) => e.runId).sort()).toEqual(runs.map((r) => r.record.runId).sort());
    for (const [i, c] of commits.entries()) {
      const files = git(p.root, 'diff-tree', '--no-commit-id', '--name-only', '-r', `${c}^`, c).trim().split('\n');
      expect(files.filter((f) => f.startsWith('output/'))).toEqual([`output/r${i}.txt`]);
    }
    expect(git(p.root, 'status', '--porcelain')).toBe('');
  });

  it('puts a swept source commit into history: as parent, or as second parent once the branch moved', async () => {
    const p = await makeProject({ files: { 'code/a.py': 'v1\n' } });
    await writeFile(join(p.root, 'code/a.py'), 'v2\n');
    const snapA = await snapshotSources(p.root, 'run-a');
    const snapB = await snapshotSources(p.root, 'run-b');
    const a = await recordRun(p.root, await fakeRun(p.root, 'run-sweepaaa2222', snapA.sourceCommit, { 'a.txt': 'a' }));
    expect(git(p.root, 'rev-parse', `${a}^`).trim()).toBe(snapA.sourceCommit);
    expect(git(p.root, 'status', '--porcelain')).toBe('');
    const b = await recordRun(p.root, await fakeRun(p.root, 'run-sweepbbb2222', snapB.sourceCommit, { 'b.txt': 'b' }));
    expect(git(p.root, 'rev-list', '--parents', '-n1', b).trim().split(' ').slice(1)).toEqual([a, snapB.sourceCommit]);
  });
});

describe('exportSources', () => {
  it("gives a job the user's files of the commit, not the outputs and records of earlier runs", async () => {
    const p = await makeProject({ files: { 'code/a.py': 'print(1)\n', 'input/data.csv': '1,2\n' } });
    const head = git(p.root, 'rev-parse', 'HEAD').trim();
    const commit = await recordRun(p.root, await fakeRun(p.root, 'run-exportaa2222', head, { 'result.txt': 'x=1\n' }));
    const dest = join(await tempDir(), 'src');
    await exportSources(p.root, commit, dest);
    const files = git(p.root, 'ls-tree', '-r', '--name-only', commit).trim().split('\n');
    expect(files).toContain('.reprise/activity/run-exportaa2222.json');
    expect(files).toContain('output/result.txt');
    const exported = files.filter((f) => existsSync(join(dest, f)));
    expect(exported).toEqual(files.filter((f) => !f.startsWith('.reprise/activity/') && !f.startsWith('output/')));
    expect(exported).toEqual(expect.arrayContaining(['code/a.py', 'input/data.csv', '.reprise/project.yaml', '.reprise/environment.yaml']));
    expect(await readFile(join(dest, 'code/a.py'), 'utf8')).toBe('print(1)\n');
  });
});

describe('readFeed', () => {
  const uncached = async (root: string) => {
    await rm(join(root, '.git', 'reprise-feed-cache.json'), { force: true });
    return readFeed(root);
  };
  const record = async (root: string, runId: string) => recordRun(root, await fakeRun(root, runId, git(root, 'rev-parse', 'HEAD').trim(), {}));

  it('reads the same feed from its cache as from git: runs added, a merge, a reset, a branch switch', async () => {
    const p = await makeProject();
    await record(p.root, 'run-feedaaaa0001');
    const first = await readFeed(p.root);
    expect(existsSync(join(p.root, '.git', 'reprise-feed-cache.json'))).toBe(true);
    expect(await readFeed(p.root)).toEqual(first);
    await record(p.root, 'run-feedaaaa0002');
    await record(p.root, 'run-feedaaaa0003');
    const added = await readFeed(p.root); // extends the cached feed
    expect(added.map((e) => e.runId)).toEqual(['run-feedaaaa0003', 'run-feedaaaa0002', 'run-feedaaaa0001']);
    expect(added).toEqual(await uncached(p.root));
    git(p.root, 'checkout', '-q', '-b', 'side', 'HEAD~2');
    await record(p.root, 'run-feedaaaa0004');
    expect(await readFeed(p.root)).toEqual(await uncached(p.root)); // another branch
    await readFeed(p.root);
    git(p.root, 'checkout', '-q', 'main');
    git(p.root, 'merge', '-q', '--no-edit', 'side');
    const merged = await readFeed(p.root); // a merge since the cached head
    expect(merged.map((e) => e.runId).sort()).toEqual(['run-feedaaaa0001', 'run-feedaaaa0002', 'run-feedaaaa0003', 'run-feedaaaa0004']);
    expect(merged).toEqual(await uncached(p.root));
    await readFeed(p.root);
    git(p.root, 'reset', '-q', '--hard', 'HEAD~1');
    expect(await readFeed(p.root)).toEqual(await uncached(p.root)); // back in time
  });

  it('ignores a cache it cannot read, and one of another head that is not an ancestor', async () => {
    const p = await makeProject();
    await record(p.root, 'run-feedbbbb0001');
    const feed = await uncached(p.root);
    await writeFile(join(p.root, '.git', 'reprise-feed-cache.json'), '{"version":1,"head":');
    expect(await readFeed(p.root)).toEqual(feed);
    const elsewhere = { version: 1, head: '0'.repeat(40), entries: [{ ...feed[0], runId: 'run-elsewhere' }] };
    await writeFile(join(p.root, '.git', 'reprise-feed-cache.json'), JSON.stringify(elsewhere));
    expect(await readFeed(p.root)).toEqual(feed);
  });

  it('reads at most `limit` entries straight from git', async () => {
    const p = await makeProject();
    for (const id of ['run-feedcccc0001', 'run-feedcccc0002', 'run-feedcccc0003']) await record(p.root, id);
    expect((await readFeed(p.root, 2)).map((e) => e.runId)).toEqual(['run-feedcccc0003', 'run-feedcccc0002']);
  });
});

describe('cachedGrepLog', () => {
  const GREP = '^Reprise-Kind: lab$';
  const FORMAT = '%H%x1f%(trailers:only,unfold)%x1e';
  const CACHE = 'reprise-test-grep-cache.json';
  const lab = (root: string, n: number) => git(root, 'commit', '-q', '--allow-empty', '-m', `lab checkpoint ${n}`, '-m', `Reprise-Kind: lab\nReprise-Lab: lab-${n}`);
  const other = (root: string, n: number) => git(root, 'commit', '-q', '--allow-empty', '-m', `something else ${n}`);
  const uncached = async (root: string) => {
    await rm(join(root, '.git', CACHE), { force: true });
    return cachedGrepLog(root, CACHE, GREP, FORMAT);
  };

  it('reads the same commits from its cache as from git: commits added, a reset, a branch switch, a broken cache', async () => {
    const p = await makeProject();
    lab(p.root, 1);
    other(p.root, 1);
    const first = await cachedGrepLog(p.root, CACHE, GREP, FORMAT);
    expect(first).toHaveLength(1);
    expect(first[0]).toContain('Reprise-Lab: lab-1');
    expect(existsSync(join(p.root, '.git', CACHE))).toBe(true);
    expect(await cachedGrepLog(p.root, CACHE, GREP, FORMAT)).toEqual(first);
    lab(p.root, 2);
    other(p.root, 2);
    lab(p.root, 3);
    const added = await cachedGrepLog(p.root, CACHE, GREP, FORMAT); // extends the cached list
    expect(added.map((c) => /lab-(\d)/.exec(c)?.[1])).toEqual(['3', '2', '1']);
    expect(added).toEqual(await uncached(p.root));
    git(p.root, 'checkout', '-q', '-b', 'side', 'HEAD~3');
    expect(await cachedGrepLog(p.root, CACHE, GREP, FORMAT)).toEqual(first); // another branch, older
    await writeFile(join(p.root, '.git', CACHE), '{"version":1,"head":');
    expect(await cachedGrepLog(p.root, CACHE, GREP, FORMAT)).toEqual(first);
    git(p.root, 'checkout', '-q', 'main');
    // A cache written for another query is not used for this one.
    expect(await cachedGrepLog(p.root, CACHE, '^Reprise-Kind: nothing$', FORMAT)).toEqual([]);
    expect(await cachedGrepLog(p.root, CACHE, GREP, FORMAT)).toEqual(added);
  });
});

/** The user's refused commit, made again once git lets them: it lands on the record, changes only their file, and leaves no lock. */
function commitAgainOnTop(root: string, record: string, args: string[]): void {
  git(root, 'commit', ...args);
  expect(git(root, 'diff', '--name-only', record, 'HEAD').trim()).toBe('code/a.py');
  expect(git(root, 'status', '--porcelain')).toBe('');
  expect(existsSync(join(root, '.git/index.lock'))).toBe(false);
}
