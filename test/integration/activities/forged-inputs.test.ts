// Boundary 2 (docs/security.md, "Workflow inputs"): workflow inputs forged by whoever can start a
// workflow, sent with the Temporal client straight to a real worker (real dev server, real
// activities, local Docker). Each is refused by name, and the worker's home, the canary
// directories, repositories and containers stay as they were.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import type { RunInput } from '../../../src/activities/types.js';
import { newRunId } from '../../../src/client/ids.js';
import { saveUserConfig, type UserConfig } from '../../../src/backends/user-config.js';
import { git, makeProject, repoState, tempDir } from '../../helpers/project.js';
import { startTemporal, startWorker, testActivities } from '../../helpers/temporal.js';
import { BUSYBOX, requireDocker } from '../../helpers/docker.js';

const suite = `forge-${Date.now().toString(36)}`;
const agentQueue = `it-${suite}`;
const teamQueue = `it-${suite}-team.local`;
let env: TestWorkflowEnvironment;
const workers: { worker: Worker; running: Promise<void> }[] = [];
/** base/home is the agent's REPRISE_HOME; base/x/src a canary a `runs/../../x` would reach. */
let base: string;
let home: string;
let teamHome: string;
let canaryDir: string;
let allowedDir: string;
const started: string[] = [];

const canaryContainer = `${suite}-canary`;
const digest = `sha256:${'a'.repeat(64)}`;

beforeAll(async () => {
  requireDocker();
  env = await startTemporal();
  base = await tempDir('reprise-forge-');
  home = join(base, 'home');
  teamHome = join(base, 'team-home');
  canaryDir = join(base, 'x', 'src');
  allowedDir = join(base, 'allowed');
  await mkdir(join(canaryDir, 'output'), { recursive: true });
  await writeFile(join(canaryDir, 'keep.txt'), 'canary\n');
  await writeFile(join(canaryDir, 'output', 'secret.txt'), 'canary secret\n');
  await saveUserConfig(home, { backends: {} });
  execFileSync('docker', ['run', '--name', canaryContainer, BUSYBOX, 'true'], { stdio: 'ignore' });
  workers.push(await startWorker(env, agentQueue, testActivities(home)));
  workers.push(await startWorker(env, teamQueue, testActivities(teamHome, { servedBackends: ['local'] })));
}, 600_000);

beforeEach(() => {
  // Each case starts with the canary container (a run today's code let through removes it).
  if (!canaries().container) execFileSync('docker', ['run', '--name', canaryContainer, BUSYBOX, 'true'], { stdio: 'ignore' });
});

afterEach(async () => {
  // A run today's code would have let through must not go on in the background.
  for (const id of started.splice(0)) await env.client.workflow.getHandle(id).terminate().catch(() => undefined);
});

afterAll(async () => {
  for (const w of workers) w.worker.shutdown();
  await Promise.all(workers.map((w) => w.running));
  await env?.teardown();
  execFileSync('docker', ['rm', '-f', canaryContainer], { stdio: 'ignore' });
});

/** Everything the forged inputs aim at, as one comparable value. */
function canaries() {
  const listing = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir, { recursive: true }).map(String).sort() : []);
  return {
    canaryDir: listing(dirname(canaryDir)),
    home: listing(home).filter((p) => p !== 'config.yaml'),
    teamHome: listing(teamHome).filter((p) => p !== 'config.yaml'),
    container: execFileSync('docker', ['ps', '-aq', '--filter', `name=^${canaryContainer}$`], { encoding: 'utf8' }).trim() !== '',
  };
}

const runInput = (projectRoot: string, over: Partial<RunInput> = {}): RunInput => ({ runId: newRunId(), projectRoot, backend: 'local', command: ['true'], resources: {}, ...over });

/** Start `input` on `queue` (its workflow id the run id, as the CLI does) and return the refusal: final, named. */
async function refusal(input: RunInput, queue = agentQueue): Promise<string> {
  const before = canaries();
  const workflowId = `${suite}-${started.length}-${Math.random().toString(36).slice(2, 8)}`;
  started.push(workflowId);
  const handle = await env.client.workflow.start('runProject', { workflowId, taskQueue: queue, args: [input] });
  const err = await Promise.race([handle.result().then(() => undefined, (e: unknown) => e), new Promise((r) => setTimeout(() => r('still running after 45 s'), 45_000))]);
  expect(err).toBeInstanceOf(WorkflowFailedError);
  // WorkflowFailedError → ActivityFailure → ApplicationFailure, or → ApplicationFailure for a local activity (cleanup).
  const cause = (err as WorkflowFailedError).cause;
  const failure = (cause instanceof ActivityFailure ? cause.cause : cause) as ApplicationFailure;
  expect(failure).toBeInstanceOf(ApplicationFailure);
  expect(failure.nonRetryable).toBe(true);
  expect(failure.type).toBe('BadInput');
  expect(canaries()).toEqual(before);
  expect(before.container).toBe(true);
  return failure.message;
}

/** A team run's input for `remote` (a real bare repository, so today's worker would fetch it). */
async function teamInput(remote: string, over: Partial<RunInput> = {}): Promise<RunInput> {
  const p = await makeProject({ files: { 'code/x.sh': 'true\n' } });
  await mkdir(dirname(remote), { recursive: true });
  git(dirname(remote), 'clone', '-q', '--bare', p.root, remote);
  const sourceCommit = git(p.root, 'rev-parse', 'HEAD').trim();
  return runInput('', { team: { remote, branch: 'refs/heads/main', sourceCommit, image: { digest, reference: `127.0.0.1:5000/x@${digest}`, environment: 'a'.repeat(64), reused: true } }, ...over });
}

async function teamConfig(config: Partial<UserConfig>): Promise<void> {
  await saveUserConfig(teamHome, { backends: { spare: { kind: 'docker' } }, ...config });
}

describe('forged workflow inputs against a real worker', () => {
  it('runId "../../x": refused by name; nothing outside runs/ is written or removed', async () => {
    const p = await makeProject();
    const before = repoState(p.root);
    expect(await refusal(runInput(p.root, { runId: '../../x' }))).toMatch(/refused workflow input: input\.runId must be an id/);
    expect(repoState(p.root)).toEqual(before);
  });

  it('a projectRoot that is no Reprise project of this account: refused, the repository untouched', async () => {
    const outside = join(base, 'someone-elses-repo');
    await mkdir(join(outside, 'code'), { recursive: true });
    git(outside, 'init', '-q');
    await writeFile(join(outside, 'README'), 'theirs\n');
    git(outside, 'add', '-A');
    git(outside, 'commit', '-qm', 'theirs');
    await writeFile(join(outside, 'code', 'draft.py'), 'uncommitted work\n');
    const before = repoState(outside);
    expect(await refusal(runInput(outside))).toMatch(/input\.projectRoot .* is not a Reprise project/);
    expect(repoState(outside)).toEqual(before);
    expect(await refusal(runInput(`${outside}/code/..`))).toMatch(/input\.projectRoot must be an absolute, normalised path/);
  });

  it("a forged attached handle naming another container: refused; the container is still there", async () => {
    const p = await makeProject();
    const before = repoState(p.root);
    const runId = newRunId();
    const jobId = execFileSync('docker', ['inspect', '-f', '{{.Id}}', canaryContainer], { encoding: 'utf8' }).trim();
    const prepared = { sources: { sourceCommit: before.head, swept: false, branch: 'refs/heads/main' }, image: { digest, environment: 'a'.repeat(64), reused: true } };
    const sweep = { sweepId: 'sweep-aaaaaaaaaaaa', index: 0, params: {} };
    const handle = { kind: 'docker', runId, jobId, sources: join(home, 'runs', runId, 'src'), timeSeconds: null };
    expect(await refusal(runInput(p.root, { runId, sweep, prepared, attached: { handle } }))).toMatch(/is not the container of run/);
    expect(repoState(p.root)).toEqual(before);
  });

  it('a forged attached handle naming another path: refused; nothing of it is collected or removed', async () => {
    const p = await makeProject();
    const before = repoState(p.root);
    const runId = newRunId();
    const prepared = { sources: { sourceCommit: before.head, swept: false, branch: 'refs/heads/main' }, image: { digest, environment: 'a'.repeat(64), reused: true } };
    const sweep = { sweepId: 'sweep-aaaaaaaaaaaa', index: 0, params: {} };
    const handle = { kind: 'docker', runId, jobId: 'f'.repeat(64), sources: canaryDir, timeSeconds: null };
    expect(await refusal(runInput(p.root, { runId, sweep, prepared, attached: { handle } }))).toMatch(/input\.attached\.handle\.sources must be/);
    expect(repoState(p.root)).toEqual(before);
    expect(git(p.root, 'log', '--all', '--format=%H')).not.toContain('secret');
  });

  it('an unknown backend: refused by name', async () => {
    const p = await makeProject();
    expect(await refusal(runInput(p.root, { backend: 'nosuch' }))).toMatch(/refused workflow input: (input\.)?backend unknown backend "nosuch"/);
  });

  it('a team worker: a backend it does not serve, any local project, a remote its operator did not allow, or none allowed: refused', async () => {
    const allowed = join(allowedDir, 'team.git');
    const denied = join(base, 'denied', 'team.git');
    await teamConfig({ worker: { allowedRemotes: [`${allowedDir}/*.git`] } });
    expect(await refusal(await teamInput(allowed, { backend: 'spare' }), teamQueue)).toMatch(/refused workflow input: (input\.)?backend "spare" is not a backend this worker serves \(it serves local\)/);
    const p = await makeProject();
    expect(await refusal(runInput(p.root), teamQueue)).toMatch(/input\.projectRoot is refused: a team worker reaches projects only through their remote/);
    const deniedRefs = await teamInput(denied);
    const remoteBefore = git(denied, 'for-each-ref');
    expect(await refusal(deniedRefs, teamQueue)).toMatch(/input\.team\.remote ".*denied\/team\.git" matches none of this worker's worker\.allowedRemotes/);
    expect(git(denied, 'for-each-ref')).toBe(remoteBefore);
    await teamConfig({});
    expect(await refusal(await teamInput(join(allowedDir, 'other.git')), teamQueue)).toMatch(/this worker allows no team remotes \(set worker\.allowedRemotes in its config\.yaml\)/);
    expect(existsSync(join(teamHome, 'projects'))).toBe(false);
  });
});
