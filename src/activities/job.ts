import { Context } from '@temporalio/activity';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Backend, JobHandle, JobStatus, JobUsage, StagedJob } from '../backends/types.js';
import { takeDueStep } from '../backends/due-step.js';
import { resolveBackend } from '../backends/user-config.js';
import { badInput } from '../errors.js';
import { fetchRunInputs, mountRunInputs, stageRunInputs } from '../data/run-data.js';
import { unsentLine } from '../data/unsent.js';
import { autoTrackBytes } from '../data/settings.js';
import { outputStoreFor, sendCollectedOutputs, stageDataFor } from './data-staging.js';
import type { UnsentOutputs } from '../project/run-record.js';
import type { SkippedOutput } from '../project/tar-members.js';
import { LogTail } from './log-tail.js';
import { LAB_TOKEN_SECRET, labToken } from '../lab/token.js';
import { readSecrets, SECRETS_MOUNT } from '../config/project-secrets.js';
import type { AwaitDetails, AwaitedStatus, PreparedImage, RunInput } from './types.js';
import { BUILD_LOG, JOB_LOG, STORED_OUTPUTS, DATA_STAGED, UNSENT_OUTPUTS } from '../config/env.js';
import { guard, withHeartbeat } from './guard.js';
import type { RunContext } from './context.js';

/** The longest one wait on a job's end (Backend.waitForEnd) lasts before its status is read again. */
const WAIT_FOR_END_MS = 5_000;

/** The job on its backend: staged, submitted (alone or as an array), awaited, cancelled, collected, cleaned up. */
export function createJobActivities(shared: RunContext) {
  const { deps, runDir, log, pollMs, userConfig, project, projectIdOf, runs, seen, rootOf, exportStaged, backendFor, transferLog } = shared;

  /**
   * Wait for the job to end: poll its status, copy its log to the run's log file, heartbeat.
   * On retry it re-reads the log from the start, so the file is rewritten, never duplicated.
   */
  async function awaitJobStatus(input: RunInput, handle: JobHandle): Promise<AwaitedStatus> {
    const ctx = Context.current();
    const { backend } = await backendFor(input.backend);
    const logFile = join(runDir(input.runId), JOB_LOG);
    await mkdir(runDir(input.runId), { recursive: true });
    // The tail of the output rides on every heartbeat: that is how a client on another machine
    // follows the job (client/follow.ts), in bounded memory and outside the workflow history.
    const tail = new LogTail();
    let phase = 'pending';
    let waiting: string | undefined;
    const waited: { at: string; reason: string }[] = [];
    const details = (): AwaitDetails => ({ phase, ...(waiting ? { waiting } : {}), log: tail.details() });
    const logCopy = backend
      .logs(handle)
      .then((stream) => pipeline(stream, tail.tap(), createWriteStream(logFile), { signal: ctx.cancellationSignal }))
      .catch((err: unknown) => log(input).warn({ err: String(err) }, 'log stream ended early'));
    // Poll fast at first (short jobs end quickly), then settle at pollMs; a running job whose
    // backend can wait on its end is waited on instead.
    for (let delay = 50; ; delay = Math.min(delay * 2, pollMs)) {
      const status = await poll(backend, handle, details);
      phase = status.phase;
      waiting = status.phase === 'pending' ? status.reason : undefined;
      if (waiting && waiting !== waited.at(-1)?.reason) waited.push({ at: new Date().toISOString(), reason: waiting });
      ctx.heartbeat(details());
      if (status.never) {
        // Waiting would be forever: remove the job and fail the run with the scheduler's words.
        await backend.cancel(handle);
        log(input).info({ reason: status.reason }, 'job can never start');
        if (status.misconfigured) throw badInput(status.reason ?? 'this backend is misconfigured: check it with reprise backend check');
        if (status.refused) throw badInput(`the ${handle.kind} cluster refuses to create this job's pod: ${status.reason}; ask its admin to allow it, ask for less (--cpus, --memory) or run elsewhere (--on)`);
        throw badInput(`the ${handle.kind} scheduler can never start this job: ${status.reason}; ask for less (--cpus, --memory, --gpus, --time) or run elsewhere (--on)`);
      }
      if (status.phase === 'exited' || status.phase === 'lost') {
        // The copy ends with the job's output. Wait while it still moves, so a log flooded at the
        // end is recorded whole on a loaded machine; a stream idle for 5 s is given up (a backend's
        // follow may outlive the job).
        let copied = false;
        void logCopy.finally(() => (copied = true));
        for (let idle = 0, seen = tail.received; !copied && idle < 5; ) {
          await Promise.race([logCopy, ctx.sleep(1000)]);
          ctx.heartbeat(details());
          if (tail.received === seen) {
            idle++;
          } else {
            seen = tail.received;
            idle = 0;
          }
        }
        log(input).info({ phase: status.phase, exitCode: status.exitCode, reason: status.reason }, 'job ended');
        const used = status.phase === 'exited' ? await usageOf(input, backend, handle, status, details) : undefined;
        return { ...status, ...(waited.length ? { waited } : {}), ...(used ? { used } : {}) };
      }
      // Both reject with CancelledFailure when the workflow cancels us.
      if (status.phase === 'running' && backend.waitForEnd) await waitForEnd(backend, handle, details);
      else await ctx.sleep(delay);
    }
  }

  /**
   * Wait on a running job's end through its backend, a few seconds at a time (status() is read
   * between waits), heartbeating as often as polling would: followers read the log's tail there.
   */
  async function waitForEnd(backend: Backend, handle: JobHandle, details: () => AwaitDetails): Promise<void> {
    const ctx = Context.current();
    const ended = backend.waitForEnd!(handle, { timeoutMs: WAIT_FOR_END_MS, signal: ctx.cancellationSignal });
    // Bounded here too: a backend's wait that overstays must not hold the loop (and a time limit) forever.
    let bound: NodeJS.Timeout | undefined;
    const overstayed = new Promise<void>((resolve) => (bound = setTimeout(resolve, 2 * WAIT_FOR_END_MS)));
    try {
      await withHeartbeat(() => Promise.race([ended, overstayed, ctx.cancelled]), details, pollMs);
    } finally {
      clearTimeout(bound);
    }
  }

  /**
   * One poll of a job being awaited: its status, then the step the status says is due (stop it
   * past its time limit, ship a pod its sources; status() itself only reads). An upload may take minutes.
   */
  async function poll(backend: Backend, handle: JobHandle, details?: () => AwaitDetails): Promise<JobStatus> {
    const status = await withHeartbeat(() => backend.status(handle), details);
    const due = status.due;
    return due ? withHeartbeat(() => takeDueStep(backend, handle, due), details) : status;
  }

  /** The status of an exited job with what it used, when its backend says. */
  async function withUsage(input: RunInput, backend: Backend, handle: JobHandle, status: JobStatus): Promise<JobStatus & { used?: JobUsage }> {
    const used = await usageOf(input, backend, handle, status);
    return used ? { ...status, used } : status;
  }

  /** What the job used, when its backend can say: a failure to read it never fails the run. */
  async function usageOf(input: RunInput, backend: Backend, handle: JobHandle, status: JobStatus, details?: () => AwaitDetails): Promise<JobUsage | undefined> {
    if (!backend.usage) return undefined;
    try {
      return await withHeartbeat(() => backend.usage!(handle, status), details);
    } catch (err) {
      log(input).debug({ err: String(err) }, 'job usage not read');
      return undefined;
    }
  }

  return {
    /** Export the source commit and hand it, with the image, to the backend. */
    async stage(input: RunInput, sourceCommit: string, image: PreparedImage) {
      return guard(async () => {
        seen(input);
        const sourcesDir = await exportStaged(input, sourceCommit);
        // Tracked inputs by digest from the local cache, what it lacks fetched from the data store first.
        const root = await rootOf(input, sourceCommit);
        const { backend } = await backendFor(input.backend);
        const mounting = Boolean(backend.mountsLocalData);
        const fetched = await withHeartbeat(() => fetchRunInputs(root, sourceCommit, { remoteRequired: Boolean(input.team), trees: mounting }));
        if (fetched) log(input).info({ fetched }, `${fetched} tracked input object(s) fetched from the data store into ${input.team ? "this worker's" : 'the local'} cache`);
        const onTransfer = await transferLog(input.runId);
        if (mounting) {
          // The job reads the cache in place: nothing linked or checked per file.
          const dataMounts = await withHeartbeat(() => mountRunInputs(root, sourceCommit));
          return await withHeartbeat(() =>
            backend.stage({ runId: input.runId, image: { digest: image.digest, tag: image.tag, reference: image.reference }, sourcesDir, dataMounts, onTransfer, signal: Context.current().cancellationSignal }),
          );
        }
        const inputs = await stageRunInputs(root, sourceCommit, backend.stagesDataByDigest ? undefined : sourcesDir);
        const staging = inputs.files.length
          ? await stageDataFor(root, inputs.files, { info: (line, fields) => log(input).info(fields, line), warn: (line, fields) => log(input).warn(fields, line) }, input.team && sourceCommit, inputs.folders)
          : undefined;
        try {
          const staged = await withHeartbeat(() =>
            backend.stage({
              runId: input.runId,
              image: { digest: image.digest, tag: image.tag, reference: image.reference },
              sourcesDir,
              readOnly: inputs.paths,
              onTransfer,
              data: staging?.data,
              signal: Context.current().cancellationSignal,
            }),
          );
          const moved = staging?.staged();
          if (moved) await writeFile(join(runDir(input.runId), DATA_STAGED), JSON.stringify(moved));
          return staged;
        } finally {
          staging?.close();
        }
      });
    },

    async submit(input: RunInput, staged: StagedJob): Promise<JobHandle> {
      return guard(async () => {
        seen(input);
        const { backend } = await backendFor(input.backend);
        // Secrets and a lab's token are read here, from this worker's own home: never carried in
        // the workflow's input or history; the handle names the secrets for the record.
        const secrets = await readSecrets(deps.home, await projectIdOf(input));
        const names = secrets.map((s) => s.name);
        const env: Record<string, string> = {};
        if (input.lab) {
          env.REPRISE_LAB_PORT = String(input.lab.port);
          env.REPRISE_LAB_TOKEN_FILE = `${SECRETS_MOUNT}/${LAB_TOKEN_SECRET}`;
          secrets.push({ name: LAB_TOKEN_SECRET, content: Buffer.from(await labToken(deps.home, input.runId)) });
        }
        const handle = await backend.submit({ runId: input.runId, command: input.command, workdir: input.workdir || undefined, env, resources: input.resources, staged, secrets });
        log(input).info({ jobId: handle.jobId, ...(names.length ? { secrets: names } : {}) }, 'job submitted');
        return names.length ? { ...handle, secrets: names } : handle;
      }, { transient: true }); // a job may exist already: an unreachable backend is retried
    },

    /** A sweep's points as one job array (one submission); the backend's maxParallel caps the array's own limit. */
    async submitArray(arrayId: string, backendName: string, jobs: { input: RunInput; staged: StagedJob }[], maxParallel?: number): Promise<JobHandle[]> {
      return guard(async () => {
        const { backend, kind } = await backendFor(backendName);
        if (!backend.submitArray) throw badInput(`backend ${backendName} (${kind}) has no job arrays; leave out --array`);
        const { config } = resolveBackend(await userConfig(), backendName);
        const limits = [maxParallel, 'maxParallel' in config ? config.maxParallel : undefined].filter((n): n is number => n !== undefined);
        // One sweep, one project: its secrets, read here as for a single run.
        const secrets = jobs.length ? await readSecrets(deps.home, await projectIdOf(jobs[0]!.input)) : [];
        const names = secrets.map((x) => x.name);
        const handles = (
          await backend.submitArray(
            arrayId,
            jobs.map(({ input, staged }) => ({ runId: input.runId, command: input.command, workdir: input.workdir || undefined, env: {}, resources: input.resources, staged, secrets })),
            { maxParallel: limits.length ? Math.min(...limits) : undefined },
          )
        ).map((h) => (names.length ? { ...h, secrets: names } : h));
        deps.logger.info({ arrayId, backend: backendName, jobs: handles.length, first: handles[0]?.jobId }, 'job array submitted');
        return handles;
      }, { transient: true });
    },

    async awaitJob(input: RunInput, handle: JobHandle): Promise<AwaitedStatus> {
      seen(input);
      return guard(() => awaitJobStatus(input, handle), { transient: true });
    },

    /**
     * Wait until the job leaves the queue (or the scheduler says it never will); the workflow
     * races this with its own timer to decide a pool's burst.
     */
    async awaitStart(input: RunInput, handle: JobHandle): Promise<JobStatus> {
      seen(input);
      return guard(async () => {
        const ctx = Context.current();
        const { backend } = await backendFor(input.backend);
        let details: AwaitDetails = { phase: 'pending' };
        for (let delay = 50; ; delay = Math.min(delay * 2, pollMs)) {
          // A pod waiting for its sources starts only once poll ships them (heartbeating what it last saw).
          const status = await poll(backend, handle, () => details);
          details = { phase: status.phase, ...(status.phase === 'pending' && status.reason ? { waiting: status.reason } : {}) };
          ctx.heartbeat(details);
          if (status.phase !== 'pending' || status.never) return status;
          await ctx.sleep(delay);
        }
      }, { transient: true });
    },

    /** The job's status once, for decisions the workflow takes (a pool's withdrawal); it only reads (awaitJob and awaitStart take a step due). */
    async jobStatus(input: RunInput, handle: JobHandle): Promise<JobStatus> {
      return guard(async () => (await backendFor(input.backend)).backend.status(handle), { transient: true });
    },

    async cancelJob(input: RunInput, handle: JobHandle): Promise<JobStatus> {
      return guard(async () => {
        const { backend } = await backendFor(input.backend);
        await backend.cancel(handle);
        for (let i = 0; i < 30; i++) {
          const status = await backend.status(handle);
          if (status.phase === 'exited') return withUsage(input, backend, handle, status);
          if (status.phase === 'lost') return status;
          await new Promise((r) => setTimeout(r, 500));
        }
        return backend.status(handle);
      }, { transient: true });
    },

    /**
     * Outputs into the run's directory; what was left out (links, devices, …) is named for the
     * record. With a data store, large outputs are in it when this ends, or named in `unsent`.
     */
    async collect(input: RunInput, handle: JobHandle): Promise<{ skipped: SkippedOutput[]; unsent?: UnsentOutputs }> {
      return guard(async () => {
        const { backend } = await backendFor(input.backend);
        const dest = join(runDir(input.runId), 'outputs');
        await rm(dest, { recursive: true, force: true });
        // Large outputs may go to the data store from where the run ran (the backend says which it sent).
        const output = input.team ? undefined : await outputStoreFor(input.projectRoot, { signal: Context.current().cancellationSignal });
        try {
          const threshold = output ? autoTrackBytes((await project(input.projectRoot)).spec) : 0;
          const collected = await withHeartbeat(() => backend.collect(handle, dest, output ? { data: { threshold, store: output.store } } : {}));
          const stored = collected?.stored ?? [];
          if (stored.length) log(input).info({ stored }, `${stored.length} large output(s) sent to the data store from where the run ran`);
          // What came back here goes to the store from here, before the record points at it.
          let unsent: UnsentOutputs | undefined;
          if (output) {
            let bytes = 0;
            const ctx = Context.current();
            const sent = await withHeartbeat(
              () => sendCollectedOutputs(input.projectRoot, dest, threshold, stored, { signal: ctx.cancellationSignal, onBytes: (n) => (bytes += n) }),
              () => ({ phase: 'uploading outputs', bytes }),
            );
            if (sent.sent.length) log(input).info({ sent: sent.sent, bytes: sent.bytes }, `${sent.sent.length} large output(s) sent to the data store from this machine`);
            stored.push(...sent.sent);
            unsent = sent.unsent;
          }
          await writeFile(join(runDir(input.runId), STORED_OUTPUTS), JSON.stringify(stored));
          const unsentFile = join(runDir(input.runId), UNSENT_OUTPUTS);
          if (unsent) {
            log(input).warn({ unsent }, unsentLine(unsent));
            await writeFile(unsentFile, JSON.stringify(unsent));
          } else await rm(unsentFile, { force: true });
          return { skipped: collected?.skipped ?? [], ...(unsent ? { unsent } : {}) };
        } finally {
          output?.close();
        }
      }, { transient: true });
    },

    /** Remove the job from the backend and the staged sources; logs stay for `reprise logs`. */
    async cleanup(input: RunInput, handle?: JobHandle): Promise<void> {
      return guard(async () => {
        if (handle) await (await backendFor(input.backend)).backend.cleanup(handle);
        // Everything staged for the run goes (sources, backend archives); the logs and what data
        // staging moved stay, and outputs/ with the lists of outputs sent to the store and not are
        // record's (it runs alongside and removes outputs/ once committed).
        const dir = runDir(input.runId);
        runs.delete(input.runId);
        // A team run's log is in its record on the remote: the worker keeps nothing.
        if (input.team) return void (await rm(dir, { recursive: true, force: true }));
        for (const entry of await readdir(dir).catch(() => [])) {
          if (![BUILD_LOG, JOB_LOG, DATA_STAGED, STORED_OUTPUTS, UNSENT_OUTPUTS, 'outputs'].includes(entry)) await rm(join(dir, entry), { recursive: true, force: true });
        }
        if ((await readdir(dir).catch(() => [])).length === 0) await rm(dir, { recursive: true, force: true });
      }, { transient: true });
    },
  };
}
