import {
  CancellationScope,
  defineQuery,
  isCancellation,
  log,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { FinishInput, PreparedImage, PreparedSources, RunInput, RunProgress, RunResult } from '../activities/types.js';
import type { JobHandle, JobStatus } from '../backends/types.js';

export const progressQuery = defineQuery<RunProgress>('progress');

// Which failures are final is decided in one place, the activities' guard(): the user's errors at
// once; an unreachable backend before the job may exist at once, after that it is waited out.
// These policies only pace the retries of what guard() leaves retryable.
const retry = { initialInterval: '1s', maximumInterval: '30s', backoffCoefficient: 2 };

// Short steps (git, one engine or scheduler call) run as local activities: no server round trip each.
const prep = proxyLocalActivities<Activities>({ startToCloseTimeout: '2m', retry: { ...retry, maximumAttempts: 5 } });
const submitting = proxyLocalActivities<Activities>({ startToCloseTimeout: '2m', retry: { ...retry, maximumAttempts: 10 } });
const finishing = proxyLocalActivities<Activities>({ startToCloseTimeout: '5m', retry });
// Long steps heartbeat, so a dead worker is noticed and the step retried elsewhere.
const build = proxyActivities<Activities>({ startToCloseTimeout: '4h', heartbeatTimeout: '2m', retry: { ...retry, maximumAttempts: 3 } });
const transfer = proxyActivities<Activities>({ startToCloseTimeout: '4h', heartbeatTimeout: '2m', retry });
// Waiting has no overall deadline of its own (the job's time limit is the backend's business);
// the heartbeat timeout notices a dead worker, and retries re-attach to the same job.
const waiting = proxyActivities<Activities>({ startToCloseTimeout: '3650d', heartbeatTimeout: '10s', retry });

/**
 * One run: prepare (check, snapshot) → image → stage → submit → await → collect → record.
 * Deterministic: all I/O is in activities; cancellation kills the job and still records it.
 */
export async function runProject(input: RunInput): Promise<RunResult> {
  const progress: RunProgress = { runId: input.runId, state: 'queued', backend: input.backend, command: input.command };
  setHandler(progressQuery, () => progress);

  progress.state = 'preparing';
  let sources: PreparedSources;
  let image: PreparedImage;
  let handle: JobHandle;
  try {
    sources = await prep.prepare(input);
    progress.sourceCommit = sources.sourceCommit;
    // A new run builds or reuses its image and pushes it when the user has a registry, so any
    // machine can pull it by digest; a rerun uses the recorded one (stage pulls it if need be);
    // a team run the one its client built and pushed.
    image = input.team
      ? input.team.image
      : input.rerun
      ? await prep.resolveRecordedImage(input)
      : await build.publishImage(input, (await prep.findImage(input, sources.sourceCommit)) ?? (await build.buildImage(input, sources.sourceCommit)));
    progress.image = image;
    const staged = await build.stage(input, sources.sourceCommit, image);
    // Submit cannot be interrupted halfway: a cancel arriving now still sees the job's handle.
    handle = await CancellationScope.nonCancellable(() => submitting.submit(input, staged));
  } catch (err) {
    // Nothing ran: no record, the project's history stays as it was; staged sources are removed.
    if (isCancellation(err)) progress.state = 'cancelled';
    else progress.state = 'failed';
    await CancellationScope.nonCancellable(() => finishing.cleanup(input));
    throw err;
  }

  progress.handle = handle;
  progress.state = 'submitted';
  let status: JobStatus;
  let cancelled = false;
  try {
    progress.state = 'running';
    status = await waiting.awaitJob(input, handle);
  } catch (err) {
    if (!isCancellation(err)) {
      // A job that can never start (or a run that failed for good while waiting): nothing ran,
      // so nothing is recorded; what the run left on the backend and here is removed.
      progress.state = 'failed';
      await CancellationScope.nonCancellable(() => finishing.cleanup(input, handle));
      throw err;
    }
    cancelled = true;
    log.info('run cancelled; stopping the job', { runId: input.runId });
    status = await CancellationScope.nonCancellable(() => finishing.cancelJob(input, handle));
  }

  return CancellationScope.nonCancellable(async () => {
    progress.state = 'collecting';
    // Older histories' collect returned nothing: `?.` keeps them replayable.
    const collected = input.team ? undefined : await transfer.collect(input, handle);
    const state = cancelled ? 'cancelled' : status.phase === 'exited' && status.exitCode === 0 ? 'succeeded' : 'failed';
    const finish: FinishInput = {
      input,
      sources,
      image,
      handle,
      status: cancelled ? { ...status, reason: 'cancelled by user' } : status,
      state,
      ...(collected?.skipped.length ? { skippedOutputs: collected.skipped } : {}),
    };
    // Outputs and log are collected: removing the job can go on while the run is recorded. A team
    // run collects and publishes in one step (any worker may take it), then removes the job.
    const commit = input.team
      ? await transfer.publishRun(finish)
      : (await Promise.all([finishing.record(finish), finishing.cleanup(input, handle)]))[0];
    if (input.team) await finishing.cleanup(input, handle);
    progress.state = state;
    progress.exitCode = status.exitCode;
    progress.reason = finish.status.reason;
    progress.commit = commit;
    return {
      runId: input.runId,
      state,
      exitCode: status.exitCode ?? (state === 'succeeded' ? 0 : 1),
      reason: finish.status.reason,
      commit,
      ...(collected?.skipped.length ? { skippedOutputs: collected.skipped } : {}),
    };
  });
}
