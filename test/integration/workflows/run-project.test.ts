import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import type { RunInput, RunProgress, RunResult } from '../../../src/activities/types.js';
import { newRunId } from '../../../src/client/ids.js';
import { saveUserConfig, type BackendConfig } from '../../../src/backends/user-config.js';
import { createBackend } from '../../../src/backends/registry.js';
import type { Backend } from '../../../src/backends/types.js';
import { badInput } from '../../../src/errors.js';
import { readFeed, readRecord, findRun } from '../../../src/project/history.js';
import { describeResult } from '../../../src/cli/launch.js';
import { git, makeProject, repoState, tempDir } from '../../helpers/project.js';
import { startTemporal, startWorker, testActivities, workflowsPath } from '../../helpers/temporal.js';
import { BUSYBOX, containersOf, requireDocker } from '../../helpers/docker.js';

let env: TestWorkflowEnvironment;
let home: string;
let worker: Worker;
let running: Promise<void>;
const taskQueue = 'it-run-project';

beforeAll(async () => {
  requireDocker();
  env = await startTemporal();
  home = await tempDir('reprise-home-');
  await saveUserConfig(home, { backends: { broken: { kind: 'docker', socketPath: '/nonexistent/docker.sock' } } });
  ({ worker, running } = await startWorker(env, taskQueue, testActivities(home)));
});

afterAll(async () => {
  worker?.shutdown();
  await running;
  await env?.teardown();
});

const input = (root: string, command: string[], over: Partial<RunInput> = {}): RunInput => ({
  runId: newRunId(),
  projectRoot: root,
  backend: 'local',
  command,
  resources: {},
  ...over,
});

const start = (i: RunInput, queue = taskQueue) => env.client.workflow.start('runProject', { workflowId: i.runId, taskQueue: queue, args: [i] });
const execute = async (i: RunInput, queue = taskQueue) => (await start(i, queue)).result() as Promise<RunResult>;

async function waitForState(runId: string, state: string): Promise<RunProgress> {
  const handle = env.client.workflow.getHandle(runId);
  for (let i = 0; i < 300; i++) {
    const p = await handle.query<RunProgress>('progress');
    if (p.state === state) return p;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`run ${runId} never reached ${state}`);
}

/**
 * The ApplicationFailure at the end of WorkflowFailedError → ActivityFailure → ApplicationFailure
 * (regular activities) or WorkflowFailedError → ApplicationFailure (local activities).
 */
async function failureOf(p: Promise<unknown>, via: 'activity' | 'local'): Promise<ApplicationFailure> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(WorkflowFailedError);
  let cause = (err as WorkflowFailedError).cause;
  if (via === 'activity') {
    expect(cause).toBeInstanceOf(ActivityFailure);
    cause = (cause as ActivityFailure).cause;
  }
  expect(cause).toBeInstanceOf(ApplicationFailure);
  expect((cause as ApplicationFailure).nonRetryable).toBe(true);
  return cause as ApplicationFailure;
}

/** Run `i` expecting a refusal; the project's HEAD, index and working tree must be untouched. */
async function refused(root: string, i: RunInput, via: 'activity' | 'local', queue = taskQueue): Promise<ApplicationFailure> {
  const before = repoState(root);
  const f = await failureOf(execute(i, queue), via);
  expect(repoState(root)).toEqual(before);
  return f;
}

describe('runProject on local Docker', () => {
  it('runs the command, collects output/ and records one commit', async () => {
    const p = await makeProject({ files: { 'code/run.sh': 'echo hello from $REPRISE_RUN_ID\necho 42 > output/answer.txt\nmkdir -p output/sub && echo deep > output/sub/x.txt\n' } });
    const head = git(p.root, 'rev-parse', 'HEAD').trim();
    const i = input(p.root, ['sh', 'code/run.sh']);
    const result = await execute(i);
    expect(result).toMatchObject({ runId: i.runId, state: 'succeeded', exitCode: 0 });
    expect(git(p.root, 'rev-parse', 'HEAD').trim()).toBe(result.commit);
    expect(git(p.root, 'rev-parse', 'HEAD^').trim()).toBe(head);
    expect(git(p.root, 'status', '--porcelain')).toBe('');
    const { record, log } = await readRecord(p.root, await findRun(p.root, i.runId));
    expect(log).toBe(`hello from ${i.runId}\n`);
    expect(record.outputs.map((o) => o.path)).toEqual(['output/answer.txt', 'output/sub/x.txt']);
    expect(record).toMatchObject({ sourceCommit: head, backend: { name: 'local', kind: 'docker' }, state: 'succeeded' });
    expect(record.image.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(containersOf(i.runId)).toEqual([]);
    expect(existsSync(join(home, 'runs', i.runId, 'src'))).toBe(false);
  });

  it('records a failing command as failed with its exit code', async () => {
    const p = await makeProject();
    const result = await execute(input(p.root, ['sh', '-c', 'echo oops >&2; exit 3']));
    expect(result).toMatchObject({ state: 'failed', exitCode: 3 });
    expect((await readFeed(p.root))[0]).toMatchObject({ state: 'failed', exitCode: 3 });
  });

  it('a command the image lacks is the job failing with 127 (as docker run), recorded at once, no container left', async () => {
    const p = await makeProject();
    const i = input(p.root, ['nosuchcommand', '--flag']);
    const result = await execute(i);
    expect(result).toMatchObject({ state: 'failed', exitCode: 127 });
    expect(result.reason).toBe('could not start: exec: "nosuchcommand": executable file not found in $PATH');
    expect((await readRecord(p.root, await findRun(p.root, i.runId))).record).toMatchObject({ state: 'failed', exitCode: 127, reason: result.reason });
    expect(containersOf(i.runId)).toEqual([]);
  });

  it('records a run whose branch was deleted while it ran on a branch named after the run, and says so', async () => {
    const p = await makeProject({ files: { 'code/run.sh': 'sleep 3; echo 7 > output/seven.txt\n' } });
    git(p.root, 'checkout', '-qb', 'experiment');
    const i = input(p.root, ['sh', 'code/run.sh']);
    const handle = await start(i);
    await waitForState(i.runId, 'running');
    git(p.root, 'checkout', '-q', 'main');
    git(p.root, 'branch', '-D', 'experiment');
    const result = (await handle.result()) as RunResult;
    expect(result).toMatchObject({ state: 'succeeded', recoveredBranch: i.runId });
    expect(git(p.root, 'rev-parse', i.runId).trim()).toBe(result.commit);
    expect(git(p.root, 'show', `${result.commit}:output/seven.txt`)).toBe('7\n');
    expect(describeResult(result)).toMatch(new RegExp(`recorded in ${result.commit.slice(0, 12)} on branch ${i.runId} \\(the branch it started from was deleted while it ran\\)$`));
  });

  it('enforces the time limit', async () => {
    const p = await makeProject();
    const result = await execute(input(p.root, ['sleep', '60'], { resources: { timeSeconds: 2 } }));
    expect(result).toMatchObject({ state: 'failed', exitCode: 124, reason: 'time limit 0:00:02 exceeded' });
  });

  it('maps cpus and memory onto the container', async () => {
    const p = await makeProject();
    const i = input(p.root, ['sh', '-c', 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max'], {
      resources: { cpus: 0.5, memoryBytes: 64 * 2 ** 20 },
    });
    await execute(i);
    const { log } = await readRecord(p.root, await findRun(p.root, i.runId));
    expect(log.trim()).toBe(String(64 * 2 ** 20));
  });

  it('cancellation kills the container and records the run as cancelled', async () => {
    const p = await makeProject();
    const i = input(p.root, ['sh', '-c', 'echo started; sleep 120']);
    const handle = await start(i);
    await waitForState(i.runId, 'running');
    await handle.cancel();
    const result = (await handle.result()) as RunResult;
    // The container died of SIGKILL (137): a cancel is recorded as the CLI exits on it, 130.
    expect(result).toMatchObject({ state: 'cancelled', exitCode: 130 });
    expect(containersOf(i.runId)).toEqual([]);
    const { record } = await readRecord(p.root, await findRun(p.root, i.runId));
    expect(record).toMatchObject({ state: 'cancelled', exitCode: 130, reason: 'cancelled by user' });
  });

  it('two runs of one project finishing together are both recorded, each with only its outputs', async () => {
    const p = await makeProject();
    const runs = ['a', 'b', 'c'].map((n) => input(p.root, ['sh', '-c', `sleep 2; echo ${n} > output/${n}.txt`]));
    const handles = await Promise.all(runs.map((r) => start(r)));
    for (const r of runs) await waitForState(r.runId, 'running');
    // A user edits the working tree while the runs are in flight.
    await writeFile(join(p.root, 'code/wip.py'), 'unsaved\n');
    const results = (await Promise.all(handles.map((h) => h.result()))) as RunResult[];
    expect(results.map((r) => r.state)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    const feed = await readFeed(p.root);
    expect(feed.map((e) => e.runId).sort()).toEqual(runs.map((r) => r.runId).sort());
    for (const e of feed) {
      const files = git(p.root, 'diff-tree', '--no-commit-id', '--name-only', '-r', `${e.commit}^`, e.commit).trim().split('\n');
      expect(files.filter((f) => f.startsWith('output/'))).toHaveLength(1);
      expect(files).not.toContain('code/wip.py');
    }
    expect(git(p.root, 'status', '--porcelain')).toBe('?? code/wip.py\n');
  });

  it('sweeps pending code edits into the source commit the run executes', async () => {
    const p = await makeProject({ files: { 'code/v.sh': 'echo v1\n' } });
    await writeFile(join(p.root, 'code/v.sh'), 'echo v2\n');
    const i = input(p.root, ['sh', 'code/v.sh']);
    const result = await execute(i);
    const { record, log } = await readRecord(p.root, await findRun(p.root, i.runId));
    expect(log).toBe('v2\n');
    expect(git(p.root, 'show', `${record.sourceCommit}:code/v.sh`)).toBe('echo v2\n');
    expect(git(p.root, 'rev-parse', `${result.commit}^`).trim()).toBe(record.sourceCommit);
    expect(git(p.root, 'status', '--porcelain')).toBe('');
  });

  it('a rerun uses the recorded source commit and image digest, not a rebuilt image', async () => {
    const p = await makeProject({ files: { 'code/v.sh': 'echo $MARK\n' } });
    await writeFile(join(p.root, '.reprise/environment.yaml'), `base: ${BUSYBOX}\ndockerfile:\n  - ENV MARK=first\n`);
    const first = input(p.root, ['sh', 'code/v.sh']);
    await execute(first);
    const original = await readRecord(p.root, await findRun(p.root, first.runId));
    // The environment and code change afterwards; the rerun must not see either.
    await writeFile(join(p.root, '.reprise/environment.yaml'), `base: ${BUSYBOX}\ndockerfile:\n  - ENV MARK=second\n`);
    await writeFile(join(p.root, 'code/v.sh'), 'echo changed\n');
    const again = input(p.root, ['sh', 'code/v.sh'], {
      rerun: { runId: first.runId, sourceCommit: original.record.sourceCommit, imageDigest: original.record.image.digest },
    });
    await execute(again);
    const rerun = await readRecord(p.root, await findRun(p.root, again.runId));
    expect(rerun.log).toBe('first\n');
    expect(rerun.record).toMatchObject({ rerunOf: first.runId, sourceCommit: original.record.sourceCommit, image: { digest: original.record.image.digest } });
    expect(git(p.root, 'log', '-1', '--format=%(trailers:key=Reprise-Rerun-Of,valueonly)').trim()).toBe(first.runId);
    expect(await readFeed(p.root)).toHaveLength(2);
  });
});

describe('runProject: the working directory', () => {
  it('starts the command in the directory it was launched from, records it, and a rerun keeps it', async () => {
    const p = await makeProject({ files: { 'code/models/fit.sh': 'pwd; echo fitted > ../../output/fit.txt\n' } });
    const first = input(p.root, ['sh', 'fit.sh'], { workdir: 'code/models' });
    expect(await execute(first)).toMatchObject({ state: 'succeeded' });
    const original = await readRecord(p.root, await findRun(p.root, first.runId));
    expect(original.log).toBe('/project/code/models\n');
    expect(original.record).toMatchObject({ workdir: 'code/models', outputs: [{ path: 'output/fit.txt' }] });
    expect(git(p.root, 'log', '-1', '--format=%(trailers:key=Reprise-Workdir,valueonly)').trim()).toBe('code/models');
    const again = input(p.root, original.record.command, {
      workdir: original.record.workdir,
      rerun: { runId: first.runId, sourceCommit: original.record.sourceCommit, imageDigest: original.record.image.digest },
    });
    await execute(again);
    expect((await readRecord(p.root, await findRun(p.root, again.runId))).log).toBe('/project/code/models\n');
  });
});

describe('runProject: bad input fails fast and leaves the project untouched', () => {
  it('a working directory the source commit does not have', async () => {
    const p = await makeProject();
    await writeFile(join(p.root, 'code/x.sh'), 'pending edit\n');
    const f = await refused(p.root, input(p.root, ['true'], { workdir: 'input/empty' }), 'local');
    expect(f.type).toBe('BadInput');
    expect(f.message).toMatch(/^the directory input\/empty\/ you ran from is not in the run's source commit/);
  });

  it('a working directory outside the project', async () => {
    const p = await makeProject();
    const f = await refused(p.root, input(p.root, ['true'], { workdir: '../elsewhere' }), 'local');
    expect(f.type).toBe('BadInput');
    expect(f.message).toMatch(/must be a plain relative path inside the project/);
  });

  it('missing, unpullable base image', async () => {
    const p = await makeProject({ base: 'local/does-not-exist:1' });
    await writeFile(join(p.root, 'code/x.sh'), 'pending edit\n');
    const f = await refused(p.root, input(p.root, ['true']), 'activity');
    expect(f.type).toBe('BaseImageUnavailable');
    expect(f.message).toMatch(/^base image "local\/does-not-exist:1" is not present and could not be pulled/);
  });

  it('image build failure carries the failing step output', async () => {
    const p = await makeProject();
    await writeFile(join(p.root, '.reprise/environment.yaml'), `base: ${BUSYBOX}\ndockerfile:\n  - RUN echo about-to-fail && exit 7\n`);
    const f = await refused(p.root, input(p.root, ['true']), 'activity');
    expect(f.type).toBe('ImageBuildFailed');
    expect(f.message).toMatch(/returned a non-zero code: 7/);
    expect(String(f.details?.[0])).toContain('about-to-fail');
  });

  it('unreachable Docker engine is BackendUnavailable', async () => {
    const p = await makeProject();
    const f = await refused(p.root, input(p.root, ['true'], { backend: 'broken' }), 'local');
    expect(f.type).toBe('BackendUnavailable');
    expect(f.message).toMatch(/^Docker engine unreachable at \/nonexistent\/docker.sock/);
  });

  it('a malformed environment.yaml names the key', async () => {
    const p = await makeProject();
    await writeFile(join(p.root, '.reprise/environment.yaml'), 'base: x\npackages:\n  brew: [wget]\n');
    const f = await refused(p.root, input(p.root, ['true']), 'local');
    expect(f.type).toBe('BadInput');
    expect(f.message).toBe('.reprise/environment.yaml: unknown key "brew" under "packages"; fix the file and retry');
  });

  // src/workflows/run-origin.ts: the workflow resolves the input's modes before any step.
  it.each<[string, Partial<RunInput>, RegExp]>([
    ['an attached handle outside a sweep', { attached: { handle: { kind: 'docker', runId: 'run-x', jobId: 'a'.repeat(64) } } }, /^refused workflow input: input\.attached needs sweep/],
    ['a lab session started as a run', { lab: { port: 8888, checkpointSeconds: 60 } }, /^refused workflow input: input\.lab is a lab session/],
  ])('modes that do not go together: %s', async (_, over, message) => {
    const p = await makeProject();
    const f = await refused(p.root, input(p.root, ['true'], over), 'local');
    expect(f.type).toBe('BadInput');
    expect(f.message).toMatch(message);
  });
});

describe('runProject: a submit the backend refuses', () => {
  const refusingQueue = 'it-run-project-refusing-submit';
  let refusing: { worker: Worker; running: Promise<void> };
  beforeAll(async () => {
    // The real Docker backend, except that submit is refused (as a cluster refuses a job).
    const createRefusing = async (config: BackendConfig): Promise<Backend> => {
      const real = await createBackend(config);
      return Object.assign(Object.create(real) as Backend, { submit: () => Promise.reject(badInput('the backend refused the job; fix its settings')) });
    };
    refusing = await startWorker(env, refusingQueue, testActivities(home, { createBackend: createRefusing }));
  });
  afterAll(async () => {
    refusing?.worker.shutdown();
    await refusing?.running;
  });

  it('fails the run, records nothing and removes the staged sources', async () => {
    const p = await makeProject();
    await writeFile(join(p.root, 'code/x.sh'), 'pending edit\n');
    const i = input(p.root, ['true']);
    const f = await refused(p.root, i, 'local', refusingQueue);
    expect(f.message).toBe('the backend refused the job; fix its settings');
    expect(existsSync(join(home, 'runs', i.runId, 'src'))).toBe(false);
    expect(containersOf(i.runId)).toEqual([]);
  });
});

describe('determinism', () => {
  it('replays a recorded history without non-determinism errors', async () => {
    const p = await makeProject();
    const i = input(p.root, ['true']);
    await execute(i);
    const history = await env.client.workflow.getHandle(i.runId).fetchHistory();
    await Worker.runReplayHistory({ workflowsPath }, history, i.runId);
  });
});
