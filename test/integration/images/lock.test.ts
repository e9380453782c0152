import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type Docker from 'dockerode';
import type { FinishInput } from '../../../src/activities/types.js';
import { newRunId } from '../../../src/client/ids.js';
import { paths } from '../../../src/config/env.js';
import { dockerClient } from '../../../src/images/engine.js';
import { captureLock } from '../../../src/images/lock-capture.js';
import { LOCK_FILE, diffLocks, parseLock, specHash } from '../../../src/images/lock.js';
import { buildProjectEnvironment, plannedBuild, plannedBuildAt, recordedLock, type ProjectBuild } from '../../../src/images/locked-build.js';
import { RepriseError } from '../../../src/errors.js';
import { environmentHash } from '../../../src/project/environment.js';
import { recordRun } from '../../../src/project/history.js';
import { saveEnvironment } from '../../../src/project/layout.js';
import type { EnvironmentSpec } from '../../../src/project/schema.js';
import { git, makeProject, tempDir } from '../../helpers/project.js';
import { BUSYBOX, requireDocker } from '../../helpers/docker.js';
import { testActivities } from '../../helpers/temporal.js';

const DEBIAN = 'local/debian-python:bookworm';
const docker: Docker = dockerClient();
// python3-pip: pip freeze sees what Debian installed (pip installs themselves need a CA for PyPI here).
const spec: EnvironmentSpec = { base: DEBIAN, packages: { apt: ['jq', 'python3-pip'], pip: [], conda: [] }, dockerfile: [] };
const trust = { proxy: {} };
let home: string;
let root: string;
const tags: string[] = [];

beforeAll(async () => {
  requireDocker();
  home = await tempDir('reprise-home-');
  root = (await makeProject({ base: DEBIAN, name: 'locktest' })).root;
  await saveEnvironment(root, spec);
  git(root, 'commit', '-qam', 'jq');
});

afterAll(() => {
  for (const tag of tags) execFileSync('docker', ['rmi', '-f', tag], { stdio: 'ignore' });
});

async function build(locked: boolean): Promise<ProjectBuild> {
  const started = performance.now();
  const result = await buildProjectEnvironment(docker, { home, root, projectName: 'locktest', spec, locked, trust });
  tags.push(result.request.tag);
  console.log(`${locked ? 'locked' : 'unlocked'} build ${Math.round(performance.now() - started)} ms (reused: ${result.built.reused}), lock capture ${result.captureMs} ms`);
  return result;
}

/** Remove the image and its cached lock, so the next build really builds and captures again. */
async function forget(result: ProjectBuild): Promise<void> {
  execFileSync('docker', ['rmi', '-f', result.request.tag], { stdio: 'ignore' });
  await rm(paths.imageLock(home, result.built.digest), { force: true });
}

describe('environment lock against the real Docker engine', () => {
  let first: ProjectBuild;

  it('two builds of one spec give byte-identical locks, with Debian versions and the base digest', async () => {
    first = await build(false);
    await forget(first);
    const second = await build(false);
    expect(second.built.reused).toBe(false);
    expect(second.built.digest).not.toBe(first.built.digest); // really another build
    expect(second.lock).toBe(first.lock);
    const lock = parseLock(first.lock);
    expect(lock.apt).toContainEqual(expect.stringMatching(/^jq=\d/));
    expect(lock.pip).toContainEqual(expect.stringMatching(/^pip==\d/));
    expect(lock.baseDigest).toBe((await docker.getImage(DEBIAN).inspect()).Id); // imported: no repo digest
    expect(lock.environment).toBe(specHash(spec));
    expect(await readFile(join(root, LOCK_FILE), 'utf8')).toBe(first.lock);
    first = second;

    // A reused image reads its lock from the cache: no container.
    const reused = await build(false);
    expect(reused.built.reused).toBe(true);
    expect(reused.lock).toBe(first.lock);
  }, 300_000); // two image builds: over a minute on a loaded machine

  it('--locked builds its own image with exactly the pinned versions', async () => {
    const locked = await build(true);
    expect(locked.request.locked).toBe(true);
    expect(locked.request.tag).not.toBe(first.request.tag); // the unlocked image keeps its tag
    expect(locked.built.digest).not.toBe(first.built.digest);
    expect(locked.request.dockerfile).toContain(`FROM ${parseLock(first.lock).baseDigest}`);
    expect(locked.lock).toBe(first.lock); // same versions, byte for byte
  });

  it('a pinned version that can no longer be had fails in one line naming the package (exit 2)', async () => {
    const jq = parseLock(first.lock).apt.find((l) => l.startsWith('jq='))!;
    await writeFile(join(root, LOCK_FILE), first.lock.replace(`\n${jq}\n`, '\njq=0.0-nope\n'));
    try {
      const err = await build(true).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(RepriseError);
      expect((err as RepriseError).exitCode).toBe(2);
      expect((err as RepriseError).message).toMatch(/^apt package jq=0\.0-nope pinned in \.reprise\/environment\.lock can no longer be installed; build without --locked/);
      expect((err as RepriseError).message).not.toContain('\n');
    } finally {
      await writeFile(join(root, LOCK_FILE), first.lock);
    }
  });

  it('without a lock file --locked is refused (exit 2); a spec change changes the hash and retires the lock', async () => {
    await rm(join(root, LOCK_FILE));
    try {
      await expect(build(true)).rejects.toMatchObject({ exitCode: 2, message: expect.stringMatching(/^no \.reprise\/environment\.lock in this project/) });
    } finally {
      await writeFile(join(root, LOCK_FILE), first.lock);
    }
    const changed: EnvironmentSpec = { ...spec, packages: { ...spec.packages, apt: ['jq', 'curl'] } };
    expect(environmentHash(changed)).not.toBe(environmentHash(spec));
    expect(() => plannedBuild('locktest', changed, first.lock)).toThrow(/captured for another environment/);
  });

  it('locked: true makes the build of a commit use the lock that commit holds', async () => {
    const lockedSpec = { ...spec, locked: true };
    const head = git(root, 'rev-parse', 'HEAD').trim();
    await expect(plannedBuildAt(root, head, 'locktest', lockedSpec)).rejects.toThrow(/says locked: true but commit [0-9a-f]{12} has no \.reprise\/environment\.lock/);
    await saveEnvironment(root, lockedSpec);
    git(root, 'add', LOCK_FILE, '.reprise/environment.yaml');
    git(root, 'commit', '-qm', 'locked');
    const plan = await plannedBuildAt(root, git(root, 'rev-parse', 'HEAD').trim(), 'locktest', lockedSpec);
    expect(plan).toMatchObject({ locked: true, base: parseLock(first.lock).baseDigest });
    expect(plan.envHash).not.toBe(plannedBuild('locktest', spec, first.lock).envHash); // locked: true is part of the spec
    await saveEnvironment(root, spec);
    git(root, 'commit', '-qam', 'unlocked again');
  });

  it('an image without dpkg, pip or conda gives the base digest and empty sections', async () => {
    const lock = parseLock(await captureLock(docker, BUSYBOX, { base: BUSYBOX, environment: 'e' }));
    const base = await docker.getImage(BUSYBOX).inspect();
    // A locally built base has no registry digest, only its id; one that was pushed or pulled has one.
    expect(lock).toMatchObject({ baseDigest: base.RepoDigests?.[0] ?? base.Id, apt: [], pip: [], conda: [] });
  });

  it('the record commit holds the lock of the image the run used, the record names it, and env diff compares two runs', async () => {
    const activities = testActivities(home);
    const head = git(root, 'rev-parse', 'HEAD').trim();
    const record = async (digest: string, rerun?: FinishInput['input']['rerun']): Promise<string> => {
      const runId = newRunId();
      await mkdir(paths.runDir(home, runId), { recursive: true });
      const finish: FinishInput = {
        input: { runId, projectRoot: root, backend: 'local', command: ['true'], resources: {}, rerun },
        sources: { sourceCommit: git(root, 'rev-parse', 'HEAD').trim(), swept: false, branch: 'refs/heads/main' },
        image: { digest, environment: environmentHash(spec), reused: true },
        status: { phase: 'exited', exitCode: 0 },
        state: 'succeeded',
      };
      await activities.record(finish);
      return runId;
    };
    const a = await record(first.built.digest);
    expect(git(root, 'show', `HEAD:${LOCK_FILE}`)).toBe(first.lock);
    const json = JSON.parse(git(root, 'show', `HEAD:.reprise/activity/${a}.json`)) as { environmentLock: { path: string; sha256: string } };
    expect(json.environmentLock).toEqual({ path: LOCK_FILE, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(await readFile(join(root, LOCK_FILE), 'utf8')).toBe(first.lock);
    expect(git(root, 'status', '--porcelain')).toBe('');

    // A run on the bare base image: its lock lacks jq and what jq pulled in.
    const b = await record((await docker.getImage(DEBIAN).inspect()).Id);
    const diff = diffLocks((await recordedLock(root, a)).lock, (await recordedLock(root, b.slice(0, 12))).lock);
    expect(diff.base).toBeUndefined();
    expect(diff.packages).toContainEqual({ manager: 'apt', name: 'jq', change: 'removed', from: expect.stringMatching(/^\d/) });
    expect(diff.packages.every((p) => p.change === 'removed')).toBe(true);
    expect(git(root, 'show', `HEAD~1:${LOCK_FILE}`)).toBe(first.lock); // a's commit still holds a's lock

    // A rerun records the lock of the run it repeats, not a new capture (here: of another image).
    const sourceCommit = git(root, 'rev-parse', 'HEAD').trim();
    await record((await docker.getImage(BUSYBOX).inspect()).Id, { runId: a, sourceCommit, imageDigest: first.built.digest });
    expect(git(root, 'show', `HEAD:${LOCK_FILE}`)).toBe(first.lock);

    // A run recorded before locks existed: env diff says so.
    const old = newRunId();
    const logFile = join(await tempDir(), 'job.log');
    await writeFile(logFile, '');
    const oldRecord = JSON.parse(git(root, 'show', `HEAD:.reprise/activity/${a}.json`)) as Parameters<typeof recordRun>[1]['record'];
    await recordRun(root, { record: { ...oldRecord, runId: old, environmentLock: undefined }, outputsDir: await tempDir(), logFile });
    await expect(recordedLock(root, old)).rejects.toThrow(/has no environment lock \(it was recorded before Reprise captured locks\)/);
    expect(head).not.toBe(git(root, 'rev-parse', 'HEAD').trim());
  });
});
