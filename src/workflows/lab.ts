import { ApplicationFailure, CancellationScope, isCancellation, log, patched, setHandler, sleep, workflowInfo } from '@temporalio/workflow';
import type { LabCheckpointOutcome, LabProgress, LabResult, PreparedImage, PreparedSources, RunInput } from '../activities/types.js';
import type { JobHandle, JobStatus } from '../backends/types.js';
import { ErrorKind } from '../errors.js';
import { labProgressQuery } from './contract.js';
import { runOrigin } from './run-origin.js';
import { build, checkpoints, finishing, prep, submitting, waiting } from './stubs.js';
import { announceEnd } from './notify.js';

/**
 * A lab session: JupyterLab in the project's image (plus a layer with JupyterLab), started as a
 * job on the backend like a run. While it runs, its files and executed cells are checkpointed
 * into the project's history every `checkpointSeconds`; when it is stopped (cancelled), hits its
 * time limit or its job dies, a last checkpoint records how it ended. Deterministic: I/O is in
 * activities; the tunnel to the Jupyter server is the CLI's business (cli/lab-tunnel.ts).
 */
export async function labSession(input: RunInput): Promise<LabResult> {
  const origin = runOrigin(input);
  if (origin.role !== 'lab') throw ApplicationFailure.create({ message: 'refused workflow input: input.lab is required: a lab session is started with its options', type: ErrorKind.badInput, nonRetryable: true });
  // A lab is a snapshot of the local project in an image found or built for it, then its lab layer.
  const { lab } = origin;
  const progress: LabProgress = { labId: input.runId, state: 'preparing', backend: input.backend, port: lab.port, ...(lab.app ? { app: lab.app } : {}), checkpoints: 0, executions: 0, notWritten: [] };
  setHandler(labProgressQuery, () => progress);
  const startedAt = workflowInfo().startTime.toISOString();

  let sources: PreparedSources, image: PreparedImage, labImage: PreparedImage, handle: JobHandle;
  try {
    sources = await prep.prepare(input);
    progress.sourceCommit = sources.sourceCommit;
    progress.state = 'building';
    image = (await prep.findImage(input, sources.sourceCommit)) ?? (await build.buildImage(input, sources.sourceCommit));
    progress.image = image;
    labImage = await build.buildLabImage(input, image);
    progress.labImage = labImage;
    progress.state = 'starting';
    const staged = await build.stage(input, sources.sourceCommit, labImage);
    handle = await CancellationScope.nonCancellable(() => submitting.submit(input, staged));
  } catch (err) {
    // Nothing ran: nothing to record; what was staged goes.
    progress.state = 'failed';
    progress.reason = isCancellation(err) ? 'stopped before it started' : String((err as Error).message ?? err);
    await CancellationScope.nonCancellable(() => finishing.cleanup(input));
    throw err;
  }
  progress.handle = handle;
  progress.state = 'running';

  const checkpoint = async (final?: { state: 'stopped' | 'timed out' | 'failed'; reason?: string }): Promise<LabCheckpointOutcome> => {
    const outcome = await checkpoints.labCheckpoint({ input, handle, sources, image, labImage, checkpoint: progress.checkpoints + 1, startedAt, ...(final ? { final } : {}) });
    progress.checkpoints = outcome.checkpoint;
    progress.executions += outcome.commit ? outcome.executions : 0;
    if (outcome.commit) progress.lastCommit = outcome.commit;
    progress.notWritten = [...new Set([...progress.notWritten, ...outcome.notWritten])];
    return outcome;
  };

  // The job ends on its own (time limit, killed, Jupyter shut down) or is stopped by cancel.
  const jobScope = new CancellationScope();
  let ended: JobStatus | undefined;
  const job = jobScope.run(() => waiting.awaitJob(input, handle)).then((s) => (ended = s));
  let stopped = false;
  try {
    while (!ended) {
      await Promise.race([job, sleep(lab.checkpointSeconds * 1000)]);
      // A stop that arrives while a checkpoint is being taken waits for it: cancelled halfway,
      // its commit could land while its number went unrecorded, and the last checkpoint would
      // then reuse that number and find the running one already there.
      if (!ended) await (patched('lab-checkpoint-whole-v1') ? CancellationScope.nonCancellable(() => checkpoint()) : checkpoint());
    }
  } catch (err) {
    if (!isCancellation(err)) {
      // The wait itself failed for good (the job can never start): nothing to keep but what the checkpoints have.
      progress.state = 'failed';
      progress.reason = String((err as Error).message ?? err);
      await CancellationScope.nonCancellable(() => finishing.cleanup(input, handle));
      throw err;
    }
    stopped = true;
  }

  return CancellationScope.nonCancellable(async () => {
    progress.state = 'stopping';
    let status = ended;
    if (stopped) {
      jobScope.cancel();
      status = await finishing.cancelJob(input, handle);
    }
    // Stopped by the user, or JupyterLab shut down from its own menu (exit 0): both are a stop.
    const final = stopped
      ? { state: 'stopped' as const }
      : status?.exitCode === 0
      ? { state: 'stopped' as const, reason: 'JupyterLab was shut down from its menu' }
      : status?.exitCode === 124
      ? { state: 'timed out' as const, reason: status.reason ?? 'time limit reached' }
      : { state: 'failed' as const, reason: status?.reason ?? `the lab's job ended with exit code ${status?.exitCode ?? '?'}` };
    log.info('lab session ends', { labId: input.runId, state: final.state });
    const last = await checkpoint(final);
    await finishing.cleanup(input, handle);
    const commit = last.commit ?? progress.lastCommit;
    if (commit) await announceEnd({ kind: 'lab', id: input.runId, commit, projectRoot: input.projectRoot });
    progress.state = final.state;
    progress.reason = final.reason;
    return {
      labId: input.runId,
      state: final.state,
      ...(final.reason ? { reason: final.reason } : {}),
      ...(status?.exitCode !== undefined ? { exitCode: status.exitCode } : {}),
      checkpoints: progress.checkpoints,
      executions: progress.executions,
      commit,
      notWritten: progress.notWritten,
    };
  });
}
