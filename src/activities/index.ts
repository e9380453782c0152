import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { createWriteStream } from 'node:fs';
import { appendFile, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type Docker from 'dockerode';
import type { Backend, BackendHooks, JobHandle, JobStatus, StagedJob } from '../backends/types.js';
import { findEnvironmentImage } from '../images/build.js';
import { buildTrustNotes, resolveBuildTrust } from '../images/build-trust.js';
import { LOCK_FILE, specHash } from '../images/lock.js';
import { imageLock } from '../images/lock-capture.js';
import { buildPlanned, lockDigest, plannedBuildAt, recordedLockText } from '../images/locked-build.js';
import { pingEngine } from '../images/engine.js';
import { pushImage } from '../images/registry.js';
import { transferLine, type OnTransfer } from '../images/transfer-progress.js';
import { BUILD_LOG, DATA_STAGED, JOB_LOG, paths, STORED_OUTPUTS, TRANSFER_LOG } from '../config/env.js';
import { loadUserConfig, resolveBackend, type BackendConfig } from '../backends/user-config.js';
import { badInput, ErrorKind, RepriseError } from '../errors.js';
import type { Logger } from '../logger.js';
import { specsAt } from '../project/environment-at.js';
import { cacheLargeOutputs, checkoutOutputs, dataInputsAt, fetchRunInputs, gitignoreWith, pushCachedObjects, stageRunInputs, trackedNotice, trackForRun } from '../data/run-data.js';
import { autoTrackBytes } from '../data/settings.js';
import { outputStoreFor, stageDataFor, stagedLine } from './data-staging.js';
import { loadProject } from '../project/layout.js';
import { currentBranch, digestFile, digestTree, exportSources, extractFiles, logPath, readRunRecord, recordRunOn, recordSweep, recoveryBranch, snapshotSources } from '../project/history.js';
import { findKeyedRun, keyPartsAt, neverReused, runKey, type KeyedRun } from '../project/run-key.js';
import { Git } from '../project/git.js';
import type { SweepRecord } from '../project/sweep-record.js';
import type { FinalState, RunData, RunRecord, TimelineEntry } from '../project/run-record.js';
import { assertWorkdirIn, checkWorkdir } from '../project/workdir.js';
import { PublishedProject, PublishRefused } from '../project/published.js';
import type { SkippedOutput } from '../project/tar-members.js';
import { LogTail } from './log-tail.js';
import { createLabActivities } from './lab.js';
import { createNotifyActivities } from './notify.js';
import { checkedActivities, inputChecks } from './validate.js';
import { LAB_TOKEN_SECRET, labToken } from '../lab/token.js';
import { readSecrets, SECRETS_MOUNT } from '../config/project-secrets.js';
import { resolvePool } from '../backends/pool/resolve-pool.js';
import { SLOTS_WORKFLOW, slotsWorkflowId } from '../workflows/names.js';
import {
  type AwaitDetails,
  type AwaitedStatus,
  type FinishInput,
  type PreparedImage,
  type PreparedSources,
  type RecordedRun,
  type RunInput,
  type SweepInput,
  type SweepPointResult,
  type Target,
  type TeamRun,
} from './types.js';

export interface ActivityDeps {
  home: string;
  logger: Logger;
  /** The engine images are built on (local Docker). */
  docker: Docker;
  createBackend: (config: BackendConfig, hooks?: BackendHooks) => Promise<Backend>;
  /** How often awaitJob polls the backend. */
  pollIntervalMs?: number;
  /** Who this worker is: recorded in the team-mode runs it publishes. */
  workerIdentity?: string;
  /** A team worker's backends (`reprise worker --backends`): it refuses every other backend and any local project. */
  servedBackends?: string[];
}

/**
 * Activities built from injected dependencies. Every activity is idempotent: a retry after a
 * worker crash finds and continues what the first attempt did.
 */
export function createActivities(deps: ActivityDeps) {
  const runDir = (runId: string) => paths.runDir(deps.home, runId);
  const log = (input: RunInput) => deps.logger.child({ runId: input.runId, backend: input.backend });
  const pollMs = deps.pollIntervalMs ?? 1000;

  /** The project's id (which keys its secrets): from the source commit a team run publishes, else the project's own file. */
  async function projectIdOf(input: RunInput): Promise<string> {
    if (!input.team) return (await loadProject(input.projectRoot)).spec.id;
    const { sourceCommit } = input.team;
    return (await specsAt(await rootOf(input, sourceCommit), sourceCommit)).project.id;
  }

  /** The runs this worker has seen, so a backend can have their sources again (restoreSources). */
  const runs = new Map<string, RunInput>();
  const seen = (input: RunInput) => runs.set(input.runId, input);
  const published = (team: TeamRun) => new PublishedProject(deps.home, team.remote, team.branch);

  /** The repository the run's commits are read from: the user's project, or (team mode) this worker's cache of its remote. */
  const rootOf = (input: Pick<RunInput, 'projectRoot' | 'team'>, commit: string): Promise<string> => (input.team ? published(input.team).withCommit(commit) : Promise.resolve(input.projectRoot));

  /** The source commit's files in the run's directory, output/ empty, ready to hand to a backend. */
  async function exportStaged(input: RunInput, sourceCommit: string): Promise<string> {
    const sourcesDir = join(runDir(input.runId), 'src');
    await rm(sourcesDir, { recursive: true, force: true });
    await exportSources(await rootOf(input, sourceCommit), sourceCommit, sourcesDir);
    // A run starts with an empty output/: what is there afterwards is what it produced.
    await rm(join(sourcesDir, 'output'), { recursive: true, force: true });
    await mkdir(join(sourcesDir, 'output'), { recursive: true, mode: 0o777 });
    return sourcesDir;
  }

  const hooks: BackendHooks = {
    onDataStaged: (runId, staged) => {
      deps.logger.info({ runId, data: staged }, stagedLine(staged));
      writeFile(join(runDir(runId), DATA_STAGED), JSON.stringify(staged)).catch(() => undefined);
    },
    restoreSources: async (runId) => {
      const input = runs.get(runId);
      if (!input?.team) throw new Error(`the staged sources of run ${runId} are gone from this worker and it cannot fetch them again (not a team run)`);
      return exportStaged(input, input.team.sourceCommit);
    },
  };

  // One backend instance per name while its config is unchanged, so connections (SSH) are reused.
  const backends = new Map<string, { key: string; backend: Promise<Backend> }>();
  async function backendFor(name: string): Promise<{ backend: Backend; kind: string }> {
    const { config } = resolveBackend(await loadUserConfig(deps.home), name);
    const key = JSON.stringify(config);
    let cached = backends.get(name);
    if (cached?.key !== key) {
      cached = { key, backend: deps.createBackend(config, hooks) };
      backends.set(name, cached);
    }
    return { backend: await cached.backend, kind: config.kind };
  }

  /** Appends transfer progress to the run's transfer log for the CLI's bar, at most once per MiB. */
  async function transferLog(runId: string): Promise<OnTransfer> {
    await mkdir(runDir(runId), { recursive: true });
    const file = join(runDir(runId), TRANSFER_LOG);
    let last = '';
    return (p) => {
      const mark = `${p.what}:${Math.floor(p.current / 2 ** 20)}:${p.total}`;
      if (mark === last) return;
      last = mark;
      void appendFile(file, transferLine(p)).catch(() => undefined);
    };
  }

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
    // Poll fast at first (short jobs end quickly), then settle at pollMs.
    for (let delay = 50; ; delay = Math.min(delay * 2, pollMs)) {
      // status() may do real work (the Kubernetes backend uploads sources once the pod starts).
      const status = await withHeartbeat(() => backend.status(handle), details);
      phase = status.phase;
      waiting = status.phase === 'pending' ? status.reason : undefined;
      if (waiting && waiting !== waited.at(-1)?.reason) waited.push({ at: new Date().toISOString(), reason: waiting });
      ctx.heartbeat(details());
      if (status.never) {
        // Waiting would be forever: remove the job and fail the run with the scheduler's words.
        await backend.cancel(handle);
        log(input).info({ reason: status.reason }, 'job can never start');
        if (status.refused) throw badInput(`the ${handle.kind} cluster refuses to create this job's pod: ${status.reason}; ask its admin to allow it, ask for less (--cpus, --memory) or run elsewhere (--on)`);
        throw badInput(`the ${handle.kind} scheduler can never start this job: ${status.reason}; ask for less (--cpus, --memory, --gpus, --time) or run elsewhere (--on)`);
      }
      if (status.phase === 'exited' || status.phase === 'lost') {
        await Promise.race([logCopy, ctx.sleep(5000)]);
        ctx.heartbeat(details());
        log(input).info({ phase: status.phase, exitCode: status.exitCode, reason: status.reason }, 'job ended');
        return waited.length ? { ...status, waited } : status;
      }
      await ctx.sleep(delay); // rejects with CancelledFailure when the workflow cancels us
    }
  }

  /** The JSON record of a finished run and the extra files its commit holds (the environment lock). */
  async function runRecord(f: FinishInput, root: string, outputsDir: string, logFile: string): Promise<{ record: RunRecord; files: { path: string; content: string }[] }> {
    const { project, environment } = await specsAt(root, f.sources.sourceCommit);
    const { kind } = await backendFor(f.input.backend);
    // The lock of the image the run used, from the per-image cache. A rerun used the recorded
    // image: it records that run's lock, wherever it was captured (the base may be absent here).
    // A run is recorded even when its image can no longer be inspected, without a lock then.
    const original = f.input.rerun && (await recordedLockText(root, f.input.rerun.runId).catch(() => undefined));
    const lock =
      original?.text ??
      f.input.team?.lock ??
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
      startedAt,
      finishedAt,
      rerunOf: f.input.rerun?.runId,
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
      ...(f.input.sweep ? { sweep: { id: f.input.sweep.sweepId, index: f.input.sweep.index, params: f.input.sweep.params } } : {}),
      ...(f.placement ? { placement: f.placement } : {}),
      outputs: await digestTree(outputsDir, 'output'),
      ...(f.skippedOutputs?.length ? { skippedOutputs: f.skippedOutputs } : {}),
      ...(secretNames(f.handle).length ? { secrets: secretNames(f.handle) } : {}),
      ...(f.times ? { timeline: timelineOf(f, startedAt, finishedAt, now) } : {}),
      log: await digestFile(logFile, `.reprise/activity/${f.input.runId}.log`),
    };
    return { record, files: lock === undefined ? [] : [{ path: LOCK_FILE, content: lock }] };
  }

  /** The run's snapshot, large new inputs and changed tracked data made pointers first (the record lists them by digest). */
  async function snapshotWithData(input: RunInput): Promise<PreparedSources> {
    const { spec } = await loadProject(input.projectRoot);
    const data = await trackForRun(input.projectRoot, autoTrackBytes(spec));
    for (const t of data.tracked) log(input).info({ path: t.path, md5: t.md5, size: t.size }, trackedNotice(t));
    return snapshotSources(input.projectRoot, input.runId, data.untrack);
  }

  /** Large outputs into the data cache (pointers in `outputsDir` instead) and the run's data list. */
  async function runData(f: FinishInput, outputsDir: string, root = f.input.projectRoot, sent?: string[]): Promise<{ data: RunData; ignores: { path: string; content: string }[] }> {
    const { project } = await specsAt(root, f.sources.sourceCommit);
    // What the backend sent to the store itself: its pointers are in outputsDir, its bytes never here.
    const stored = sent ?? (await readFile(join(runDir(f.input.runId), STORED_OUTPUTS), 'utf8').then((t) => (JSON.parse(t) as { md5: string }[]).map((o) => o.md5), () => []));
    const { outputs, ignores } = await cacheLargeOutputs(root, outputsDir, autoTrackBytes(project), new Set(stored));
    const files = await Promise.all([...ignores].map(async ([folder, lines]) => ({ path: `${folder}/.gitignore`, content: await gitignoreWith(root, folder, lines) })));
    return { data: { inputs: await dataInputsAt(root, f.sources.sourceCommit), outputs }, ignores: files };
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

  /** Flag an image that publishImage must push: the user has a registry (without one the workflow skips that step). */
  async function withPushFlag(image: PreparedImage): Promise<PreparedImage> {
    return (await loadUserConfig(deps.home)).registry?.url ? { ...image, unpublished: true } : image;
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
  async function publishReused(input: RunInput, sources: PreparedSources, image: PreparedImage, from: KeyedRun): Promise<string> {
    const team = input.team!;
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

  // Every argument is checked before any activity acts on it: workflow inputs are requests (validate.ts).
  return checkedActivities({
    ...createLabActivities({ home: deps.home, docker: deps.docker, logger: deps.logger, runDir, backendFor, guard, withHeartbeat }),
    ...createNotifyActivities({ home: deps.home, logger: deps.logger, rootOf, withHeartbeat }),

    /** Fail fast when the backend is unusable, then fix the source commit the run executes. */
    async prepare(input: RunInput): Promise<PreparedSources> {
      return guard(async () => {
        // A run that may be reused checks its backend only once it knows it will execute (checkBackend).
        if (!input.reuse) await (await backendFor(input.backend)).backend.check();
        // A sweep's point: the sweep fixed the source commit for all its points.
        if (input.prepared) return input.prepared.sources;
        const workdir = checkWorkdir(input.workdir ?? '');
        if (input.team) {
          // The client published the source commit on the remote: fetch it (a remote this worker
          // cannot reach fails the run now, before anything is submitted).
          const project = published(input.team);
          await project.fetch();
          const { sourceCommit, branch } = input.team;
          await assertWorkdirIn(await project.withCommit(sourceCommit), sourceCommit, workdir);
          log(input).info({ sourceCommit, remote: input.team.remote, branch }, 'team run prepared');
          return { sourceCommit, swept: false, branch };
        }
        const sources = input.rerun
          ? { sourceCommit: input.rerun.sourceCommit, swept: false, branch: await currentBranch(input.projectRoot) }
          : await snapshotWithData(input);
        await assertWorkdirIn(input.projectRoot, sources.sourceCommit, workdir);
        log(input).info({ sourceCommit: sources.sourceCommit, swept: sources.swept, rerunOf: input.rerun?.runId }, 'run prepared');
        return sources;
      });
    },

    /** The image of the source commit's environment if it is built already (fast path, no build). */
    async findImage(input: RunInput, sourceCommit: string): Promise<PreparedImage | null> {
      return guard(async () => {
        const { project, environment } = await specsAt(input.projectRoot, sourceCommit);
        const { tag, envHash: hash } = await plannedBuildAt(input.projectRoot, sourceCommit, project.name, environment);
        // Images are built on the local engine, whatever the backend. No ping first (this is the
        // warm path of every run): only a failed lookup asks the engine why, for a clear error.
        const found = await findEnvironmentImage(deps.docker, tag, hash).catch(async (err: unknown) => {
          await pingEngine(deps.docker);
          throw err;
        });
        if (!found) return null;
        log(input).info({ image: found.tag, digest: found.digest }, 'image reused');
        return withPushFlag({ digest: found.digest, tag: found.tag, environment: hash, reused: true });
      });
    },

    /** Build (or reuse) the image for the environment recorded in the source commit. */
    async buildImage(input: RunInput, sourceCommit: string): Promise<PreparedImage> {
      return guard(async () => {
        const { project, environment } = await specsAt(input.projectRoot, sourceCommit);
        const request = await plannedBuildAt(input.projectRoot, sourceCommit, project.name, environment);
        const trust = await resolveBuildTrust((await loadUserConfig(deps.home)).build);
        const dir = runDir(input.runId);
        await mkdir(dir, { recursive: true });
        const buildLog = join(dir, BUILD_LOG);
        await writeFile(buildLog, '');
        const ctx = Context.current();
        return withHeartbeat(async () => {
          const built = await buildPlanned(deps.docker, {
            ...request,
            trust,
            onOutput: (line) => void appendFile(buildLog, line + '\n').catch(() => undefined),
            onProgress: (p) => ctx.heartbeat(p),
          });
          log(input).info({ image: built.tag, digest: built.digest, reused: built.reused }, built.reused ? 'image reused' : 'image built');
          // Captured now, while the build's CA and proxy notes are known; record reads it from the cache
          // (and captures again if this failed: a lock is never a reason to fail the run).
          if (!built.reused) {
            await imageLock(deps.docker, deps.home, built.digest, { base: environment.base, environment: specHash(environment), buildNotes: buildTrustNotes(trust) }).catch((err: unknown) =>
              log(input).warn({ err: String(err) }, 'environment lock not captured after the build'),
            );
          }
          return withPushFlag({ digest: built.digest, tag: built.tag, environment: request.envHash, reused: built.reused });
        });
      });
    },

    /**
     * With a registry in the user config, push the image and pin it by manifest digest, so any
     * machine can pull exactly it (a push of what the registry has only checks the layers).
     */
    async publishImage(input: RunInput, image: PreparedImage): Promise<PreparedImage> {
      return guard(async () => {
        const rest = { ...image };
        delete rest.unpublished;
        const registry = (await loadUserConfig(deps.home)).registry?.url;
        if (!registry) return rest;
        const onTransfer = await transferLog(input.runId);
        const reference = await withHeartbeat(() => pushImage(deps.docker, registry, rest, onTransfer));
        log(input).info({ reference }, 'image pushed');
        return { ...rest, reference };
      });
    },

    /**
     * For reruns: the recorded image, never rebuilt. Where the job runs, the backend's stage
     * finds it locally or pulls it by its recorded registry digest (images/local.ts).
     */
    async resolveRecordedImage(input: RunInput): Promise<PreparedImage> {
      return guard(async () => {
        const rerun = input.rerun!;
        const { project, environment } = await specsAt(input.projectRoot, rerun.sourceCommit);
        const { envHash } = await plannedBuildAt(input.projectRoot, rerun.sourceCommit, project.name, environment);
        return { digest: rerun.imageDigest, reference: rerun.imageReference, environment: envHash, reused: true };
      });
    },

    /** Export the source commit and hand it, with the image, to the backend. */
    async stage(input: RunInput, sourceCommit: string, image: PreparedImage) {
      return guard(async () => {
        seen(input);
        const sourcesDir = await exportStaged(input, sourceCommit);
        // Tracked inputs by digest from the local cache, what it lacks fetched from the data store first.
        const root = await rootOf(input, sourceCommit);
        const fetched = await withHeartbeat(() => fetchRunInputs(root, sourceCommit, { remoteRequired: Boolean(input.team) }));
        if (fetched) log(input).info({ fetched }, `${fetched} tracked input object(s) fetched from the data store into ${input.team ? "this worker's" : 'the local'} cache`);
        const inputs = await stageRunInputs(root, sourceCommit, sourcesDir);
        const { backend } = await backendFor(input.backend);
        const onTransfer = await transferLog(input.runId);
        const staging = inputs.files.length
          ? await stageDataFor(root, inputs.files, { info: (line, fields) => log(input).info(fields, line), warn: (line, fields) => log(input).warn(fields, line) }, input.team && sourceCommit)
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
        const { config } = resolveBackend(await loadUserConfig(deps.home), backendName);
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

    async cancelJob(input: RunInput, handle: JobHandle): Promise<JobStatus> {
      return guard(async () => {
        const { backend } = await backendFor(input.backend);
        await backend.cancel(handle);
        for (let i = 0; i < 30; i++) {
          const status = await backend.status(handle);
          if (status.phase === 'exited' || status.phase === 'lost') return status;
          await new Promise((r) => setTimeout(r, 500));
        }
        return backend.status(handle);
      }, { transient: true });
    },

    /** Outputs into the run's directory; what was left out (links, devices, …) is named for the record. */
    async collect(input: RunInput, handle: JobHandle): Promise<{ skipped: SkippedOutput[] }> {
      return guard(async () => {
        const { backend } = await backendFor(input.backend);
        const dest = join(runDir(input.runId), 'outputs');
        await rm(dest, { recursive: true, force: true });
        // Large outputs may go to the data store from where the run ran (the backend says which it sent).
        const output = input.team ? undefined : await outputStoreFor(input.projectRoot, { signal: Context.current().cancellationSignal });
        try {
          const threshold = output ? autoTrackBytes((await loadProject(input.projectRoot)).spec) : 0;
          const collected = await withHeartbeat(() => backend.collect(handle, dest, output ? { data: { threshold, store: output.store } } : {}));
          await writeFile(join(runDir(input.runId), STORED_OUTPUTS), JSON.stringify(collected?.stored ?? []));
          if (collected?.stored?.length) log(input).info({ stored: collected.stored }, `${collected.stored.length} large output(s) sent to the data store from where the run ran`);
          return { skipped: collected?.skipped ?? [] };
        } finally {
          output?.close();
        }
      }, { transient: true });
    },

    /** One commit with this run's outputs, log and record, and the branch it went to when the run's own was deleted. */
    async record(f: FinishInput): Promise<RecordedRun> {
      return guard(async () => {
        const dir = runDir(f.input.runId);
        const logFile = join(dir, JOB_LOG);
        await appendFile(logFile, ''); // a job cancelled before it started has no log yet
        return recordLocal(f, join(dir, 'outputs'), logFile);
      });
    },

    /** Fail fast when the backend is unusable: a run that looked for a reusable run and found none checks here. */
    async checkBackend(input: RunInput): Promise<void> {
      return guard(async () => void (await (await backendFor(input.backend)).backend.check()));
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
      if (input.team) return guard(async () => ({ commit: await publishReused(input, sources, image, from) }), { transient: true });
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
        const team = f.input.team!;
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

    /** The backends a run may be placed on: the one named, or a pool's members in order. */
    async resolveTarget(backend: string): Promise<Target> {
      return guard(async () => {
        const config = await loadUserConfig(deps.home);
        if (resolveBackend(config, backend).config.kind !== 'pool') return { members: [backend] };
        const pool = resolvePool(config, backend);
        const names = pool.members.map((m) => m.name);
        // The preferred member goes first; the others keep their order.
        const members = pool.prefer ? [pool.prefer, ...names.filter((n) => n !== pool.prefer)] : names;
        return { pool: backend, members, maxQueueWaitSeconds: pool.maxQueueWaitSeconds };
      });
    },

    /**
     * Ask the backend's slot holder (workflows/slots.ts) for a slot when the backend has a
     * `maxParallel`; false when it has none (no need to wait). Repeating the ask is harmless.
     */
    async requestSlot(backend: string, holder: string): Promise<boolean> {
      return guard(async () => {
        const { config } = resolveBackend(await loadUserConfig(deps.home), backend);
        const limit = 'maxParallel' in config ? config.maxParallel : undefined;
        if (!limit) return false;
        const ctx = Context.current();
        await ctx.client.workflow.signalWithStart(SLOTS_WORKFLOW, {
          workflowId: slotsWorkflowId(backend),
          taskQueue: ctx.info.taskQueue,
          signal: 'acquireSlot',
          signalArgs: [{ holder, limit }],
          args: [{ backend, limit, holders: [], waiting: [] }],
        });
        return true;
      });
    },

    /** Which of these workflows have closed (or are unknown): slots they hold are free again. */
    async closedWorkflows(ids: string[]): Promise<string[]> {
      const client = Context.current().client;
      const closed = await Promise.all(
        ids.map(async (id) => {
          try {
            return (await client.workflow.getHandle(id).describe()).status.name === 'RUNNING' ? undefined : id;
          } catch (err) {
            return err instanceof WorkflowNotFoundError ? id : undefined;
          }
        }),
      );
      return closed.filter((id): id is string => id !== undefined);
    },

    /** The job's status once, for decisions the workflow takes (a pool's withdrawal). */
    async jobStatus(input: RunInput, handle: JobHandle): Promise<JobStatus> {
      return guard(async () => (await backendFor(input.backend)).backend.status(handle), { transient: true });
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
        for (let delay = 50; ; delay = Math.min(delay * 2, pollMs)) {
          const status = await backend.status(handle);
          ctx.heartbeat({ phase: status.phase, ...(status.phase === 'pending' && status.reason ? { waiting: status.reason } : {}) } satisfies AwaitDetails);
          if (status.phase !== 'pending' || status.never) return status;
          await ctx.sleep(delay);
        }
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

    /** Remove the job from the backend and the staged sources; logs stay for `reprise logs`. */
    async cleanup(input: RunInput, handle?: JobHandle): Promise<void> {
      return guard(async () => {
        if (handle) await (await backendFor(input.backend)).backend.cleanup(handle);
        // Everything staged for the run goes (sources, backend archives); the logs and what data
        // staging moved stay, and outputs/ with the list of outputs sent to the store are
        // record's (it runs alongside and removes outputs/ once committed).
        const dir = runDir(input.runId);
        runs.delete(input.runId);
        // A team run's log is in its record on the remote: the worker keeps nothing.
        if (input.team) return void (await rm(dir, { recursive: true, force: true }));
        for (const entry of await readdir(dir).catch(() => [])) {
          if (![BUILD_LOG, JOB_LOG, DATA_STAGED, STORED_OUTPUTS, 'outputs'].includes(entry)) await rm(join(dir, entry), { recursive: true, force: true });
        }
        if ((await readdir(dir).catch(() => [])).length === 0) await rm(dir, { recursive: true, force: true });
      }, { transient: true });
    },
  }, inputChecks({ home: deps.home, servedBackends: deps.servedBackends, backendOf: async (name) => (await backendFor(name)).backend }));
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

export type Activities = ReturnType<typeof createActivities>;

/**
 * User-caused errors become non-retryable failures whose type the CLI maps to an exit code.
 * `transient`: once a job may exist, an unreachable backend is retried (the workflow's policy
 * paces it) rather than losing the run. This is the one place that decides what is final.
 */
async function guard<T>(fn: () => Promise<T>, options: { transient?: boolean } = {}): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof RepriseError) {
      const nonRetryable = !(options.transient && err.kind === ErrorKind.backendUnavailable);
      throw ApplicationFailure.create({ message: err.message, type: err.kind, nonRetryable, details: err.detail ? [err.detail] : [] });
    }
    throw err;
  }
}

/** Heartbeat while a long step runs (the SDK throttles to the timeout), so a dead worker is noticed. */
async function withHeartbeat<T>(fn: () => Promise<T>, details?: () => unknown): Promise<T> {
  const ctx = Context.current();
  const beat = setInterval(() => ctx.heartbeat(details?.()), 2_000);
  try {
    return await fn();
  } finally {
    clearInterval(beat);
  }
}
