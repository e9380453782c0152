import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createBranch, deleteBranch, listBranches, mergeBranch, switchBranch } from '../../../src/project/branches.js';
import { findRun, readFeed } from '../../../src/project/history.js';
import { git, makeProject, repoState } from '../../helpers/project.js';
import { recordFakeRun, runIds, startFakeRun, userError } from '../../helpers/sync.js';

describe('branches', () => {
  it('create --from RUN holds exactly that run\'s source commit, also a swept one', async () => {
    const { root } = await makeProject({ files: { 'code/x.py': 'v1\n' } });
    await writeFile(join(root, 'code/x.py'), 'v2, swept into the run\n');
    await recordFakeRun(root, 'run-old000000001');
    await writeFile(join(root, 'code/x.py'), 'v3\n');
    await recordFakeRun(root, 'run-new000000001');
    const old = await findRun(root, 'old0');
    const created = await createBranch(root, 'rollback', 'old0');
    expect(created).toEqual({ name: 'rollback', commit: old.sourceCommit, fromRun: 'run-old000000001' });
    expect(git(root, 'rev-parse', 'rollback').trim()).toBe(old.sourceCommit);
    expect(git(root, 'show', 'rollback:code/x.py')).toBe('v2, swept into the run\n');
    await switchBranch(root, 'rollback');
    expect(await readFile(join(root, 'code/x.py'), 'utf8')).toBe('v2, swept into the run\n');
    expect((await listBranches(root)).map((b) => [b.name, b.current])).toEqual([
      ['main', false],
      ['rollback', true],
    ]);
  });

  it('create: an existing or invalid name and an unknown run are bad input', async () => {
    const { root } = await makeProject();
    await createBranch(root, 'exp');
    expect((await userError(createBranch(root, 'exp'))).message).toBe('branch "exp" exists already; pick another name');
    expect((await userError(createBranch(root, 'bad..name'))).message).toMatch(/^invalid branch name "bad\.\.name"/);
    expect((await userError(createBranch(root, 'x', 'nosuchrun'))).message).toMatch(/^no recorded run "nosuchrun"/);
  });

  it('switch with uncommitted edits is refused (exit 2) and changes nothing; output/ changes do not block it', async () => {
    const { root } = await makeProject({ files: { 'code/x.py': 'v1\n' } });
    await createBranch(root, 'exp');
    await writeFile(join(root, 'output/scratch.txt'), 'not the user\'s code\n');
    await writeFile(join(root, 'code/x.py'), 'edited\n');
    await writeFile(join(root, 'code/new.py'), 'untracked\n');
    const before = repoState(root);
    const err = await userError(switchBranch(root, 'exp'));
    expect(err.exitCode).toBe(2);
    expect(err.message).toBe('uncommitted edits in code/x.py, code/new.py; commit them (git add -A && git commit) or undo them, then switch');
    expect(repoState(root)).toEqual(before);
    git(root, 'checkout', '-q', 'code/x.py');
    git(root, 'clean', '-fq', 'code');
    await switchBranch(root, 'exp');
    expect(git(root, 'symbolic-ref', 'HEAD').trim()).toBe('refs/heads/exp');
    expect((await userError(switchBranch(root, 'nope'))).message).toBe('no branch "nope"; branches: exp, main');
  });

  it('a run is recorded on the branch it started from, even after a switch while it ran', async () => {
    const { root } = await makeProject({ files: { 'code/x.py': 'v1\n' } });
    await createBranch(root, 'other');
    const run = await startFakeRun(root, 'run-started0main', { 'r.txt': 'result\n' });
    expect(run.snap.branch).toBe('refs/heads/main');
    await switchBranch(root, 'other');
    const onOther = repoState(root);
    const commit = await run.finish();
    expect(git(root, 'rev-parse', 'main').trim()).toBe(commit);
    expect(repoState(root)).toEqual({ ...onOther, refs: git(root, 'for-each-ref') }); // the other branch's tree untouched
    expect(existsSync(join(root, 'output/r.txt'))).toBe(false);
    expect(await readFeed(root)).toEqual([]);
    await switchBranch(root, 'main');
    expect(await runIds(root)).toEqual(['run-started0main']);
    expect(await readFile(join(root, 'output/r.txt'), 'utf8')).toBe('result\n');
    expect(await run.finish()).toBe(commit); // recording again finds it on its branch
  });

  it('merge brings the other branch\'s runs; a conflict stops unchanged until --keep', async () => {
    const { root } = await makeProject({ files: { 'code/x.py': 'v1\n' } });
    await createBranch(root, 'exp');
    await switchBranch(root, 'exp');
    await writeFile(join(root, 'code/x.py'), 'exp\n');
    await recordFakeRun(root, 'run-onexp0000001');
    await switchBranch(root, 'main');
    await writeFile(join(root, 'code/x.py'), 'main\n');
    await recordFakeRun(root, 'run-onmain000001');
    const before = repoState(root);
    const err = await userError(mergeBranch(root, 'exp'));
    expect(err.message).toBe(
      'merge stopped, nothing was changed: 1 file(s) changed on both branches: code/x.py; choose: reprise branch merge exp --keep mine | --keep theirs',
    );
    expect(repoState(root)).toEqual(before);
    expect(await mergeBranch(root, 'exp', 'theirs')).toMatchObject({ kind: 'merge', merged: 'exp', kept: { side: 'theirs', files: ['code/x.py'] } });
    expect(await readFile(join(root, 'code/x.py'), 'utf8')).toBe('exp\n');
    expect(await runIds(root)).toEqual(['run-onexp0000001', 'run-onmain000001']);
    expect(git(root, 'status', '--porcelain')).toBe('');
    expect(await mergeBranch(root, 'exp')).toMatchObject({ kind: 'up-to-date' });
  });

  it('delete refuses the current branch and unmerged work unless forced', async () => {
    const { root } = await makeProject();
    await createBranch(root, 'exp');
    await switchBranch(root, 'exp');
    await recordFakeRun(root, 'run-unmerged0001');
    expect((await userError(deleteBranch(root, 'exp', false))).message).toBe('"exp" is the current branch; switch to another first');
    await switchBranch(root, 'main');
    expect((await userError(deleteBranch(root, 'exp', false))).message).toMatch(/^branch "exp" has commits the current branch lacks/);
    await deleteBranch(root, 'exp', true);
    expect((await listBranches(root)).map((b) => b.name)).toEqual(['main']);
  });
});
