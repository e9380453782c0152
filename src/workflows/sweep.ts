import {
  CancellationScope,
  executeChild,
  isCancellation,
  setHandler,
  uuid4,
} from '@temporalio/workflow';
import type { PreparedImage, PreparedSources, RunInput, RunResult, SweepInput, SweepPoint, SweepPointResult, SweepProgress, SweepResult } from '../activities/types.js';
import type { JobHandle, StagedJob } from '../backends/types.js';
import { sweepProgressQuery } from './contract.js';
import { build, finishing, prep, submitting } from './stubs.js';
import { newRunImage } from './image.js';
import { announceEnd } from './notify.js';
import { runProject } from './run-project.js';

/**
 * A parameter sweep: the sources and the image are fixed once, then every point of the grid is
 * a child run (its own workflow, job and record commit), at most `maxParallel` at once; the
 * backend's own maxParallel (workflows/slots.ts) holds across sweeps. When every point has
 * ended, one summary commit lists them all. Cancelling the sweep cancels every running child
 * (each is recorded as cancelled) and starts no more.
 */
export async function sweepProject(input: SweepInput): Promise<SweepResult> {
  const kept = input.retry?.kept ?? [];
  const results = new Map<number, SweepPointResult>(kept.map((p) => [p.index, p]));
  const progress: SweepProgress = { sweepId: input.sweepId, state: 'preparing', backend: input.backend, total: kept.length + input.points.length, points: [] };
  const snapshot = () => [...results.values()].sort((a, b) => a.index - b.index);
  setHandler(sweepProgressQuery, () => ({ ...progress, points: snapshot() }));
  const startedAt = new Date().toISOString();
  const ids = new Map(input.points.map((p) => [p.index, pointRunId()]));

  const base: RunInput = {
    runId: input.sweepId,
    projectRoot: input.projectRoot,
    backend: input.backend,
    command: input.template,
    workdir: input.workdir,
    resources: input.resources,
    ...(input.reuse ? { reuse: true } : {}),
  };
  let sources: PreparedSources;
  let image: PreparedImage;
  if (input.retry) {
    ({ sources, image } = input.retry);
  } else {
    // Checked and built where the first point goes; a pool's other members stage it when used.
    const first = { ...base, backend: (await prep.resolveTarget(input.backend)).members[0]! };
    sources = await prep.prepare(first);
    image = await newRunImage(first, sources.sourceCommit);
  }

  const childOf = (point: SweepPoint): RunInput => ({
    ...base,
    runId: ids.get(point.index)!,
    command: point.command,
    sweep: { sweepId: input.sweepId, index: point.index, params: point.params },
    prepared: { sources, image },
    placementStart: point.index,
  });
  // A job array: every point staged, then one submission; the scheduler holds the parallelism.
  // Points that will be reused stay out of the array: each finds its identical run again as a child.
  const arrayed = input.array && input.reuse ? await withoutReusable(input.points.map(childOf), sources, image) : input.points.map(childOf);
  const attached = input.array && arrayed.length ? await submitAsArray(input, arrayed, sources, image) : undefined;

  progress.state = 'running';
  const queue = [...input.points];
  let stopped = false;
  const runPoint = async (point: SweepPoint) => {
    const runId = ids.get(point.index)!;
    const handle = attached?.get(runId);
    const child: RunInput = { ...childOf(point), ...(handle ? { attached: { handle } } : {}) };
    results.set(point.index, { index: point.index, params: point.params, runId, state: 'not-started' });
    try {
      const r: RunResult = await executeChild(runProject, {
        workflowId: runId,
        args: [child],
        memo: { projectRoot: input.projectRoot, projectId: input.projectId, command: point.command, backend: input.backend, sweepId: input.sweepId, ...(input.workdir ? { workdir: input.workdir } : {}) },
      });
      results.set(point.index, { index: point.index, params: point.params, runId, state: r.state, exitCode: r.exitCode, backend: r.backend, commit: r.commit, ...(r.reason ? { reason: r.reason } : {}) });
    } catch (err) {
      // The point ended without a record (its job never started, or it was cancelled before).
      const cancelled = isCancellation(err);
      if (cancelled) stopped = true;
      results.set(point.index, { index: point.index, params: point.params, runId, state: cancelled ? 'cancelled' : 'failed', reason: reasonOf(err) });
    }
  };
  const lanes = Array.from({ length: Math.max(1, Math.min((!attached && input.maxParallel) || queue.length, queue.length)) }, async () => {
    // A cancelled sweep starts no more points (those left are recorded as not started).
    while (queue.length && !stopped && !CancellationScope.current().consideredCancelled) await runPoint(queue.shift()!);
  });
  await Promise.all(lanes);
  for (const point of queue) results.set(point.index, { index: point.index, params: point.params, runId: ids.get(point.index)!, state: 'not-started' });

  return CancellationScope.nonCancellable(async () => {
    progress.state = 'recording';
    const points = snapshot();
    const state = points.every((p) => p.state === 'succeeded' || p.state === 'reused') ? 'succeeded' : points.some((p) => p.state === 'cancelled' || p.state === 'not-started') ? 'cancelled' : 'failed';
    const commit = await finishing.recordSweep(input, sources, image, points, state, startedAt);
    await announceEnd({ kind: 'sweep', id: input.sweepId, commit, projectRoot: input.projectRoot });
    progress.state = state;
    return { sweepId: input.sweepId, state, points, commit };
  });
}

/** Stage every point (a few at once), then submit them all as one array; a failure removes what was staged. */
async function submitAsArray(input: SweepInput, children: RunInput[], sources: PreparedSources, image: PreparedImage): Promise<Map<string, JobHandle>> {
  const staged: StagedJob[] = [];
  try {
    for (let i = 0; i < children.length; i += 8) {
      staged.push(...(await Promise.all(children.slice(i, i + 8).map((c) => build.stage(c, sources.sourceCommit, image)))));
    }
    const handles = await CancellationScope.nonCancellable(() =>
      submitting.submitArray(input.sweepId, input.backend, children.map((c, i) => ({ input: c, staged: staged[i]! })), input.maxParallel),
    );
    return new Map(children.map((c, i) => [c.runId, handles[i]!]));
  } catch (err) {
    await CancellationScope.nonCancellable(async () => {
      for (const c of children) await finishing.cleanup(c);
    });
    throw err;
  }
}

/** The points no succeeded run with the same key has already (asked one by one: each is one local git lookup). */
async function withoutReusable(children: RunInput[], sources: PreparedSources, image: PreparedImage): Promise<RunInput[]> {
  const found = await Promise.all(children.map((c) => prep.findReusable(c, sources.sourceCommit, image)));
  return children.filter((_, i) => !found[i]);
}

/** A point's run id, like any run's ("run-" + 12 base32 characters); replays give the same ids. */
function pointRunId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  const hex = uuid4().replace(/-/g, '');
  let out = '';
  for (let i = 0; i < 12; i++) out += alphabet[parseInt(hex.slice(i * 2, i * 2 + 2), 16) % 32];
  return `run-${out}`;
}

function reasonOf(err: unknown): string {
  let cause: unknown = err;
  while (cause instanceof Error && cause.cause) cause = cause.cause;
  return cause instanceof Error ? cause.message : String(cause);
}
