import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { digestTree } from '../../../src/project/history.js';
import { PublishedProject } from '../../../src/project/published.js';
import { addRemote } from '../../../src/project/remotes.js';
import { findKeyedRun } from '../../../src/project/run-key.js';
import type { RunRecord } from '../../../src/project/run-record.js';
import { sync } from '../../../src/project/sync.js';
import { git, makeProject, tempDir } from '../../helpers/project.js';
import { bareRemote, fakeRunFiles, refusePushes, userError } from '../../helpers/sync.js';

const MAIN = 'refs/heads/main';

/** Alice's project pushed to a fresh bare remote (a file path, as a worker would be given a URL). */
async function pushedProject() {
  const remote = await bareRemote();
  const alice = (await makeProject({ files: { 'code/x.py': 'x = 1\n' } })).root;
  await addRemote(alice, 'origin', remote);
  await sync(alice, {});
  return { remote, alice, source: git(remote, 'rev-parse', 'main').trim() };
}

/** What publishRun hands to publish: a record of a finished run, its collected outputs and log, the lock. */
async function teamRun(runId: string, sourceCommit: string, outputs: Record<string, string>, worker = 'alice-worker') {
  const { outputsDir, logFile } = await fakeRunFiles(runId, outputs);
  const record: RunRecord = {
    version: 1,
    runId,
    project: { name: 'proj', id: 'p1' },
    command: ['python3', 'code/x.py'],
    state: 'succeeded',
    exitCode: 0,
    backend: { name: 'hpc', kind: 'slurm', jobId: '42' },
    sourceCommit,
    image: { digest: `sha256:${'b'.repeat(64)}`, reference: `registry.example/proj@sha256:${'e'.repeat(64)}` },
    environment: 'c'.repeat(64),
    resources: {},
    startedAt: '2026-11-30T10:00:00.000Z',
    finishedAt: '2026-11-30T10:00:01.000Z',
    worker,
    outputs: await digestTree(outputsDir, 'output'),
    log: { path: `.reprise/activity/${runId}.log`, sha256: 'd'.repeat(64), size: 0 },
  };
  return { record, outputsDir, logFile, files: [{ path: '.reprise/environment.lock', content: `[image]\nrun ${runId}\n` }] };
}

/** The run ids recorded on the remote's branch, one per record commit (duplicates kept). */
const remoteRunIds = (remote: string) =>
  git(remote, 'log', '--format=%(trailers:key=Reprise-Run,valueonly)', 'main')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .sort();

const trailers = (repo: string, rev: string) => git(repo, 'log', '-1', '--format=%(trailers:only,unfold)', rev);

describe('PublishedProject', () => {
  it('publishes a record to the remote branch: its outputs, log, JSON, lock and trailers, on top of the tip', async () => {
    const { remote, source } = await pushedProject();
    const project = new PublishedProject(await tempDir('reprise-home-'), remote, MAIN);
    expect(await project.withCommit(source)).toBe(project.root);
    const commit = await project.publish(await teamRun('run-team00000001', source, { 'result.txt': 'answer 42\n' }));

    expect(git(remote, 'rev-parse', 'main').trim()).toBe(commit);
    expect(git(remote, 'rev-parse', 'main^').trim()).toBe(source);
    expect(git(remote, 'show', 'main:output/result.txt')).toBe('answer 42\n');
    expect(git(remote, 'show', 'main:.reprise/activity/run-team00000001.log')).toBe('log of run-team00000001\n');
    expect(JSON.parse(git(remote, 'show', 'main:.reprise/activity/run-team00000001.json'))).toMatchObject({ runId: 'run-team00000001', worker: 'alice-worker', sourceCommit: source });
    expect(git(remote, 'show', 'main:.reprise/environment.lock')).toBe('[image]\nrun run-team00000001\n');
    expect(git(remote, 'show', 'main:code/x.py')).toBe('x = 1\n');
    const t = trailers(remote, 'main');
    expect(t).toContain('Reprise-Run: run-team00000001\n');
    expect(t).toContain('Reprise-State: succeeded\n');
    expect(t).toContain(`Reprise-Source-Commit: ${source}\n`);
    expect(t).toContain('Reprise-Worker: alice-worker\n');
    expect(git(remote, 'log', '-1', '--format=%s', 'main').trim()).toBe('run team0000: python3 code/x.py [succeeded]');
    // The cache is bare and holds the branch as published: nothing of it is a working tree.
    expect(git(project.root, 'rev-parse', '--is-bare-repository').trim()).toBe('true');
    expect(git(project.root, 'rev-parse', MAIN).trim()).toBe(commit);
  });

  it('publishing the same run again returns the same commit and adds nothing, from the same cache or another worker', async () => {
    const { remote, source } = await pushedProject();
    const run = await teamRun('run-again0000001', source, { 'a.txt': 'a\n' });
    const project = new PublishedProject(await tempDir('reprise-home-'), remote, MAIN);
    const commit = await project.publish(run);
    expect(await project.publish(run)).toBe(commit);
    // Another worker (its own cache, which has never seen the remote) retries the step.
    const other = new PublishedProject(await tempDir('reprise-home-'), remote, MAIN);
    expect(await other.publish(await teamRun('run-again0000001', source, { 'a.txt': 'a\n' }, 'bob-worker'))).toBe(commit);
    // The remote moved on since (someone's sync): still found, still not recorded twice.
    const bob = await tempDir();
    git(bob, 'clone', '-q', remote, 'c');
    await writeFile(join(bob, 'c/code/y.py'), 'y = 1\n');
    git(join(bob, 'c'), 'add', '-A');
    git(join(bob, 'c'), 'commit', '-qm', 'bob adds y');
    git(join(bob, 'c'), 'push', '-q', 'origin', 'main');
    const tip = git(remote, 'rev-parse', 'main').trim();
    expect(await project.publish(run)).toBe(commit);
    expect(git(remote, 'rev-parse', 'main').trim()).toBe(tip);
    expect(remoteRunIds(remote)).toEqual(['run-again0000001']);
    expect(git(remote, 'rev-list', '--count', 'main').trim()).toBe(String(Number(git(remote, 'rev-list', '--count', source).trim()) + 2));
  });

  it('12 runs published at once by 3 workers (separate caches) all land, each exactly once', async () => {
    const { remote, source } = await pushedProject();
    const homes = [await tempDir('reprise-home-'), await tempDir('reprise-home-'), await tempDir('reprise-home-')];
    const ids = Array.from({ length: 12 }, (_, i) => `run-race${String(i).padStart(8, '0')}`);
    const runs = await Promise.all(ids.map((id, i) => teamRun(id, source, { [`r${i}.txt`]: `${id}\n` }, `worker-${i % 3}`)));
    // One PublishedProject per run, as the activities make them: runs of one worker share its cache.
    const commits = await Promise.all(runs.map((run, i) => new PublishedProject(homes[i % 3]!, remote, MAIN).publish(run)));

    expect(remoteRunIds(remote)).toEqual([...ids].sort());
    const onBranch = new Set(git(remote, 'rev-list', 'main').split('\n').filter(Boolean));
    for (const c of commits) expect(onBranch.has(c)).toBe(true);
    expect(new Set(commits).size).toBe(12);
    // Every run's files are at the tip: no record was lost by a later one built on an older tip.
    const files = git(remote, 'ls-tree', '-r', '--name-only', 'main').split('\n');
    for (const [i, id] of ids.entries()) {
      expect(files).toContain(`.reprise/activity/${id}.json`);
      expect(git(remote, 'show', `main:output/r${i}.txt`)).toBe(`${id}\n`);
    }
    // A straight line of 12 record commits on the source: pushed without force, never merged.
    expect(git(remote, 'rev-list', '--count', `${source}..main`).trim()).toBe('12');
    expect(git(remote, 'rev-list', '--merges', `${source}..main`).trim()).toBe('');
  });

  it('a push that loses the race inside the remote (its branch moved after it was advertised) is retried, not taken for a refusal', async () => {
    const { remote, source } = await pushedProject();
    // Bob's commit, waiting on a side branch of the remote...
    const bob = join(await tempDir(), 'bob');
    git(join(bob, '..'), 'clone', '-q', remote, 'bob');
    await writeFile(join(bob, 'code/y.py'), 'y = 1\n');
    git(bob, 'add', '-A');
    git(bob, 'commit', '-qm', 'bob adds y');
    git(bob, 'push', '-q', 'origin', 'HEAD:refs/heads/bob');
    const bobs = git(bob, 'rev-parse', 'HEAD').trim();
    // ...lands on main while the remote handles the worker's first push, as a concurrent writer's
    // would: git then rejects that push with "cannot lock ref … but expected …" (failed to update ref).
    await writeFile(
      join(remote, 'hooks/pre-receive'),
      '#!/bin/sh\n[ -e raced ] && exit 0\ntouch raced\nenv -u GIT_QUARANTINE_PATH git update-ref refs/heads/main refs/heads/bob\n',
      { mode: 0o755 },
    );
    const project = new PublishedProject(await tempDir('reprise-home-'), remote, MAIN);
    const commit = await project.publish(await teamRun('run-lostrace0001', source, { 'a.txt': 'a\n' }));
    expect(existsSync(join(remote, 'raced'))).toBe(true);
    expect(git(remote, 'rev-parse', 'main').trim()).toBe(commit);
    expect(git(remote, 'rev-parse', 'main^').trim()).toBe(bobs);
    expect(remoteRunIds(remote)).toEqual(['run-lostrace0001']);
    expect(git(project.root, 'for-each-ref', 'refs/reprise/unpublished')).toBe('');
  });

  it('a remote that refuses the push: one-line error naming the kept ref, which holds the record commit in the cache', async () => {
    const { remote, source } = await pushedProject();
    await refusePushes(remote);
    const project = new PublishedProject(await tempDir('reprise-home-'), remote, MAIN);
    const err = await userError(project.publish(await teamRun('run-refused00001', source, { 'a.txt': 'a\n' })));
    expect(err.exitCode).toBe(3);
    expect(err.message).not.toContain('\n');
    expect(err.message).toMatch(/^the worker could not publish run run-refused00001: remote ".*" refused the push \(pre-receive hook declined\)/);
    expect(err.message).toContain(`as refs/reprise/unpublished/run-refused00001 in ${project.root}`);
    const kept = git(project.root, 'rev-parse', '--verify', 'refs/reprise/unpublished/run-refused00001').trim();
    expect(err.message).toContain(`record commit ${kept.slice(0, 12)} is kept`);
    expect(trailers(project.root, kept)).toContain('Reprise-Run: run-refused00001\n');
    expect(git(project.root, 'show', `${kept}:output/a.txt`)).toBe('a\n');
    expect(git(remote, 'rev-parse', 'main').trim()).toBe(source);
  });

  it("a worker that reaches the remote under another URL (git's url.<base>.insteadOf) fetches and publishes through it", async () => {
    const { remote, source } = await pushedProject();
    const asNamed = 'https://git.example.invalid/team/shared.git'; // how the submitting clone names it
    const saved = { ...process.env };
    Object.assign(process.env, { GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: `url.${dirname(remote)}/.insteadOf`, GIT_CONFIG_VALUE_0: 'https://git.example.invalid/team/' });
    try {
      const project = new PublishedProject(await tempDir('reprise-home-'), asNamed, MAIN);
      expect(await project.withCommit(source)).toBe(project.root);
      const commit = await project.publish(await teamRun('run-insteadof001', source, { 'a.txt': 'a\n' }));
      expect(git(remote, 'rev-parse', 'main').trim()).toBe(commit);
    } finally {
      for (const key of ['GIT_CONFIG_COUNT', 'GIT_CONFIG_KEY_0', 'GIT_CONFIG_VALUE_0']) delete process.env[key];
      Object.assign(process.env, saved);
    }
  });

  it('an unreachable remote fails fetch with a message naming it (exit 3); a missing branch names reprise sync', async () => {
    const home = await tempDir('reprise-home-');
    const gone = join(await tempDir(), 'gone.git');
    const err = await userError(new PublishedProject(home, gone, MAIN).fetch());
    expect(err.exitCode).toBe(3);
    expect(err.message).toMatch(new RegExp(`^the worker cannot reach the project's remote: remote "${gone}" is unreachable \\(.+\\)`));
    expect(err.message).not.toContain('\n');

    const { remote } = await pushedProject();
    const missing = await userError(new PublishedProject(home, remote, 'refs/heads/nope').fetch());
    expect(missing.exitCode).toBe(2);
    expect(missing.message).toBe(`${remote} has no branch nope; sync the project (reprise sync) and run again`);
  });

  it('withCommit fetches a commit pushed since, and refuses one that is not on the branch, naming reprise sync', async () => {
    const { remote, alice, source } = await pushedProject();
    const project = new PublishedProject(await tempDir('reprise-home-'), remote, MAIN);
    await project.fetch();
    await writeFile(join(alice, 'code/x.py'), 'x = 2\n');
    git(alice, 'commit', '-qam', 'not pushed yet');
    const local = git(alice, 'rev-parse', 'HEAD').trim();

    const err = await userError(project.withCommit(local));
    expect(err.exitCode).toBe(2);
    expect(err.message).toBe(`source commit ${local.slice(0, 12)} is not on main of ${remote}; sync the project (reprise sync) and run again`);
    expect(existsSync(project.root)).toBe(true);
    expect(await project.withCommit(source)).toBe(project.root);

    await sync(alice, {});
    expect(await project.withCommit(local)).toBe(project.root);
    expect(git(project.root, 'cat-file', '-t', local).trim()).toBe('commit');
  });
  it("withAllBranches: a team worker's reuse lookup sees a run recorded on any branch of the remote, and no longer one whose branch the remote deleted", async () => {
    const { remote, source } = await pushedProject();
    git(remote, 'branch', 'other', 'main');
    const key = `sha256:${'a'.repeat(64)}`;
    // Recorded on the remote's other branch by one worker (its own cache) …
    const run = await teamRun('run-keyed0000001', source, { 'k.txt': 'k\n' });
    const recorded = await new PublishedProject(await tempDir('reprise-home-'), remote, 'refs/heads/other').publish({ ...run, record: { ...run.record, key } });
    // … looked up by another worker whose cache has only fetched main so far.
    const project = new PublishedProject(await tempDir('reprise-home-'), remote, MAIN);
    await project.fetch();
    expect(await findKeyedRun(project.root, key)).toBeUndefined();
    expect(await project.withAllBranches(source)).toBe(project.root);
    expect(await findKeyedRun(project.root, key)).toEqual({ key, runId: 'run-keyed0000001', commit: recorded, exitCode: 0 });
    expect(git(project.root, 'rev-parse', 'refs/heads/other').trim()).toBe(recorded);

    // The branch is deleted on the remote: pruned from the cache, the run is no longer found.
    git(remote, 'branch', '-D', 'other');
    await project.withAllBranches(source);
    expect(git(project.root, 'for-each-ref', '--format=%(refname)', 'refs/heads').trim()).toBe(MAIN);
    expect(await findKeyedRun(project.root, key)).toBeUndefined();

    // A commit on no branch of the remote: exit 2 naming reprise sync.
    const err = await userError(project.withAllBranches(source, recorded.replace(/^./, (c) => (c === '0' ? '1' : '0'))));
    expect(err.exitCode).toBe(2);
    expect(err.message).toMatch(/^commit [0-9a-f]{12} is on no branch of .*; sync the project \(reprise sync\) and run again$/);
  });
});
