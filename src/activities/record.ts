import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { createWriteStream } from 'node:fs';
import { appendFile, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { JobHandle } from '../backends/types.js';
import { LOCK_FILE, specHash } from '../images/lock.js';
import { imageLock } from '../images/lock-capture.js';
import { lockDigest, recordedLockText } from '../images/locked-build.js';
import { specsAt } from '../project/environment-at.js';
import { cacheLargeOutputs, checkoutOutputs, dataInputsAt, gitignoreWith, pushCachedObjects } from '../data/run-data.js';
import { autoTrackBytes } from '../data/settings.js';
import { outputStoreFor } from './data-staging.js';
import { digestFile, digestTree, extractFiles, logPath, readRunRecord, recordRunOn, recordSweep, recoveryBranch } from '../project/history.js';
import { findKeyedRun, keyPartsAt, neverReused, runKey, type KeyedRun } from '../project/run-key.js';
import { Git } from '../project/git.js';
import type { SweepRecord } from '../project/sweep-record.js';
import type { FinalState, RunData, RunRecord, TimelineEntry, UnsentOutputs } from '../project/run-record.js';
import { PublishedProject, PublishRefused } from '../project/published.js';
import type { SkippedOutput } from '../project/tar-members.js';
import type { AwaitedStatus, FinishInput, PreparedImage, PreparedSources, RecordedRun, RunInput, SweepInput, SweepPointResult, TeamRun } from './types.js';
import { badInput } from '../errors.js';
import { rerunOf, runOrigin, sweepOf, teamOf } from '../workflows/run-origin.js';
import { JOB_LOG, STORED_OUTPUTS, UNSENT_OUTPUTS } from '../config/env.js';
import { guard, withHeartbeat } from './guard.js';
import type { RunContext } from './context.js';

/** Runs and sweeps into history: the record commit (local or published on a team's remote), and reuse of an identical run. */
export function createRecordActivities(shared: RunContext) {
  const { deps, runDir, log, published, backendFor } = shared;

  /** The JSON record of a finished run and the extra files its commit holds (the environment lock). */
  async function runRecord(f: FinishInput, root: string, outputsDir: string, logFile: string): Promise<{ record: RunRecord; files: { path: string; content: string }[] }> {
    const { project, environment } = await specsAt(root, f.sources.sourceCommit);
    const { kind } = await backendFor(f.input.backend);
    const origin = runOrigin(f.input);
    const rerun = rerunOf(origin);
    const sweep = sweepOf(origin);
    // The lock of the image the run used, from the per-image cache. A rerun used the recorded
    // image: it records that run's lock, wherever it was captured (the base may be absent here).
    // A run is recorded even when its image can no longer be inspected, without a lock then.
    const original = rerun === undefined ? undefined : await recordedLockText(root, rerun).catch(() => undefined);
    const lock =
      original?.text ??
      teamOf(origin)?.lock ??
      (await imageLock(deps.docker, deps.home, f.image.digest, { base: environment.base, environment: specHash(environment) }).catch((err: unknown) => {
        log(f.input).warn({ err: String(err) }, 'environment lock not captured');
        return undefined;
      }));
    const now = new Date().toISOString();
    const startedAt = isoTime(f.status.startedAt) ?? now;
    // Docker can report a finish a millisecond before the start for instant jobs.
    const finishedAt = [isoTime(f.status.finishedAt) ?? now, startedAt].sort().at(-1)!;
    const record: RunRecord = {
      version: 1,
      runId: f.input.runId,
      project: { name: project.name, id: project.id },
      command: f.input.command,
      workdir: f.input.workdir || undefined,
      state: f.state,
      exitCode: f.status.exitCode ?? (f.state === 'succeeded' ? 0 : 1),
      reason: f.status.reason,
      backend: { name: f.input.backend, kind, jobId: f.handle?.jobId },
      sourceCommit: f.sources.sourceCommit,
      image: { digest: f.image.digest, tag: f.image.tag, reference: f.image.reference },
      environment: f.image.environment,
      environmentLock: lock === undefined ? undefined : { path: LOCK_FILE, sha256: lockDigest(lock) },
      resources: f.input.resources,
      // GPUs are where asked and granted may differ (a type, a count): the record keeps the scheduler's word.
      ...(f.input.resources.gpus && f.status.granted ? { granted: f.status.granted } : {}),
      ...((f.status as AwaitedStatus).used ? { used: (f.status as AwaitedStatus).used } : {}),
      startedAt,
      finishedAt,
      rerunOf: rerun,
      key:
        f.key ??
        runKey(
        await keyPartsAt(
          root,
          { sourceCommit: f.sources.sourceCommit, imageDigest: f.image.digest, command: f.input.command, workdir: f.input.workdir, resources: f.input.resources, backend: f.input.backend, dataInputs: await dataInputsAt(root, f.sources.sourceCommit) },
          project.reuse,
        ),
      ),
      ...(f.reusedFrom ? { reusedFrom: f.reusedFrom } : {}),
      ...(sweep ? { sweep: { id: sweep.sweepId, index: sweep.index, params: sweep.params } } : {}),
      ...(f.placement ? { placement: f.placement } : {}),
      outputs: await digestTree(outputsDir, 'output'),
      ...(f.skippedOutputs?.length ? { skippedOutputs: f.skippedOutputs } : {}),
      ...(secretNames(f.handle).length ? { secrets: secretNames(f.handle) } : {}),
      ...(f.times ? { timeline: timelineOf(f, startedAt, finishedAt, now) } : {}),
      log: await digestFile(logFile, `.reprise/activity/${f.input.runId}.log`),
    };
    return { record, files: lock === undefined ? [] : [{ path: LOCK_FILE, content: lock }] };
  }

  /** Large outputs into the data cache (pointers in `outputsDir` instead) and the run's data list. */
  async function runData(f: FinishInput, outputsDir: string, root = f.input.projectRoot, sent?: string[]): Promise<{ data: RunData; ignores: { path: string; content: string }[] }> {
    const { project } = await specsAt(root, f.sources.sourceCommit);
    // What the backend sent to the store itself: its pointers are in outputsDir, its bytes never here.
    const stored = sent ?? (await readFile(join(runDir(f.input.runId), STORED_OUTPUTS), 'utf8').then((t) => (JSON.parse(t) as { md5: string }[]).map((o) => o.md5), () => []));
    const { outputs, ignores } = await cacheLargeOutputs(root, outputsDir, autoTrackBytes(project), new Set(stored));
    const files = await Promise.all([...ignores].map(async ([folder, lines]) => ({ path: `${folder}/.gitignore`, content: await gitignoreWith(root, folder, lines) })));
    // Outputs collect could not send to the store: the record says they are only in the local cache.
    const unsent = sent ? undefined : await readFile(join(runDir(f.input.runId), UNSENT_OUTPUTS), 'utf8').then((t) => JSON.parse(t) as UnsentOutputs, () => undefined);
    const recorded = new Set(outputs.map((o) => o.path));
    const paths = unsent?.paths.filter((p) => recorded.has(p)) ?? [];
    return { data: { inputs: await dataInputsAt(root, f.sources.sourceCommit), outputs, ...(unsent && paths.length ? { unsent: { ...unsent, paths } } : {}) }, ignores: files };
  }

  /** Record a run in its local project: large outputs into the data cache, one commit, the outputs in the working tree. */
  async function recordLocal(f: FinishInput, outputsDir: string, logFile: string, skipped?: SkippedOutput[]): Promise<RecordedRun> {
    const { data, ignores } = await runData(f, outputsDir);
    const { record, files } = await runRecord(f, f.input.projectRoot, outputsDir, logFile);
    if (data.inputs.length || data.outputs.length) record.data = data;
    if (skipped?.length) record.skippedOutputs = skipped;
    const { commit, ref, checkedOut } = await recordRunOn(f.input.projectRoot, { record, outputsDir, logFile, branch: f.sources.branch, files: [...files, ...ignores] });
    // The cached outputs' bytes join their pointers in the working tree of the branch they were recorded on.
    if (checkedOut && data.outputs.length) await checkoutOutputs(f.input.projectRoot, data.outputs);
    const recovered = f.sources.branch !== recoveryBranch(record.runId) && ref === recoveryBranch(record.runId);
    log(f.input).info({ commit, state: record.state, exitCode: record.exitCode, outputs: record.outputs.length, reusedFrom: record.reusedFrom, ...(recovered ? { deletedBranch: f.sources.branch } : {}) }, 'run recorded');
    await rm(outputsDir, { recursive: true, force: true });
    return recovered ? { commit, recoveredBranch: record.runId } : { commit };
  }

  /**
   * The run `from` as a reused run starts from: its record, and its outputs and log written from
   * its commit into `dir` (under `output/` and the log's path); with the FinishInput of a reused run.
   */
  async function reusedFrom(root: string, input: RunInput, sources: PreparedSources, image: PreparedImage, from: KeyedRun, dir: string) {
    const original = await readRunRecord(root, from);
    await rm(dir, { recursive: true, force: true });
    await extractFiles(root, from.commit, [...original.outputs.map((o) => o.path), logPath(original.runId)], dir, { GIT_LITERAL_PATHSPECS: '1' });
    const outputsDir = join(dir, 'output');
    await mkdir(outputsDir, { recursive: true });
    const now = new Date().toISOString();
    const finish: FinishInput = { input, sources, image, status: { phase: 'exited', exitCode: original.exitCode, startedAt: now, finishedAt: now }, state: 'reused', reusedFrom: original.runId, key: from.key };
    return { original, outputsDir, logFile: join(dir, logPath(original.runId)), finish };
  }

  /** Publish a team run's record; the remote's refusal is final (the commit is kept, see publish), an unreachable remote retried. */
  async function publishRecord(project: PublishedProject, input: Parameters<PublishedProject['publish']>[0]): Promise<string> {
    try {
      return await project.publish(input);
    } catch (err) {
      if (err instanceof PublishRefused) throw ApplicationFailure.create({ message: err.message, type: err.kind, nonRetryable: true });
      throw err;
    }
  }

  /**
   * A team run that reuses `from`: the original's outputs and log are read from the worker's cache
   * of the remote (fetched when it lacks the original's commit) and the record is published on the
   * run's branch as publishRun publishes, with state reused. Nothing is submitted.
   */
  async function publishReused(input: RunInput, team: TeamRun, sources: PreparedSources, image: PreparedImage, from: KeyedRun): Promise<string> {
    const project = published(team);
    const root = await project.withCommit(sources.sourceCommit);
    if ((await new Git(root).tryRun(['cat-file', '-e', `${from.commit}^{commit}`])) === undefined) await project.withAllBranches(sources.sourceCommit, from.commit);
    const { original, outputsDir, logFile, finish } = await reusedFrom(root, input, sources, image, from, join(runDir(input.runId), 'reused'));
    const { record, files } = await runRecord(finish, root, outputsDir, logFile);
    record.worker = deps.workerIdentity;
    if (original.skippedOutputs?.length) record.skippedOutputs = original.skippedOutputs;
    // Large outputs the original recorded as data pointers stay pointers to the same bytes.
    if (original.data?.outputs.length) record.data = { inputs: await dataInputsAt(root, sources.sourceCommit), outputs: original.data.outputs };
    const commit = await withHeartbeat(() => publishRecord(project, { record, outputsDir, logFile, files }));
    log(input).info({ commit, remote: team.remote, branch: team.branch, worker: deps.workerIdentity, reusedFrom: original.runId }, 'reused run published');
    await rm(runDir(input.runId), { recursive: true, force: true });
    return commit;
  }

  return {
    /** One commit with this run's outputs, log and record, and the branch it went to when the run's own was deleted. */
    async record(f: FinishInput): Promise<RecordedRun> {
      return guard(async () => {
        const dir = runDir(f.input.runId);
        const logFile = join(dir, JOB_LOG);
        await appendFile(logFile, ''); // a job cancelled before it started has no log yet
        return recordLocal(f, join(dir, 'outputs'), logFile);
      });
    },

    /**
     * The succeeded run this run may reuse: same key (project/run-key.ts), on any branch (a team
     * run's: on any branch of the remote, fetched now). None when the project's `reuse.never`
     * names the command.
     */
    async findReusable(input: RunInput, sourceCommit: string, image: PreparedImage): Promise<KeyedRun | null> {
      return guard(async () => {
        const root = input.team ? await published(input.team).withAllBranches(sourceCommit) : input.projectRoot;
        const [{ project }, dataInputs] = await Promise.all([specsAt(root, sourceCommit), dataInputsAt(root, sourceCommit)]);
        const never = neverReused(project.reuse, input.command);
        if (never) {
          log(input).info({ glob: never }, 'command is never reused');
          return null;
        }
        const subject = { sourceCommit, imageDigest: image.digest, command: input.command, workdir: input.workdir, resources: input.resources, backend: input.backend, dataInputs };
        const key = runKey(await keyPartsAt(root, subject, project.reuse));
        const found = await findKeyedRun(root, key);
        log(input).info({ key, reusable: found?.runId }, found ? 'identical run found' : 'no identical run');
        return found ?? null;
      });
    },

    /**
     * Record a run that reuses `from`: its outputs and log are taken from its commit, then recorded
     * as any run's are (same record, same commit, state reused). Nothing is submitted.
     */
    async recordReused(input: RunInput, sources: PreparedSources, image: PreparedImage, from: KeyedRun): Promise<RecordedRun> {
      const team = teamOf(runOrigin(input));
      if (team) return guard(async () => ({ commit: await publishReused(input, team, sources, image, from) }), { transient: true });
      return guard(async () => {
        const dir = join(runDir(input.runId), 'reused');
        const { original, outputsDir, logFile: extracted, finish } = await reusedFrom(input.projectRoot, input, sources, image, from, dir);
        const logFile = join(runDir(input.runId), JOB_LOG);
        await rename(extracted, logFile);
        const recorded = await recordLocal(finish, outputsDir, logFile, original.skippedOutputs);
        await rm(dir, { recursive: true, force: true });
        return recorded;
      });
    },

    /**
     * Team mode's collect and record in one step on one worker (nothing it needs is left on
     * another worker's disk): the outputs and the whole log are read from the backend, and the
     * record commit is published on the remote's branch (project/published.ts).
     */
    async publishRun(f: FinishInput): Promise<string> {
      return guard(async () => {
        const team = teamOf(runOrigin(f.input));
        if (!team) throw badInput(`run ${f.input.runId} is no team run: it is recorded in its local project, not published`);
        const project = published(team);
        const root = await project.withCommit(f.sources.sourceCommit);
        const { backend } = await backendFor(f.input.backend);
        const dir = runDir(f.input.runId);
        const outputsDir = join(dir, 'outputs');
        const logFile = join(dir, 'record.log');
        await mkdir(dir, { recursive: true });
        // With a data store, large outputs go there (from where the run ran, else from here) and the record holds their pointers.
        const output = await outputStoreFor(root, { commit: f.sources.sourceCommit, signal: Context.current().cancellationSignal });
        const commit = await withHeartbeat(async () => {
          await rm(outputsDir, { recursive: true, force: true });
          await mkdir(outputsDir, { recursive: true });
          let skipped: SkippedOutput[] = [];
          let stored: string[] = [];
          if (f.handle) {
            const threshold = output ? autoTrackBytes((await specsAt(root, f.sources.sourceCommit)).project) : 0;
            const collected = await backend.collect(f.handle, outputsDir, output ? { data: { threshold, store: output.store } } : {});
            skipped = collected?.skipped ?? [];
            stored = (collected?.stored ?? []).map((o) => o.md5);
            await pipeline(await backend.logs(f.handle), createWriteStream(logFile));
          } else {
            await writeFile(logFile, '');
          }
          const { data, ignores } = output ? await runData(f, outputsDir, root, stored) : { data: undefined, ignores: [] };
          if (data?.outputs.length) await pushCachedObjects(root, data.outputs.filter((o) => !stored.includes(o.md5)), f.sources.sourceCommit);
          const { record, files } = await runRecord({ ...f, skippedOutputs: skipped }, root, outputsDir, logFile);
          if (data && (data.inputs.length || data.outputs.length)) record.data = data;
          record.worker = deps.workerIdentity;
          // Retried while the remote is unreachable, the job's outputs waiting on the backend meanwhile.
          return publishRecord(project, { record, outputsDir, logFile, files: [...files, ...ignores] });
        }).finally(() => output?.close());
        log(f.input).info({ commit, remote: team.remote, branch: team.branch, worker: deps.workerIdentity }, 'run published');
        await rm(outputsDir, { recursive: true, force: true });
        return commit;
      }, { transient: true });
    },

    /** The summary commit of a sweep: every point with its parameters, run, state, exit code and outputs. */
    async recordSweep(input: SweepInput, sources: PreparedSources, image: PreparedImage, points: SweepPointResult[], state: FinalState, startedAt: string): Promise<string> {
      return guard(async () => {
        const root = input.projectRoot;
        const { project } = await specsAt(root, sources.sourceCommit);
        const carried = new Set(input.retry?.kept.map((p) => p.runId) ?? []);
        const withOutputs = await Promise.all(
          points.map(async (p) => {
            const outputs = p.commit ? (await readRunRecord(root, { runId: p.runId, commit: p.commit }).catch(() => undefined))?.outputs : undefined;
            return { ...p, ...(carried.has(p.runId) ? { carried: true } : {}), ...(outputs ? { outputs } : {}) };
          }),
        );
        const record: SweepRecord = {
          version: 1,
          kind: 'sweep',
          sweepId: input.sweepId,
          project: { name: project.name, id: project.id },
          template: input.template,
          params: input.params,
          ...(input.workdir ? { workdir: input.workdir } : {}),
          resources: input.resources,
          backend: input.backend,
          state,
          sourceCommit: sources.sourceCommit,
          image: { digest: image.digest, reference: image.reference },
          environment: image.environment,
          retryOf: input.retry?.of,
          startedAt,
          finishedAt: new Date().toISOString(),
          points: withOutputs.sort((a, b) => a.index - b.index),
        };
        const commit = await recordSweep(root, record, sources.branch);
        deps.logger.info({ sweepId: input.sweepId, commit, state, points: points.length }, 'sweep recorded');
        return commit;
      });
    },
  };
}

/** The secrets a job was given, as its submit named them in the handle (names only). */
const secretNames = (handle: JobHandle | undefined): string[] =>
  Array.isArray(handle?.secrets) ? handle.secrets.filter((n): n is string => typeof n === 'string') : [];
/**
 * The record's timeline: the workflow's own times (queued, submitted, collected), each reason
 * the job waited, and the backend's (running, exited), in the order a run passes them.
 */
function timelineOf(f: FinishInput, startedAt: string, finishedAt: string, recordedAt: string): TimelineEntry[] {
  const { queuedAt, submittedAt, collectedAt } = f.times!;
  const waited = (f.status as AwaitedStatus).waited ?? [];
  return [
    { state: 'queued', at: queuedAt },
    { state: 'submitted', at: submittedAt },
    ...waited.map((w): TimelineEntry => ({ state: 'pending', at: w.at, reason: w.reason })),
    // A job cancelled before it started never ran.
    ...(f.status.startedAt ? [{ state: 'running', at: startedAt } as const] : []),
    { state: 'exited', at: finishedAt },
    { state: 'collected', at: collectedAt },
    { state: 'recorded', at: recordedAt },
  ];
}

/** Backends report times in their own precision (Docker: nanoseconds); records use ISO-8601 ms. */
const isoTime = (t: string | undefined) => (t && !Number.isNaN(Date.parse(t)) ? new Date(t).toISOString() : undefined);
