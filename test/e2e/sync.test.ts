import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Cli, cliEnv, type CliResult } from '../helpers/cli.js';
import { git, repoState, tempDir } from '../helpers/project.js';
import { BUSYBOX, requireDocker } from '../helpers/docker.js';
import { bareRemote, refusePushes } from '../helpers/sync.js';

let cli: Cli;
let work: string;

beforeAll(async () => {
  requireDocker();
  work = await tempDir('reprise-e2e-sync-');
  cli = new Cli(await cliEnv(await tempDir('reprise-e2e-sync-home-')));
});

afterAll(async () => {
  if (cli) await cli.run(['agent', 'stop'], work);
});

interface Feed {
  runId: string;
  state: string;
  sourceCommit: string;
}

/** The one-line error a command ended with, and its exit code. */
const failure = (r: CliResult) => ({ code: r.code, error: r.stderr.trimEnd().split('\n').at(-1) });

async function ok(args: string[], cwd: string): Promise<string> {
  const r = await cli.run(args, cwd);
  expect(r.code, `reprise ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

/** Alice's project on a bare remote, with one real run, and Bob's clone of it. */
async function aliceAndBob(name: string) {
  const remote = await bareRemote();
  await ok(['init', name, '--name', name, '--base', BUSYBOX], work);
  const alice = join(work, name);
  await writeFile(join(alice, 'code/x.sh'), 'echo x > output/x.txt\n');
  await ok(['run', '--', 'sh', '-c', 'echo alice > output/alice.txt'], alice);
  await ok(['remote', 'add', 'origin', remote], alice);
  await ok(['sync'], alice);
  await ok(['clone', remote, `${name}-bob`], work);
  return { remote, alice, bob: join(work, `${name}-bob`) };
}

describe('sharing a project through a git remote', () => {
  it('two clones run and sync: both feeds list every run; conflicts stop unchanged and --keep / --abort resolve them', async () => {
    const { alice, bob } = await aliceAndBob('shared');
    expect(await cli.json<{ name: string; url: string }[]>(['remote', 'list'], bob)).toEqual([{ name: 'origin', url: expect.stringMatching(/shared\.git$/) }]);
    await ok(['run', '--', 'sh', '-c', 'echo bob > output/bob.txt'], bob);
    await writeFile(join(alice, 'code/x.sh'), 'echo alice-edit > output/x.txt\n');
    await ok(['run', '--', 'sh', 'code/x.sh'], alice);
    expect(await cli.json<{ integrated: string; pushed: boolean }>(['sync'], alice)).toMatchObject({ integrated: 'up-to-date', pushed: true });
    expect(await cli.json<{ integrated: string; pushed: boolean }>(['sync'], bob)).toMatchObject({ integrated: 'merge', pushed: true });
    await ok(['sync'], alice);
    const aliceFeed = await cli.json<Feed[]>(['log'], alice);
    expect(aliceFeed).toHaveLength(3);
    expect((await cli.json<Feed[]>(['log'], bob)).map((e) => e.runId).sort()).toEqual(aliceFeed.map((e) => e.runId).sort());

    // Both edit code/x.sh; Bob's edit is not committed and must survive the stop and the abort.
    await writeFile(join(alice, 'code/x.sh'), 'echo alice-2 > output/x.txt\n');
    await ok(['sync'], alice);
    await writeFile(join(bob, 'code/x.sh'), 'echo bob-2 > output/x.txt\n');
    const before = repoState(bob);
    const stopped = await cli.run(['sync'], bob);
    expect(failure(stopped)).toEqual({
      code: 2,
      error: 'Error: sync stopped, nothing was changed: 1 file(s) changed both here and on origin: code/x.sh; choose: reprise sync --keep mine | reprise sync --keep theirs | reprise sync --abort',
    });
    expect(repoState(bob)).toEqual(before);
    expect(await ok(['sync', '--abort'], bob)).toBe('sync abandoned; the project is as it was before it\n');
    expect(repoState(bob)).toEqual(before);

    const mine = await cli.json<{ kept: { side: string; files: string[] } }>(['sync', '--keep', 'mine'], bob);
    expect(mine.kept).toEqual({ side: 'mine', files: ['code/x.sh'] });
    expect(await readFile(join(bob, 'code/x.sh'), 'utf8')).toBe('echo bob-2 > output/x.txt\n');
    await ok(['sync'], alice);
    expect(await readFile(join(alice, 'code/x.sh'), 'utf8')).toBe('echo bob-2 > output/x.txt\n');

    await writeFile(join(alice, 'code/x.sh'), 'echo alice-3 > output/x.txt\n');
    await ok(['sync'], alice);
    await writeFile(join(bob, 'code/x.sh'), 'echo bob-3 > output/x.txt\n');
    expect((await cli.run(['sync', '--keep', 'theirs'], bob)).stderr).toBe('kept theirs for: code/x.sh\n');
    expect(await readFile(join(bob, 'code/x.sh'), 'utf8')).toBe('echo alice-3 > output/x.txt\n');
    expect(git(bob, 'status', '--porcelain')).toBe('');
  });

  it('a read-only remote refuses the push: exit 3, and the pull part is kept', async () => {
    const { remote, alice, bob } = await aliceAndBob('readonly');
    await writeFile(join(alice, 'code/new.sh'), 'echo new\n');
    await ok(['sync'], alice);
    await refusePushes(remote);
    await writeFile(join(bob, 'code/bob.sh'), 'echo bob\n');
    const r = await cli.run(['sync'], bob);
    expect(failure(r)).toEqual({ code: 3, error: 'Error: remote "origin" refused the push (pre-receive hook declined); you may have read access only: ask for write access' });
    expect(await readFile(join(bob, 'code/new.sh'), 'utf8')).toBe('echo new\n');
    expect(git(bob, 'show', 'HEAD:code/bob.sh')).toBe('echo bob\n');
  });

  it('bad input: unknown remote, a clone that is not a project, a corrupt export; each with its exit code and nothing changed', async () => {
    const { alice } = await aliceAndBob('bad');
    const before = repoState(alice);
    expect(failure(await cli.run(['sync', '--remote', 'lab'], alice))).toEqual({ code: 2, error: 'Error: no remote "lab"; remotes: origin (add one with: reprise remote add NAME URL)' });
    expect(failure(await cli.run(['remote', 'remove', 'lab'], alice))).toMatchObject({ code: 2 });
    await ok(['remote', 'add', 'gone', '/nonexistent/gone.git'], alice);
    expect(failure(await cli.run(['sync', '--remote', 'gone'], alice))).toEqual({
      code: 3,
      error: expect.stringMatching(/^Error: remote "gone" is unreachable \(.*\); check the URL \(reprise remote list\) and your network$/),
    });
    await ok(['remote', 'remove', 'gone'], alice);
    expect(repoState(alice)).toEqual(before);

    const empty = await tempDir();
    git(empty, 'init', '-q', 'plain');
    expect(failure(await cli.run(['clone', join(empty, 'plain'), 'x'], empty))).toEqual({ code: 2, error: `Error: ${join(empty, 'plain')} is not a Reprise project (no .reprise/project.yaml); nothing was cloned` });
    expect(await readdir(empty)).toEqual(['plain']);

    const files = await tempDir();
    await writeFile(join(files, 'broken.bundle'), '# v2 git bundle\nnot really\n');
    const corrupt = await cli.run(['import', 'broken.bundle', '--json'], files);
    expect(corrupt.code).toBe(2);
    expect(JSON.parse(corrupt.stdout)).toEqual({ error: { kind: 'BadInput', message: expect.stringMatching(/broken\.bundle is not a valid Reprise export \(.+\); nothing was imported$/), exitCode: 2 } });
    expect(await readdir(files)).toEqual(['broken.bundle']);

    const exported = await cli.json<{ file: string; branches: number }>(['export', join(files, 'bad.bundle')], alice);
    expect(exported.branches).toBe(1);
    const imported = await cli.json<{ root: string; head: string }>(['import', 'bad.bundle'], files);
    expect(imported).toMatchObject({ root: join(files, 'bad'), head: 'main' });
    expect(await cli.json<Feed[]>(['log'], imported.root)).toEqual(await cli.json<Feed[]>(['log'], alice));
  });
});

describe('branches from the activity feed', () => {
  it('a rollback branch holds the run\'s source; a dirty switch is refused; a run started on main is recorded on main after a switch', async () => {
    await ok(['init', 'branches', '--name', 'branches', '--base', BUSYBOX], work);
    const root = join(work, 'branches');
    await writeFile(join(root, 'code/v.sh'), 'echo v1 > output/v.txt\n');
    await ok(['run', '--', 'sh', 'code/v.sh'], root);
    const [first] = await cli.json<Feed[]>(['log'], root);
    await writeFile(join(root, 'code/v.sh'), 'echo v2 > output/v.txt\n');
    await ok(['run', '--', 'sh', 'code/v.sh'], root);

    const created = await cli.json<{ commit: string; fromRun: string }>(['branch', 'create', 'rollback', '--from', first!.runId.slice(4, 10)], root);
    expect(created).toEqual({ name: 'rollback', commit: first!.sourceCommit, fromRun: first!.runId });
    expect(git(root, 'show', 'rollback:code/v.sh')).toBe('echo v1 > output/v.txt\n');

    await writeFile(join(root, 'code/v.sh'), 'echo pending > output/v.txt\n');
    const before = repoState(root);
    expect(failure(await cli.run(['branch', 'switch', 'rollback'], root))).toEqual({
      code: 2,
      error: 'Error: uncommitted edits in code/v.sh; commit them (git add -A && git commit) or undo them, then switch',
    });
    expect(repoState(root)).toEqual(before);
    git(root, 'checkout', '-q', 'code/v.sh');

    const started = await cli.run(['run', '--detach', '--', 'sh', '-c', 'sleep 4; echo late > output/late.txt'], root);
    expect(started.code, started.stderr).toBe(0);
    const runId = started.stdout.trim();
    // Switch once the run has started (its sources, and so its branch, are fixed by then).
    for (let i = 0; i < 240; i++) {
      const rows = await cli.json<{ runId: string; state: string }[]>(['runs'], root);
      if (rows.some((r) => r.runId === runId && r.state === 'running')) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    await ok(['branch', 'switch', 'rollback'], root);
    expect((await cli.run(['logs', runId, '--follow'], root)).code).toBe(0);
    for (let i = 0; i < 40 && !git(root, 'log', '--format=%s', 'main').includes(runId.slice(4, 12)); i++) await new Promise((r) => setTimeout(r, 250));
    expect(git(root, 'log', '-1', '--format=%(trailers:key=Reprise-Run,valueonly)', 'main').trim()).toBe(runId);
    expect(git(root, 'symbolic-ref', 'HEAD').trim()).toBe('refs/heads/rollback');
    expect(existsSync(join(root, 'output/late.txt'))).toBe(false);
    expect(git(root, 'status', '--porcelain')).toBe('');
    expect(await cli.json<Feed[]>(['log'], root)).toEqual([]);
    const branches = await cli.json<{ name: string; current: boolean }[]>(['branch', 'list'], root);
    expect(branches.map((b) => [b.name, b.current])).toEqual([
      ['main', false],
      ['rollback', true],
    ]);
    await ok(['branch', 'switch', 'main'], root);
    expect((await cli.json<Feed[]>(['log', '-n', '1'], root))[0]!.runId).toBe(runId);
    expect(await readFile(join(root, 'output/late.txt'), 'utf8')).toBe('late\n');
  });
});
