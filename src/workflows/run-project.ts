import {
  ApplicationFailure,
  CancellationScope,
  condition,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  patched,
  setHandler,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import type { FinishInput, Placement, PreparedImage, PreparedSources, RunInput, RunProgress, RunResult, Target } from '../activities/types.js';
import type { KeyedRun } from '../project/run-key.js';
import type { JobHandle, JobStatus } from '../backends/types.js';
import { ErrorKind, ExitCode } from '../errors.js';
import { newRunImage } from './image.js';
import { runOrigin, sweepOf, teamOf, unreachable, type ImageOrigin, type RunOrigin } from './run-origin.js';
import { announceEnd } from './notify.js';
import { grantSignal, progressQuery, releaseSignal, slotsWorkflowId } from './contract.js';
import { build, finishing, prep, submitting, transfer, waiting } from './stubs.js';

/**
 * One run: prepare (check, snapshot) → image → place (stage → submit, on a pool maybe again
 * elsewhere) → await → collect → record. Deterministic: all I/O is in activities; cancellation
 * kills the job and still records it.
 */
export async function runProject(input: RunInput): Promise<RunResult> {
  const progress: RunProgress = { runId: input.runId, state: 'queued', backend: input.backend, command: input.command };
  setHandler(progressQuery, () => progress);
  const slots = new Slots();
  const origin = runOrigin(input);
  const team = teamOf(origin);

  progress.state = 'preparing';
  let placed: Placed | Reusable;
  switch (origin.role) {
    case 'element':
      // Submitted already by its sweep's job array, with the sweep's sources and image.
      placed = { run: input, sources: origin.source.sources, image: origin.image.image, handle: origin.handle, target: { members: [input.backend] }, trail: [] };
      break;
    case 'run':
    case 'point':
      placed = await place(input, origin, slots, progress);
      break;
    case 'lab':
      throw ApplicationFailure.create({ message: 'refused workflow input: input.lab is a lab session: it is started as labSession, not as a run', type: ErrorKind.badInput, nonRetryable: true });
    default:
      return unreachable(origin);
  }
  if ('reusable' in placed) return recordReused(placed, origin, progress);
  const { run, sources, image, handle, target, trail } = placed;

  progress.handle = handle;
  progress.state = 'submitted';
  // Workflow time (deterministic on replay): when the run was queued and its job submitted.
  const queuedAt = workflowInfo().runStartTime.toISOString();
  const submittedAt = new Date().toISOString();
  let status: JobStatus;
  let cancelled = false;
  try {
    progress.state = 'running';
    status = await waiting.awaitJob(run, handle);
  } catch (err) {
    if (!isCancellation(err)) {
      // A job that can never start (or a run that failed for good while waiting): nothing ran,
      // so nothing is recorded; what the run left on the backend and here is removed.
      progress.state = 'failed';
      await CancellationScope.nonCancellable(async () => {
        await slots.releaseAll();
        await finishing.cleanup(run, handle);
      });
      throw err;
    }
    cancelled = true;
    log.info('run cancelled; stopping the job', { runId: input.runId });
    status = await CancellationScope.nonCancellable(() => finishing.cancelJob(run, handle));
  }

  return CancellationScope.nonCancellable(async () => {
    // The job has ended: its slot goes to the next run while this one is collected and recorded.
    await slots.releaseAll();
    progress.state = 'collecting';
    // Older histories' collect returned nothing: `?.` keeps them replayable.
    const collected = team ? undefined : await transfer.collect(run, handle);
    const times = { queuedAt, submittedAt, collectedAt: new Date().toISOString() };
    const state = cancelled ? 'cancelled' : status.phase === 'exited' && status.exitCode === 0 ? 'succeeded' : 'failed';
    const finish: FinishInput = {
      input: run,
      sources,
      image,
      handle,
      // A cancel is the user's, not the job's: recorded as the CLI exits on it (130) on every
      // backend, not as whatever the backend's kill left (docker kill: 137, scancel: 130).
      status: cancelled ? { ...status, exitCode: ExitCode.cancelled, reason: 'cancelled by user' } : status,
      state,
      ...(collected?.skipped.length ? { skippedOutputs: collected.skipped } : {}),
      ...(target.pool ? { placement: { pool: target.pool, trail } } : {}),
      times,
    };
    // Outputs and log are collected: removing the job can go on while the run is recorded. A team
    // run collects and publishes in one step (any worker may take it), then removes the job.
    const { commit, recoveredBranch } = team
      ? { commit: await transfer.publishRun(finish), recoveredBranch: undefined }
      : (await Promise.all([finishing.record(finish), finishing.cleanup(run, handle)]))[0];
    if (team) await finishing.cleanup(run, handle);
    // A sweep's points are told as one, by their sweep.
    if (!sweepOf(origin)) await announceEnd({ kind: 'run', id: input.runId, commit, projectRoot: run.projectRoot, ...(team ? { team } : {}) });
    progress.state = state;
    progress.exitCode = finish.status.exitCode;
    progress.reason = finish.status.reason;
    progress.commit = commit;
    return {
      runId: input.runId,
      state,
      exitCode: finish.status.exitCode ?? (state === 'succeeded' ? 0 : 1),
      reason: finish.status.reason,
      commit,
      ...(recoveredBranch ? { recoveredBranch } : {}),
      backend: run.backend,
      ...(collected?.skipped.length ? { skippedOutputs: collected.skipped } : {}),
      ...(collected?.unsent ? { unsentOutputs: collected.unsent } : {}),
    };
  });
}

/** A run whose job was submitted: the input as placed (its backend the one the job is on) and where it was tried. */
interface Placed {
  run: RunInput;
  sources: PreparedSources;
  image: PreparedImage;
  handle: JobHandle;
  target: Target;
  trail: Placement[];
}

/** A run that will execute nothing: a succeeded run with its key was found. */
interface Reusable {
  reusable: KeyedRun;
  run: RunInput;
  sources: PreparedSources;
  image: PreparedImage;
}

/**
 * Prepare the sources and the image, then stage and submit, on a pool member after member until
 * the job starts or the last member is reached. Failing, nothing ran: nothing is recorded, the
 * project's history stays as it was, and what was staged is removed.
 */
async function place(input: RunInput, origin: Extract<RunOrigin, { role: 'run' | 'point' }>, slots: Slots, progress: RunProgress): Promise<Placed | Reusable> {
  // Histories from before pools and slots replay without their steps.
  const placing = patched('placement-and-slots-v1');
  // `run` is the input as placed: its backend is the one the job is on (a pool's member).
  let run = input;
  const trail: Placement[] = [];
  let target: Target = { members: [input.backend] };
  try {
    if (placing) target = await prep.resolveTarget(input.backend);
    const start = (input.placementStart ?? 0) % target.members.length;
    const members = [...target.members.slice(start), ...target.members.slice(0, start)];
    run = { ...input, backend: members[0]! };
    const sources = await prep.prepare(run);
    progress.sourceCommit = sources.sourceCommit;
    const image = await imageOf(input, origin.image, sources.sourceCommit);
    progress.image = image;
    if (input.reuse) {
      // The key needs the image digest; nothing has been staged or submitted yet.
      const reusable = await prep.findReusable(run, sources.sourceCommit, image);
      if (reusable) return { reusable, run, sources, image };
      await prep.checkBackend(run);
    }
    for (let i = 0; ; i++) {
      run = { ...input, backend: members[i]! };
      progress.backend = run.backend;
      const staged = await build.stage(run, sources.sourceCommit, image);
      if (placing) await slots.hold(run.backend);
      // Submit cannot be interrupted halfway: a cancel arriving now still sees the job's handle.
      const handle = await CancellationScope.nonCancellable(() => submitting.submit(run, staged));
      const last = i === members.length - 1;
      const left = target.pool && !last ? await leaveIfWaiting(run, handle, target.maxQueueWaitSeconds ?? 0) : undefined;
      if (target.pool) trail.push({ backend: run.backend, jobId: handle.jobId, outcome: left ? 'withdrawn' : 'ran', ...(left ? { reason: left } : {}), at: new Date().toISOString() });
      progress.placements = [...trail];
      if (!left) return { run, sources, image, handle, target, trail };
      log.info('run moves on within its pool', { runId: input.runId, from: run.backend, reason: left });
      await slots.release(run.backend);
    }
  } catch (err) {
    progress.state = isCancellation(err) ? 'cancelled' : 'failed';
    await CancellationScope.nonCancellable(async () => {
      await slots.releaseAll();
      await finishing.cleanup(run);
    });
    throw err;
  }
}

/** The run's image, as its origin says. */
async function imageOf(input: RunInput, origin: ImageOrigin, sourceCommit: string): Promise<PreparedImage> {
  switch (origin.kind) {
    // A team run's image its client built and pushed; a sweep's point the one its sweep made.
    case 'given':
      return origin.image;
    // A rerun's recorded one, never rebuilt (stage pulls it if need be).
    case 'recorded':
      return prep.resolveRecordedImage(input);
    // A new run's: found or built, pushed when the user has a registry, so any machine can pull it by digest.
    case 'build':
      return newRunImage(input, sourceCommit);
    default:
      return unreachable(origin);
  }
}

/** A run that executes nothing: the identical run's outputs are recorded as this run's. */
async function recordReused(placed: Reusable, origin: RunOrigin, progress: RunProgress): Promise<RunResult> {
  const { reusable, run, sources, image } = placed;
  const team = teamOf(origin);
  progress.state = 'collecting';
  // A team run's record is published on the remote like publishRun's: a heartbeating activity any
  // worker may take, not a local one.
  const recording = team ? transfer : finishing;
  const { commit, recoveredBranch } = await CancellationScope.nonCancellable(() => recording.recordReused(run, sources, image, reusable));
  // Told like any run's end (filters see it as succeeded); a sweep's points by their sweep. Histories before this replay without it.
  if (!sweepOf(origin) && patched('notify-reused-v1')) await announceEnd({ kind: 'run', id: run.runId, commit, projectRoot: run.projectRoot, ...(team ? { team } : {}) });
  Object.assign(progress, { state: 'reused', exitCode: reusable.exitCode, commit, reusedFrom: reusable.runId });
  return { runId: run.runId, state: 'reused', exitCode: reusable.exitCode, commit, backend: run.backend, reusedFrom: reusable.runId, ...(recoveredBranch ? { recoveredBranch } : {}) };
}

/**
 * A pool's burst decision, in the workflow so it survives worker restarts: wait for the job to
 * start, at most `maxWaitSeconds` (a durable timer). Still pending then, or never able to start
 * here: the job is cancelled and confirmed gone before the run moves on, so there are never two
 * live copies. Returns why it left, or undefined when the job started here (it stays).
 */
async function leaveIfWaiting(run: RunInput, handle: JobHandle, maxWaitSeconds: number): Promise<string | undefined> {
  const scope = new CancellationScope();
  const started = scope.run(() => waiting.awaitStart(run, handle));
  const timer = new CancellationScope();
  const expired = timer.run(() => sleep(maxWaitSeconds * 1000)).then(() => undefined);
  let first: JobStatus | undefined;
  try {
    first = await Promise.race([started, expired]);
  } catch (err) {
    // The run is being cancelled: it stays here, and awaitJob's path stops the job and records it.
    if (isCancellation(err)) return undefined;
    throw err;
  }
  let reason: string;
  if (first) {
    timer.cancel();
    if (!first.never) return undefined;
    reason = `can never start: ${first.reason ?? 'the scheduler says so'}`;
  } else {
    scope.cancel();
    await started.catch(() => undefined);
    // Look once more: a job that started meanwhile stays where it is.
    const now = await submitting.jobStatus(run, handle);
    if (now.phase !== 'pending') return undefined;
    reason = `pending ${maxWaitSeconds}s${now.reason ? `: ${now.reason}` : ''}`;
  }
  await CancellationScope.nonCancellable(async () => {
    // cancelJob returns once the backend reports the job ended; until it does, ask again.
    for (;;) {
      const gone = await finishing.cancelJob(run, handle);
      if (gone.phase === 'exited' || gone.phase === 'lost') break;
      await sleep(2000);
    }
    await finishing.cleanup(run, handle);
  });
  return reason;
}

/** The slots this run holds or waits for (workflows/slots.ts): one per limited backend it is placed on. */
class Slots {
  private readonly granted = new Set<string>();
  private readonly asked = new Set<string>();

  constructor() {
    setHandler(grantSignal, (backend) => void this.granted.add(backend));
  }

  async hold(backend: string): Promise<void> {
    if (!(await prep.requestSlot(backend, workflowInfo().workflowId))) return;
    this.asked.add(backend);
    await condition(() => this.granted.has(backend));
  }

  async release(backend: string): Promise<void> {
    if (!this.asked.delete(backend)) return;
    this.granted.delete(backend);
    // The holder may have ended (idle); then there is nothing to give back.
    await getExternalWorkflowHandle(slotsWorkflowId(backend))
      .signal(releaseSignal, workflowInfo().workflowId)
      .catch(() => undefined);
  }

  async releaseAll(): Promise<void> {
    for (const backend of [...this.asked]) await this.release(backend);
  }
}
