// The run and sweep workflows' placement logic (pools and burst, slots, sweep parallelism and
// cancel) against a real Temporal dev server with stubbed activities: the scheduler's answers are
// scripted per backend, so each decision is checked in seconds, without a cluster. The real
// clusters prove the same paths end to end (test/integration/kubernetes/burst.test.ts and the
// SLURM pool tests); here each branch of the decision is pinned.
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Context } from '@temporalio/activity';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FinishInput, RunInput, SweepInput, SweepPointResult, SweepResult, Target } from '../../../src/activities/types.js';
import type { JobHandle, JobStatus } from '../../../src/backends/types.js';
import { newRunId } from '../../../src/client/ids.js';
import { RUN_WORKFLOW, SLOTS_WORKFLOW, SWEEP_WORKFLOW, acquireSignal, slotsQuery, slotsWorkflowId, type RunWorkflow, type SlotsWorkflow, type SweepWorkflow } from '../../../src/workflows/contract.js';
import { startTemporal, workflowsPath } from '../../helpers/temporal.js';

const taskQueue = 'it-placement';
const image = { digest: `sha256:${'a'.repeat(64)}`, environment: 'abcdef', reused: true };

/** How a member's scheduler answers: the job starts (after `afterMs`), stays pending, or can never start. */
type Behaviour = { start: 'yes'; afterMs?: number } | { start: 'pending' } | { start: 'never'; reason: string };
interface Scenario {
  target: Target;
  members: Record<string, Behaviour>;
  /** A limited backend's maxParallel (the real slots workflow hands the slots out). */
  limit?: number;
  /** Jobs end only when the test lets them (or the run is cancelled). */
  gated?: boolean;
}

const scenarios = new Map<string, Scenario>();
/** Everything the stubs were asked, in order: "submit burst.slow", "cancel burst.slow", … */
const events: { scenario: string; what: string; at: number }[] = [];
const live = new Map<string, Set<string>>();
const maxLive = new Map<string, number>();
const finished: FinishInput[] = [];
const sweepsRecorded: { input: SweepInput; points: SweepPointResult[]; state: string }[] = [];
const gates = new Map<string, () => void>();
let jobs = 0;
let env: TestWorkflowEnvironment;

const scenarioOf = (backend: string) => backend.split('.')[0]!;
const note = (backend: string, what: string) => events.push({ scenario: scenarioOf(backend), what: `${what} ${backend}`, at: Date.now() });
const eventsOf = (scenario: string) => events.filter((e) => e.scenario === scenario).map((e) => e.what);
const behaviour = (backend: string): Behaviour => scenarios.get(scenarioOf(backend))!.members[backend] ?? { start: 'yes' };

/** Heartbeat until the activity is cancelled (how the real waits notice a cancel). */
async function untilCancelled(ms = Number.POSITIVE_INFINITY): Promise<void> {
  const ctx = Context.current();
  for (let waited = 0; waited < ms; waited += 100) {
    ctx.heartbeat();
    await ctx.sleep(100);
  }
}

const stubs = {
  resolveTarget: async (backend: string) => scenarios.get(backend)?.target ?? { members: [backend] },
  prepare: async () => ({ sourceCommit: 'c'.repeat(40), swept: false, branch: 'refs/heads/main' }),
  findImage: async () => image,
  stage: async (run: RunInput) => (note(run.backend, 'stage'), { image: 'img', sources: '/tmp/src' }),
  requestSlot: async (backend: string, holder: string) => {
    const limit = scenarios.get(scenarioOf(backend))?.limit;
    if (!limit) return false;
    await env.client.workflow.signalWithStart<SlotsWorkflow, [{ holder: string; limit: number }]>(SLOTS_WORKFLOW, {
      workflowId: slotsWorkflowId(backend),
      taskQueue,
      signal: acquireSignal,
      signalArgs: [{ holder, limit }],
      args: [{ backend, limit, holders: [], waiting: [] }],
    });
    return true;
  },
  closedWorkflows: async () => [],
  submit: async (run: RunInput): Promise<JobHandle> => {
    const jobId = `${run.backend}#${++jobs}`;
    note(run.backend, 'submit');
    const set = live.get(scenarioOf(run.backend)) ?? new Set<string>();
    set.add(jobId);
    live.set(scenarioOf(run.backend), set);
    maxLive.set(scenarioOf(run.backend), Math.max(maxLive.get(scenarioOf(run.backend)) ?? 0, set.size));
    return { kind: 'docker', runId: run.runId, jobId };
  },
  awaitStart: async (run: RunInput): Promise<JobStatus> => {
    const b = behaviour(run.backend);
    if (b.start === 'never') return { phase: 'pending', never: true, reason: b.reason };
    if (b.start === 'pending') await untilCancelled();
    else await untilCancelled(b.afterMs ?? 0);
    return { phase: 'running' };
  },
  jobStatus: async (run: RunInput): Promise<JobStatus> => ({ phase: behaviour(run.backend).start === 'yes' ? 'running' : 'pending' }),
  cancelJob: async (run: RunInput, handle: JobHandle): Promise<JobStatus> => {
    note(run.backend, 'cancel');
    live.get(scenarioOf(run.backend))?.delete(handle.jobId);
    return { phase: 'exited', exitCode: 137 };
  },
  cleanup: async (run: RunInput, handle?: JobHandle) => {
    if (handle) live.get(scenarioOf(run.backend))?.delete(handle.jobId);
  },
  awaitJob: async (run: RunInput, handle: JobHandle): Promise<JobStatus> => {
    if (scenarios.get(scenarioOf(run.backend))?.gated) {
      const ctx = Context.current();
      let open = false;
      gates.set(run.runId, () => (open = true));
      while (!open) {
        ctx.heartbeat();
        await ctx.sleep(100);
      }
    }
    note(run.backend, 'ended');
    live.get(scenarioOf(run.backend))?.delete(handle.jobId);
    return { phase: 'exited', exitCode: 0 };
  },
  collect: async () => ({ skipped: [] }),
  record: async (f: FinishInput) => (finished.push(f), { commit: 'd'.repeat(40) }),
  recordSweep: async (input: SweepInput, _s: unknown, _i: unknown, points: SweepPointResult[], state: string) => (sweepsRecorded.push({ input, points, state }), 'e'.repeat(40)),
  notifiersConfigured: async () => false,
};

let worker: Worker;
let running: Promise<void>;

beforeAll(async () => {
  env = await startTemporal();
  worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowsPath, activities: stubs });
  running = worker.run();
});

afterAll(async () => {
  for (const open of gates.values()) open();
  worker?.shutdown();
  await running;
  await env?.teardown();
});

const runInput = (backend: string, over: Partial<RunInput> = {}): RunInput => ({ runId: newRunId(), projectRoot: '/p', backend, command: ['true'], resources: {}, ...over });
const startRun = (input: RunInput) => env.client.workflow.start<RunWorkflow>(RUN_WORKFLOW, { workflowId: input.runId, taskQueue, args: [input] });
const recordOf = (runId: string) => finished.find((f) => f.input.runId === runId);
async function until(what: string, check: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  for (const end = Date.now() + ms; !(await check()); ) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('a run on a pool', () => {
  it('a job still pending after the pool’s wait is cancelled and gone before the run is submitted to the next member', async () => {
    scenarios.set('burst', { target: { pool: 'burst', members: ['burst.slow', 'burst.fast'], maxQueueWaitSeconds: 1 }, members: { 'burst.slow': { start: 'pending' } } });
    const input = runInput('burst');
    const result = await (await startRun(input)).result();
    expect(result).toMatchObject({ state: 'succeeded', backend: 'burst.fast' });
    expect(eventsOf('burst')).toEqual(['stage burst.slow', 'submit burst.slow', 'cancel burst.slow', 'stage burst.fast', 'submit burst.fast', 'ended burst.fast']);
    expect(maxLive.get('burst')).toBe(1); // never two live copies
    const trail = recordOf(input.runId)!.placement!;
    expect(trail.pool).toBe('burst');
    expect(trail.trail.map((p) => [p.backend, p.outcome])).toEqual([['burst.slow', 'withdrawn'], ['burst.fast', 'ran']]);
    expect(trail.trail[0]!.reason).toBe('pending 1s');
  });

  it('a job the scheduler says can never start leaves at once, with the scheduler’s reason, without waiting out the pool’s wait', async () => {
    scenarios.set('never', { target: { pool: 'never', members: ['never.gpu', 'never.cpu'], maxQueueWaitSeconds: 600 }, members: { 'never.gpu': { start: 'never', reason: 'Insufficient nvidia.com/gpu' } } });
    const input = runInput('never');
    const began = Date.now();
    const result = await (await startRun(input)).result();
    expect(Date.now() - began).toBeLessThan(60_000);
    expect(result).toMatchObject({ state: 'succeeded', backend: 'never.cpu' });
    expect(recordOf(input.runId)!.placement!.trail.map((p) => [p.backend, p.outcome, p.reason])).toEqual([
      ['never.gpu', 'withdrawn', 'can never start: Insufficient nvidia.com/gpu'],
      ['never.cpu', 'ran', undefined],
    ]);
    expect(eventsOf('never')).toContain('cancel never.gpu');
  });

  it('a job that starts within the wait stays where it is; the other members are never touched', async () => {
    scenarios.set('stays', { target: { pool: 'stays', members: ['stays.a', 'stays.b'], maxQueueWaitSeconds: 30 }, members: { 'stays.a': { start: 'yes', afterMs: 500 } } });
    const input = runInput('stays');
    expect(await (await startRun(input)).result()).toMatchObject({ state: 'succeeded', backend: 'stays.a' });
    expect(eventsOf('stays')).toEqual(['stage stays.a', 'submit stays.a', 'ended stays.a']);
    expect(recordOf(input.runId)!.placement!.trail.map((p) => p.outcome)).toEqual(['ran']);
  });

  it('the last member keeps the job however long it waits', async () => {
    scenarios.set('last', { target: { pool: 'last', members: ['last.x', 'last.y'], maxQueueWaitSeconds: 1 }, members: { 'last.x': { start: 'pending' }, 'last.y': { start: 'pending' } } });
    const input = runInput('last');
    expect(await (await startRun(input)).result()).toMatchObject({ state: 'succeeded', backend: 'last.y' });
    expect(eventsOf('last')).toEqual(['stage last.x', 'submit last.x', 'cancel last.x', 'stage last.y', 'submit last.y', 'ended last.y']);
  });

  it('placementStart picks the first member tried, modulo the members (how a sweep spreads its points)', async () => {
    scenarios.set('spread', { target: { pool: 'spread', members: ['spread.m0', 'spread.m1', 'spread.m2'], maxQueueWaitSeconds: 5 }, members: {} });
    const input = runInput('spread', { placementStart: 4 });
    expect(await (await startRun(input)).result()).toMatchObject({ backend: 'spread.m1' });
  });

  it('a run cancelled while it waits on a member is recorded as cancelled there, not moved on', async () => {
    scenarios.set('stop', { target: { pool: 'stop', members: ['stop.a', 'stop.b'], maxQueueWaitSeconds: 600 }, members: { 'stop.a': { start: 'pending' } } });
    const input = runInput('stop');
    const handle = await startRun(input);
    await until('the submit', () => eventsOf('stop').includes('submit stop.a'));
    await handle.cancel();
    const result = await handle.result();
    expect(result).toMatchObject({ state: 'cancelled', backend: 'stop.a', exitCode: 130 });
    expect(eventsOf('stop')).not.toContain('submit stop.b');
  });
});

describe('a backend’s maxParallel, held by the slots workflow', () => {
  it('a second run is submitted only once the first run’s job has ended, and the slots are all given back', async () => {
    scenarios.set('limited', { target: { members: ['limited.one'] }, members: {}, limit: 1, gated: true });
    const first = runInput('limited.one');
    const second = runInput('limited.one');
    const h1 = await startRun(first);
    await until('the first submit', () => eventsOf('limited').filter((e) => e.startsWith('submit')).length === 1);
    const h2 = await startRun(second);
    // The second run waits for the slot: staged, never submitted, while the first job runs.
    await until('the second stage', () => eventsOf('limited').filter((e) => e.startsWith('stage')).length === 2);
    await new Promise((r) => setTimeout(r, 1500));
    expect(eventsOf('limited').filter((e) => e.startsWith('submit'))).toHaveLength(1);
    const slots = env.client.workflow.getHandle(slotsWorkflowId('limited.one'));
    expect(await slots.query(slotsQuery)).toMatchObject({ limit: 1, holders: [first.runId], waiting: [second.runId] });

    await until('the first job', () => gates.has(first.runId));
    gates.get(first.runId)!();
    await until('the second job', () => gates.has(second.runId));
    expect(eventsOf('limited')).toEqual(['stage limited.one', 'submit limited.one', 'stage limited.one', 'ended limited.one', 'submit limited.one']);
    gates.get(second.runId)!();
    for (const h of [h1, h2]) expect(await h.result()).toMatchObject({ state: 'succeeded' });
    expect(maxLive.get('limited')).toBe(1);
    await until('the slots given back', async () => (await slots.query(slotsQuery)).holders.length === 0);
    expect(await slots.query(slotsQuery)).toMatchObject({ holders: [], waiting: [] });
  });
});

describe('a sweep', () => {
  const sweepInput = (backend: string, n: number, maxParallel?: number): SweepInput => ({
    sweepId: `sweep-${newRunId().slice(4)}`,
    projectRoot: '/p',
    projectId: 'p',
    backend,
    template: ['echo', '{x}'],
    params: { x: Array.from({ length: n }, (_, i) => String(i)) },
    resources: {},
    points: Array.from({ length: n }, (_, i) => ({ index: i, params: { x: String(i) }, command: ['echo', String(i)] })),
    ...(maxParallel ? { maxParallel } : {}),
  });
  const startSweep = (input: SweepInput) => env.client.workflow.start<SweepWorkflow>(SWEEP_WORKFLOW, { workflowId: input.sweepId, taskQueue, args: [input] });

  it('runs every point, at most maxParallel at once, spread over a pool’s members, and records them in one summary', async () => {
    scenarios.set('grid', { target: { pool: 'grid', members: ['grid.p0', 'grid.p1'], maxQueueWaitSeconds: 30 }, members: { 'grid.p0': { start: 'yes', afterMs: 300 }, 'grid.p1': { start: 'yes', afterMs: 300 } } });
    const input = sweepInput('grid', 5, 2);
    const result: SweepResult = await (await startSweep(input)).result();
    expect(result.state).toBe('succeeded');
    expect(result.points.map((p) => [p.index, p.state, p.backend])).toEqual([
      [0, 'succeeded', 'grid.p0'],
      [1, 'succeeded', 'grid.p1'],
      [2, 'succeeded', 'grid.p0'],
      [3, 'succeeded', 'grid.p1'],
      [4, 'succeeded', 'grid.p0'],
    ]);
    expect(maxLive.get('grid')).toBe(2);
    const summary = sweepsRecorded.find((s) => s.input.sweepId === input.sweepId)!;
    expect(summary.state).toBe('succeeded');
    expect(summary.points).toHaveLength(5);
  });

  it('cancelled, it stops its running points (recorded as cancelled) and starts no more', async () => {
    scenarios.set('halt', { target: { members: ['halt.b'] }, members: {}, gated: true });
    const input = sweepInput('halt', 4, 2);
    const handle = await startSweep(input);
    await until('two points running', () => eventsOf('halt').filter((e) => e.startsWith('submit')).length === 2);
    await handle.cancel();
    const result: SweepResult = await handle.result();
    expect(result.state).toBe('cancelled');
    expect(result.points.map((p) => p.state)).toEqual(['cancelled', 'cancelled', 'not-started', 'not-started']);
    expect(eventsOf('halt').filter((e) => e.startsWith('cancel'))).toHaveLength(2);
    expect(eventsOf('halt').filter((e) => e.startsWith('submit'))).toHaveLength(2);
    expect(finished.filter((f) => f.input.sweep?.sweepId === input.sweepId).map((f) => f.state)).toEqual(['cancelled', 'cancelled']);
  });
});
