import { formatGpus } from '../../config/resources.js';
import type Docker from 'dockerode';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { CollectTally } from '../output-limit.js';
import { extractOutputs } from '../extract-outputs.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, type Duplex } from 'node:stream';
import type { SlurmConfig } from './config.js';
import { backendUnavailable, badInput, errorMessage, notFound, RepriseError } from '../../errors.js';
import { dockerClient } from '../../images/engine.js';
import type { Backend, BackendCheck, Collected, CollectOptions, JobHandle, JobSpec, JobStatus, StagedJob, StageRequest } from '../types.js';
import { jobWorkdir, PROJECT_MOUNT } from '../types.js';
import { containerRuntimes, type ContainerRuntime, type ReadOnlyBind } from './container-runtime.js';
import type { JobSecret } from '../../config/project-secrets.js';
import { exportImage } from '../../images/export.js';
import { ensureLocalImage } from '../../images/local.js';
import { dockerAuth, registryHost } from '../../images/registry.js';
import { batchScript, isGoneJobError, jobName, sbatchRefusal, SUBMIT_SCRIPT } from './scheduler.js';
import { shellQuote } from '../../shell-quote.js';
import { ARRAY_CANCEL_SCRIPT, ARRAY_CLEANUP_SCRIPT, ARRAY_SUBMIT_SCRIPT, arrayJobName, arrayScript, CANCELLED_MARK, isArrayElement } from './job-array.js';
import { archiveSources } from '../sources-archive.js';
import { clusterDataMounts, isClusterTreePath, stageClusterData, storeLargeOutputs, type ClusterDataOptions } from './data-cache.js';
import { writeOutputPointer } from '../output-pointer.js';
import { SshClient } from './ssh-client.js';
import { SshConfigError } from './ssh-config.js';
import { resolveSshTarget, type SshEnv, type SshTarget } from './ssh-target.js';
import { spacingAt, StatusPoller } from './status-poller.js';
import { sacctUsage, sacctUsageCommand, type SacctUsage } from './accounting.js';
import type { JobUsage } from '../usage.js';

export type StageStep = 'image-cached' | 'image-pull' | 'image-pull-failed' | 'image-upload' | 'image-convert' | 'sources-upload' | 'data-stage';

export interface SlurmBackendDeps {
  /** The local engine images are exported from. */
  docker?: Docker;
  /** Files, user and environment ssh_config is resolved against (default: this process's). */
  sshEnv?: SshEnv;
  /** Each staging step; `bytes`: how much this machine sent for it. */
  onProgress?: (step: StageStep, detail: string, bytes?: number) => void;
  /** How often logs() looks for new output. */
  logPollMs?: number;
  /** The pause between two sacct reads of a job whose accounting lags its end. */
  usageRetryMs?: number;
}

interface SlurmHandle extends JobHandle {
  kind: 'slurm';
  /** Absolute run directory on the cluster: job.sh, job.log, exit_code, project/. */
  runDir: string;
  timeSeconds: number | null;
  // An element of a job array (jobId `<array job id>_<index>`) also has `arrayDir`: see arrayDirOf.
}

/** How often the state of the backend's jobs is read (one squeue for all of them), by default. */
export const DEFAULT_POLL_INTERVAL_S = 1;

/** sacct is asked this many times, a second apart, while its figures for an ended job are incomplete. */
const USAGE_ATTEMPTS = 5;

/** What a runtime's bind option would read as a separator (`SRC:DST`, Apptainer's `a,b`) or cannot carry. */
// eslint-disable-next-line no-control-regex -- a line break or NUL in a path is exactly what it refuses
const BIND_UNSAFE = /[:,\0-\x1f]/;
/** Paths that go into #SBATCH lines and rm -rf: plain characters only. */
const SAFE_REMOTE_PATH = /^\/[A-Za-z0-9._+\-/]+$/;
/** Up to the 10 GiB a collect may bring back over a slow link: the activity's heartbeat watches it meanwhile. */
const COLLECT_TIMEOUT_MS = 2 * 60 * 60_000;
/** $1 the project, then tar's options, --, the top folders: those that exist are archived (a link among them as a link). */
const COLLECT_SCRIPT =
  'cd "$1" || exit 0; shift; n=$#; names=; found=; for a; do if [ -n "$names" ]; then if [ -e "$a" ] || [ -h "$a" ]; then set -- "$@" "$a"; found=1; fi; else set -- "$@" "$a"; [ "$a" = -- ] && names=1; fi; done; shift "$n"; [ -n "$found" ] || exit 0; exec tar -c -f - "$@"';
const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** Sources can be large on a slow link: the stage round trip carries them. */
const STAGE_TIMEOUT_MS = 30 * 60_000;
/**
 * $1 the run directory, $2 the image's path; the sources tar on stdin. 0700 down from runs/:
 * another account's job on the cluster cannot read a run's sources or outputs. A repeated stage
 * starts the project over: the same result, never a mix. Says whether the image is there.
 */
const STAGE_SCRIPT = `set -e
mkdir -p "$1"
chmod 0700 "$(dirname "$1")" "$1"
rm -rf "$1/project" "$1/sources.tar"
mkdir "$1/project"
tar -x --no-same-owner -f - -C "$1/project"
mkdir -p "$1/project/output"
if [ -e "$2" ]; then echo image-present; fi
`;
/**
 * $1 the run directory, $3 how many secrets were written (none: a stale secrets folder goes); job.sh
 * on stdin, written aside under a name of this shell's own (two submits of one run, as after a
 * worker restart, may write at once) and renamed into place whole.
 */
export const WRITE_JOB_SCRIPT = `set -e
mkdir -p "$1"
chmod 0700 "$(dirname "$1")" "$1"
if [ "$3" = 0 ]; then chmod -R u+w -- "$1/secrets" 2>/dev/null || true; rm -rf -- "$1/secrets"; fi
t="$1/job.sh.tmp.$$"
trap 'rm -f "$t"' EXIT
cat > "$t"
chmod 0700 "$t"
mv -f "$t" "$1/job.sh"
`;
/** $1 the project, $2 the size limit, then the top folders: "size path" NUL-separated (a name may hold a newline). */
const LARGE_FILES_SCRIPT = 'cd "$1" || exit 0; max=$2; shift 2; for p; do [ -d "$p" ] && [ ! -h "$p" ] && find "$p" -type f -size +"$max"c -printf \'%s %p\\0\'; done; exit 0';

/**
 * Runs jobs on a SLURM cluster reached over SSH: images shipped once per digest and converted
 * for the cluster's container runtime, sources shipped per run, jobs submitted with sbatch.
 */
export class SlurmBackend implements Backend {
  readonly kind = 'slurm';
  /** Tracked inputs go by digest into the cluster's cache (data-cache.ts) and are left out of the sources archive. */
  readonly stagesDataByDigest = true;
  readonly ssh: SshClient;
  private readonly poller: StatusPoller;
  private readonly runtime: ContainerRuntime;
  private readonly docker: Docker;
  private workdirAbs?: Promise<string>;

  /** Throws BackendUnavailable when the SSH settings or the ssh_config they name cannot be followed. */
  constructor(
    private readonly config: SlurmConfig,
    private readonly deps: SlurmBackendDeps = {},
  ) {
    const target = sshTarget(config, deps.sshEnv);
    this.ssh = new SshClient(target);
    // One poller per cluster and interval in this process; each poll borrows the shared connection.
    const intervalMs = (config.pollInterval ?? DEFAULT_POLL_INTERVAL_S) * 1000;
    this.poller = StatusPoller.for(JSON.stringify(target), intervalMs, async (argv) => {
      const ssh = new SshClient(target);
      try {
        return await ssh.run(argv);
      } finally {
        ssh.close();
      }
    });
    this.runtime = containerRuntimes[config.runtime];
    this.docker = deps.docker ?? dockerClient();
  }

  async check(): Promise<BackendCheck> {
    const sinfo = await this.ssh.exec(['sinfo', '--version']);
    if (sinfo.code !== 0) throw backendUnavailable(`sinfo does not run on ${this.config.host} (exit ${sinfo.code}: ${sinfo.stderr.trim()}); is this a SLURM login node?`);
    const rt = await this.ssh.exec(this.runtime.versionCommand);
    const rtVersion = (rt.stdout.toString() + rt.stderr).trim().split('\n')[0] ?? '';
    if (rt.code !== 0) throw backendUnavailable(`${this.runtime.versionCommand[0]} does not run on ${this.config.host} (exit ${rt.code}); install ${this.runtime.name} or set runtime:`);
    const version = sinfo.stdout.toString().trim();
    return { kind: this.kind, version, details: { host: this.ssh.description, runtime: `${this.runtime.name} ${rtVersion}`, workdir: await this.workdir() } };
  }

  async stage(request: StageRequest): Promise<StagedJob> {
    const runDir = await this.runDirPath(request.runId);
    const imageTarget = await this.imageTarget(request);
    const local = await mkdtemp(join(tmpdir(), 'reprise-slurm-src-'));
    try {
      const tar = join(local, 'sources.tar');
      // Tracked inputs come from the cluster's data cache by digest, not with every run's sources.
      await archiveSources(request.sourcesDir, tar, { exclude: request.data ? request.readOnly : [] });
      this.deps.onProgress?.('sources-upload', runDir);
      // One round trip: the run directory made, the sources unpacked from stdin, the image looked for.
      const staged = await this.ssh.execWithInput(['sh', '-c', STAGE_SCRIPT, 'sh', runDir, imageTarget], { file: tar }, STAGE_TIMEOUT_MS);
      if (staged.code !== 0) throw new Error(`unpacking the sources in ${runDir} on ${this.config.host} failed (exit ${staged.code}): ${staged.stderr.trim().split('\n').slice(-3).join(' | ')}`);
      let image = imageTarget;
      if (/^image-present$/m.test(staged.stdout.toString('utf8'))) this.deps.onProgress?.('image-cached', imageTarget);
      else image = await this.shipImage(request, imageTarget);
      const mounts = clusterDataMounts((await this.dataCache()).cacheDir, request.data);
      if (request.data?.files.length || mounts.length) {
        this.deps.onProgress?.('data-stage', runDir);
        await stageClusterData(await this.dataCache(), runDir, `${runDir}/project`, request.data!, request.signal);
      }
      return { image, sources: `${runDir}/project`, ...(mounts.length ? { mounts } : {}) };
    } finally {
      await rm(local, { recursive: true, force: true });
    }
  }

  async submit(job: JobSpec): Promise<JobHandle> {
    const runDir = await this.runDirPath(job.runId);
    const secrets = job.secrets ?? [];
    // None: WRITE_JOB_SCRIPT clears a stale secrets folder in the submit's round trip.
    const secretsDir = secrets.length ? await this.writeSecrets(runDir, secrets) : undefined;
    const script = batchScript({
      jobName: jobName(job.runId),
      runDir,
      resources: job.resources,
      partition: this.config.partition,
      account: this.config.account,
      qos: this.config.qos,
      extraArgs: this.config.sbatchArgs,
      gpuFlag: this.config.gpuFlag,
      env: jobEnv(job),
      command: this.runtime.runCommand(job.staged.image, job.staged.sources, job.command, job.resources.gpus ?? 0, jobWorkdir(job), Object.keys(jobEnv(job)), secretsDir, await this.dataBinds(job)),
    });
    // job.sh comes on stdin and is submitted in the same round trip. Rewriting it is harmless:
    // once a job exists the submit script returns it, unchanged.
    const submitted = await this.ssh.execWithInput(['sh', '-c', `${WRITE_JOB_SCRIPT}${SUBMIT_SCRIPT}`, 'sh', runDir, jobName(job.runId), String(secrets.length)], Buffer.from(script));
    if (submitted.code !== 0) {
      const refusal = sbatchRefusal(submitted.stderr);
      // Nothing was queued: the run fails at once with SLURM's reason (exit 2, not recorded).
      // sbatch does not say which request no node has: a GPU type is the likely one, so it is named.
      const gpus = job.resources.gpus ? ` asking for --gpus ${formatGpus(job.resources)}` : '';
      if (refusal) throw badInput(`${this.config.host} refuses the job${gpus}: ${refusal}; ask for less (--cpus, --memory, --gpus, --time) or another partition`);
      throw new Error(`sbatch failed on ${this.config.host} (exit ${submitted.code}): ${submitted.stderr.trim().split('\n').slice(-3).join(' | ')}`);
    }
    const out = submitted.stdout.toString('utf8');
    // An element of a job array this run was submitted in reads <array job id>_<index>.
    const jobId = /^(\d+(?:_\d+)?)/.exec(out.trim())?.[1];
    if (!jobId) throw new Error(`sbatch on ${this.config.host} gave no job id: ${out.trim()}`);
    const handle: SlurmHandle = { kind: 'slurm', runId: job.runId, jobId, runDir, timeSeconds: job.resources.timeSeconds ?? null };
    return handle;
  }

  /** Joins the backend's next batched poll: one squeue for all its jobs per poll interval. */
  async status(handle: JobHandle): Promise<JobStatus> {
    const h = await this.checked(handle);
    const status = await this.poller.status(h);
    return status.phase === 'lost' && isArrayElement(h.jobId) ? this.elementGone(h, status) : status;
  }

  async logs(handle: JobHandle): Promise<Readable> {
    const h = await this.checked(handle);
    const pollMs = this.deps.logPollMs ?? 1000;
    const ssh = this.ssh;
    const status = (x: JobHandle) => this.status(x);
    const since = Date.now();
    async function* follow(): AsyncGenerator<Buffer> {
      let offset = 0;
      let failures = 0;
      for (;;) {
        const round = Date.now();
        try {
          // Read what is there, then ask whether the job ended: a job that ended after this read
          // is read once more on the next round, so nothing written before the end is lost.
          const chunk = await ssh.exec(['sh', '-c', 'tail -c +"$2" "$1" 2>/dev/null; exit 0', 'sh', `${h.runDir}/job.log`, String(offset + 1)]);
          const ended = chunk.stdout.length === 0 && ['exited', 'lost'].includes((await status(h)).phase);
          failures = 0;
          if (chunk.stdout.length > 0) {
            offset += chunk.stdout.length;
            yield chunk.stdout;
            continue;
          }
          if (ended) {
            const last = await ssh.exec(['sh', '-c', 'tail -c +"$2" "$1" 2>/dev/null; exit 0', 'sh', `${h.runDir}/job.log`, String(offset + 1)]);
            if (last.stdout.length > 0) yield last.stdout;
            return;
          }
        } catch (err) {
          // A dropped connection is retried (the client reconnects); a persistent failure ends the stream.
          if (++failures > 5) throw err;
        }
        // One round per pollMs, counted from its start: status() may itself have waited for the
        // backend's next poll (up to an interval), and sleeping a whole pollMs after that made a
        // round two seconds, so a job's end reached its run up to two seconds late. A job's first
        // seconds go at the status poller's early spacing: a short job's end is not a round late.
        await new Promise((r) => setTimeout(r, Math.max(0, round + spacingAt(Date.now() - since, pollMs) - Date.now())));
      }
    }
    return Readable.from(follow(), { objectMode: false });
  }

  async cancel(handle: JobHandle): Promise<void> {
    const h = await this.checked(handle);
    const r = await this.ssh.exec(isArrayElement(h.jobId) ? ['sh', '-c', ARRAY_CANCEL_SCRIPT, 'sh', h.jobId, h.runDir] : ['scancel', h.jobId]);
    if (r.code !== 0 && !isGoneJobError(r.stderr)) throw new Error(`scancel ${h.jobId} failed on ${this.config.host}: ${r.stderr.trim()}`);
  }

  /**
   * One tar stream made on the login node (GNU tar never follows a link unless told to, and
   * opens each file with O_NOFOLLOW through its parent's descriptor, so a job swapping files for
   * links meanwhile cannot redirect a read), extracted here trusting nothing in it. SFTP could
   * not be made race-free: its open follows links and its attributes carry no inode to compare.
   */
  async collect(handle: JobHandle, destDir: string, options: CollectOptions = {}): Promise<Collected> {
    const h = await this.checked(handle);
    const paths = options.paths ?? ['output'];
    const bad = paths.find((p) => !/^[A-Za-z0-9._][A-Za-z0-9._-]*$/.test(p) || p === '.' || p === '..');
    if (bad !== undefined) throw badInput(`cannot collect "${bad}": only top-level directories of the project are collected (code, output, …)`);
    await mkdir(destDir, { recursive: true });
    const tally = new CollectTally();
    const project = `${h.runDir}/project`;
    // Large outputs go from the login node to the data store, and are left out of what comes back.
    const stored = options.data && options.final !== false && !options.paths ? await storeLargeOutputs(await this.dataCache(), h.runDir, project, options.data.threshold, options.data.store) : [];
    // A file larger than a whole collect may bring back is named from a listing and never sent.
    const big = await this.ssh.exec(['sh', '-c', LARGE_FILES_SCRIPT, 'sh', project, String(tally.limits.totalBytes), ...paths]);
    const held: string[] = [];
    const sent = new Set(stored.map((f) => f.path));
    for (const record of big.stdout.toString('utf8').split('\0')) {
      const space = record.indexOf(' ');
      const path = record.slice(space + 1);
      if (space > 0 && !sent.has(path) && tally.admit(path, Number(record.slice(0, space))) === false) held.push(path);
    }
    const excludes = [...stored.map((f) => f.path), ...held].flatMap((path) => ['--anchored', '--no-wildcards', `--exclude=${path}`]);
    const result = await this.ssh.execStreaming(['sh', '-c', COLLECT_SCRIPT, 'sh', project, ...excludes, '--', ...paths], (tar) =>
      extractOutputs(tar, destDir, { paths, strip: !options.paths }, tally),
    COLLECT_TIMEOUT_MS);
    // GNU tar exits 1 when a file changed while it was read: a copy taken while the job goes on
    // (a lab saving a notebook) keeps what it got; the next checkpoint takes it again.
    if (result.code !== 0 && !(result.code === 1 && options.final === false)) {
      throw new Error(`collecting ${paths.join('/, ')}/ from ${this.config.host} failed (tar exit ${result.code}): ${result.stderr.trim()}`);
    }
    for (const f of stored) await writeOutputPointer(destDir, f);
    return { ...tally.result(), ...(stored.length ? { stored } : {}) };
  }

  /**
   * A TCP stream to `port` on the node the job runs on, opened by the login node over the shared
   * SSH connection (see SshClient.forwardOut). The container shares the node's network (as
   * Charliecloud and Apptainer do by default), so the server in the job must listen on the
   * node's address, not only 127.0.0.1. The node's address is the one slurmctld uses (NodeAddr).
   */
  async connect(handle: JobHandle, port: number): Promise<Duplex> {
    const h = await this.checked(handle);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw badInput(`port ${port} is no TCP port (1-65535)`);
    const node = await this.jobNode(h.jobId);
    try {
      return await this.ssh.forwardOut(node.addr, port);
    } catch (err) {
      if (!(err instanceof RepriseError) || (err as { reason?: unknown }).reason !== 2) throw err;
      throw backendUnavailable(
        `nothing accepts connections on port ${port} of node ${node.name} where job ${h.jobId} runs (${errorMessage(err)}); the server in the job may still be starting, or listen on 127.0.0.1 only (it must listen on all addresses, 0.0.0.0)`,
        err,
      );
    }
  }

  /** The node a running job runs on (its first, for a job on many): its name and address. */
  private async jobNode(jobId: string): Promise<{ name: string; addr: string }> {
    const out = await this.ssh.run(['sh', '-c', JOB_NODE_SCRIPT, 'sh', jobId]);
    const [state = '', nodes = '', reason = ''] = (out.split('\n')[0] ?? '').split('|');
    const name = /^node (\S+)$/m.exec(out)?.[1];
    const addr = /^addr (\S+)$/m.exec(out)?.[1];
    if (state === 'RUNNING' && name) return { name, addr: addr ?? name };
    if (state === 'RUNNING') throw new Error(`job ${jobId} runs on ${nodes || 'no node'}, which scontrol does not show on ${this.config.host}`);
    if (PENDING_STATES.has(state)) throw backendUnavailable(`job ${jobId} is still pending (${reason || state}); the lab starts when it runs`);
    if (state === 'CONFIGURING') throw backendUnavailable(`job ${jobId} is still starting (its nodes are being configured); the lab starts when it runs`);
    if (state === 'SUSPENDED' || state === 'STOPPED') throw backendUnavailable(`job ${jobId} is ${state.toLowerCase()}; it can be reached again once it runs`);
    throw notFound(`job ${jobId} has ended${state ? ` (${state})` : ''}`);
  }

  /**
   * What the job used, from sacct. Accounting may lag the job's end (slurmdbd writes the steps'
   * figures a moment later): asked again for a few seconds, then what it has is taken.
   */
  async usage(handle: JobHandle): Promise<JobUsage | undefined> {
    const h = await this.checked(handle);
    let found: SacctUsage | undefined;
    for (let attempt = 0; attempt < USAGE_ATTEMPTS; attempt++) {
      if (attempt) await new Promise((r) => setTimeout(r, this.deps.usageRetryMs ?? 1000));
      const r = await this.ssh.exec(sacctUsageCommand(h.jobId));
      if (r.code !== 0) throw new Error(`sacct failed (exit ${r.code}): ${r.stderr.toString().trim().slice(0, 200)}`);
      found = sacctUsage(r.stdout.toString(), h.jobId) ?? found;
      if (found?.complete) break;
    }
    return found?.usage;
  }

  async cleanup(handle: JobHandle): Promise<void> {
    const h = await this.checked(handle);
    // The secrets folder is 0500: made writable again so rm can empty it.
    await this.ssh.run(['sh', '-c', 'chmod -R u+w -- "$1/secrets" 2>/dev/null; rm -rf -- "$1"', 'sh', h.runDir]);
    const arrayDir = arrayDirOf(h);
    if (arrayDir) await this.ssh.run(['sh', '-c', ARRAY_CLEANUP_SCRIPT, 'sh', arrayDir]);
  }

  /**
   * The job's secrets as files in `<run dir>/secrets` (the run directory is 0700): written 0600
   * over SFTP, never in job.sh, then made 0400 in a 0500 folder. Undefined when there are none
   * (a stale folder is removed). A single run's submit clears it in its own round trip instead.
   */
  private async writeSecrets(runDir: string, secrets: JobSecret[]): Promise<string | undefined> {
    const dir = `${runDir}/secrets`;
    await this.ssh.run(['sh', '-c', 'chmod -R u+w -- "$1" 2>/dev/null; rm -rf -- "$1"; [ "$2" = 0 ] || mkdir -m 0700 -- "$1"', 'sh', dir, String(secrets.length)]);
    if (secrets.length === 0) return undefined;
    for (const s of secrets) await this.ssh.writeFile(`${dir}/${s.name}`, s.content, 0o600);
    await this.ssh.run(['sh', '-c', 'chmod 0400 -- "$1"/* && chmod 0500 -- "$1"', 'sh', dir]);
    return dir;
  }

  /** Lets go of the SSH connection (shared by the backends of this cluster in this process; it also closes after a quiet minute). */
  close(): void {
    this.ssh.close();
  }

  /** Where the cluster keeps the request's image (by digest), whether it is there yet or not. */
  private async imageTarget(request: StageRequest): Promise<string> {
    const hex = /^(?:sha256:)?([0-9a-f]{64})$/.exec(request.image.digest)?.[1];
    if (!hex) throw badInput(`image digest "${request.image.digest}" is not a sha256 digest`);
    return this.runtime.imagePath(`${await this.workdir()}/images`, hex);
  }

  /** Pulls (or ships) and converts the image the cluster lacks; returns its path there. */
  private async shipImage(request: StageRequest, target: string): Promise<string> {
    const hex = /^(?:sha256:)?([0-9a-f]{64})$/.exec(request.image.digest)![1]!;
    const imagesDir = `${await this.workdir()}/images`;
    // Unique temporary names, then one rename: concurrent stages of one digest never collide,
    // and a crash never leaves a half-converted image under the final name.
    const tmp = `${imagesDir}/.incoming-${hex.slice(0, 16)}-${randomBytes(4).toString('hex')}`;
    await this.ssh.run(['sh', '-c', 'mkdir -p "$1" && chmod 0700 "$1"', 'sh', imagesDir]); // nor the image cache
    let pullFailure: string | undefined;
    if (request.image.reference) {
      pullFailure = await this.pullOnCluster(request.image.reference, hex, tmp, target);
      if (!pullFailure) return target;
      this.deps.onProgress?.('image-pull-failed', pullFailure);
    }
    const local = await mkdtemp(join(tmpdir(), 'reprise-slurm-img-'));
    try {
      const tar = join(local, 'image.tar');
      // Shipped from this machine's engine: only when the cluster could not pull it itself.
      await ensureLocalImage(this.docker, request.image, request.onTransfer).catch((err: Error) => {
        throw pullFailure ? Object.assign(err, { message: `${err.message}; the cluster could not pull it either: ${pullFailure}` }) : err;
      });
      await exportImage(this.docker, request.image, this.runtime.exportFormat, tar);
      const bytes = (await stat(tar)).size;
      this.deps.onProgress?.('image-upload', target, bytes);
      const what = `shipping image ${hex.slice(0, 12)} to ${this.config.host}`;
      request.onTransfer?.({ what, current: 0, total: bytes });
      await this.ssh.upload(tar, `${tmp}.tar`);
      request.onTransfer?.({ what, current: bytes, total: bytes });
      this.deps.onProgress?.('image-convert', target);
      const convert = this.runtime.convertCommand(`${tmp}.tar`, `${tmp}.img`);
      // mv -T renames in one step and fails if another stage put a directory there first: keep that one.
      const install = `${convert} && { mv -T ${shellQuote(`${tmp}.img`)} ${shellQuote(target)} 2>/dev/null || test -e ${shellQuote(target)}; }`;
      const r = await this.ssh.exec(['sh', '-c', `${install}; rc=$?; rm -rf "$1.tar" "$1.img"; exit $rc`, 'sh', tmp], 30 * 60_000);
      if (r.code !== 0) throw new Error(`converting image ${hex.slice(0, 12)} with ${this.runtime.name} failed on ${this.config.host}: ${(r.stderr || r.stdout.toString()).trim().split('\n').slice(-3).join(' | ')}`);
    } finally {
      await rm(local, { recursive: true, force: true });
    }
    return target;
  }

  /**
   * The cluster pulls the image from its registry by digest (nothing leaves this machine), with
   * this worker's Docker credentials for that registry, if any, handed over in a 0600 file that
   * the command reads and deletes (never on a command line). Returns why it failed, if it did.
   */
  private async pullOnCluster(reference: string, hex: string, tmp: string, target: string): Promise<string | undefined> {
    this.deps.onProgress?.('image-pull', reference, 0);
    const auth = await dockerAuth(registryHost(reference));
    const authFile = `${tmp}.auth`;
    if (auth) await this.ssh.writeFile(authFile, `${auth.username}\n${auth.password}\n`, 0o600);
    const readAuth = auth ? '{ IFS= read -r REGISTRY_USERNAME; IFS= read -r REGISTRY_PASSWORD; } < "$1"; rm -f "$1"; ' : '';
    const pull = this.runtime.pullCommand(reference, `${tmp}.img`, `${tmp}.store`, Boolean(auth), hex);
    const install = `mv -T ${shellQuote(`${tmp}.img`)} ${shellQuote(target)} 2>/dev/null || test -e ${shellQuote(target)}`;
    const script = `${readAuth}( ${pull} ) && { ${install}; }; rc=$?; rm -rf ${shellQuote(`${tmp}.img`)}; exit $rc`;
    const r = await this.ssh.exec(['sh', '-c', script, 'sh', authFile], 30 * 60_000);
    if (auth) await this.ssh.exec(['rm', '-f', authFile]);
    if (r.code === 0) return undefined;
    return `${this.runtime.name} pull of ${reference} on ${this.config.host} failed (exit ${r.code}): ${(r.stderr || r.stdout.toString()).trim().split('\n').slice(-2).join(' | ')}`;
  }

  /**
   * The folder trees a staged job binds read-only, as runCommand takes them. A staged job comes
   * back from workflow state: only trees of this backend's cache, at plain paths inside the project.
   */
  private async dataBinds(job: JobSpec): Promise<ReadOnlyBind[]> {
    const { cacheDir } = await this.dataCache();
    return (job.staged.mounts ?? []).map((m) => {
      const parts = m.path.split('/');
      if (!isClusterTreePath(cacheDir, m.source) || BIND_UNSAFE.test(m.path) || parts.some((p) => p === '' || p === '.' || p === '..')) {
        throw badInput(`not a data mount this slurm backend staged: ${JSON.stringify(m)}`);
      }
      return { source: m.source, target: `${PROJECT_MOUNT}/${m.path}` };
    });
  }

  /** The cluster's data cache and how objects reach it (data-cache.ts). */
  private async dataCache(): Promise<ClusterDataOptions> {
    return { ssh: this.ssh, host: this.config.host, cacheDir: `${await this.workdir()}/data-cache`, staging: this.config.dataStaging, endpoint: this.config.dataEndpoint };
  }

  /** The workdir with `~` expanded on the cluster; absolute and plain, as #SBATCH lines need. */
  private workdir(): Promise<string> {
    this.workdirAbs ??= (async () => {
      const w = this.config.workdir;
      const home = w === '~' || w.startsWith('~/') ? (await this.ssh.run(['sh', '-c', 'printf %s "$HOME"'])).trim() : '';
      const abs = (home + (home ? w.slice(1) : w)).replace(/\/+$/, '');
      if (!SAFE_REMOTE_PATH.test(abs)) throw badInput(`workdir "${abs}" on ${this.config.host} must be an absolute path of letters, digits and ._+-/ (set workdir: in the slurm backend)`);
      return abs;
    })();
    this.workdirAbs.catch(() => (this.workdirAbs = undefined));
    return this.workdirAbs;
  }

  /** A run's directory on the cluster; the scripts that use it first make it (0700 down from runs/). */
  private async runDirPath(runId: string): Promise<string> {
    if (!RUN_ID.test(runId)) throw badInput(`invalid run id "${runId}"`);
    return `${await this.workdir()}/runs/${runId}`;
  }

  async checkHandle(handle: JobHandle): Promise<void> {
    await this.checked(handle);
  }

  /** Handles come back from workflow state: accept only one this backend could have made. */
  private async checked(handle: JobHandle): Promise<SlurmHandle> {
    const h = handle as SlurmHandle;
    const expected = `${await this.workdir()}/runs/${h.runId}`;
    if (!RUN_ID.test(h.runId) || h.runDir !== expected || !/^\d+(_\d+)?$/.test(h.jobId) || !(await this.validArrayDir(h))) {
      throw badInput(`not a job handle of this slurm backend: ${errorMessage(JSON.stringify(handle))}`);
    }
    return h;
  }

  // ---- Job arrays: many staged runs (a sweep's points) as one sbatch; see job-array.ts ----

  async submitArray(arrayId: string, jobs: JobSpec[], options: { maxParallel?: number } = {}): Promise<JobHandle[]> {
    if (!RUN_ID.test(arrayId)) throw badInput(`invalid job array id "${arrayId}"`);
    if (jobs.length === 0) throw badInput(`job array ${arrayId} has no jobs`);
    const { maxParallel } = options;
    if (maxParallel !== undefined && !(Number.isInteger(maxParallel) && maxParallel >= 1)) throw badInput(`maxParallel must be a whole number of at least 1, not ${maxParallel}`);
    const first = jobs[0]!;
    // One array, one set of #SBATCH lines: every element asks for what the first one does.
    const other = jobs.find((j) => resourcesKey(j.resources) !== resourcesKey(first.resources));
    if (other) throw badInput(`the jobs of array ${arrayId} must ask for the same resources: ${other.runId} asks for ${resourcesKey(other.resources)}, ${first.runId} for ${resourcesKey(first.resources)}`);
    const runIds = new Set<string>();
    for (const j of jobs) {
      if (!RUN_ID.test(j.runId)) throw badInput(`invalid run id "${j.runId}"`);
      if (runIds.has(j.runId)) throw badInput(`run ${j.runId} is twice in job array ${arrayId}`);
      runIds.add(j.runId);
    }
    const workdir = await this.workdir();
    const arrayDir = `${workdir}/arrays/${arrayId}`;
    // Each job was staged into its own run directory; stage() made it.
    const runDirs = jobs.map((j) => `${workdir}/runs/${j.runId}`);
    const secretsDirs: (string | undefined)[] = [];
    for (const [i, j] of jobs.entries()) secretsDirs.push(await this.writeSecrets(runDirs[i]!, j.secrets ?? []));
    const dataBinds = await Promise.all(jobs.map((j) => this.dataBinds(j)));
    const name = arrayJobName(arrayId);
    const script = arrayScript({
      jobName: name,
      arrayDir,
      maxParallel,
      resources: first.resources,
      partition: this.config.partition,
      account: this.config.account,
      qos: this.config.qos,
      extraArgs: this.config.sbatchArgs,
      gpuFlag: this.config.gpuFlag,
      elements: jobs.map((job, i) => ({
        runDir: runDirs[i]!,
        env: jobEnv(job),
        command: this.runtime.runCommand(job.staged.image, job.staged.sources, job.command, job.resources.gpus ?? 0, jobWorkdir(job), Object.keys(jobEnv(job)), secretsDirs[i], dataBinds[i]),
      })),
    });
    // Uniquely named: concurrent repeats never write over each other; the submit script takes them.
    const tmp = `.incoming-${randomBytes(6).toString('hex')}`;
    await this.ssh.run(['sh', '-c', 'mkdir -p "$1" && chmod 0700 "$(dirname "$1")" "$1"', 'sh', arrayDir]);
    await this.ssh.writeFile(`${arrayDir}/${tmp}.sh`, script, 0o700);
    await this.ssh.writeFile(`${arrayDir}/${tmp}.elements`, runDirs.map((d) => `${d}\n`).join(''));
    const submitted = await this.ssh.exec(['sh', '-c', ARRAY_SUBMIT_SCRIPT, 'sh', arrayDir, name, `${tmp}.sh`, `${tmp}.elements`]);
    if (submitted.code !== 0) {
      const refusal = sbatchRefusal(submitted.stderr);
      // Nothing was queued: no element runs (exit 2, as for a single job).
      if (refusal) throw badInput(`${this.config.host} refuses the job array: ${refusal}; ask for less (--cpus, --memory, --gpus, --time), fewer points or another partition`);
      const why = submitted.stderr.trim().split('\n').slice(-3).join(' | ');
      if (submitted.code === 3 || submitted.code === 4) throw badInput(why);
      throw new Error(`sbatch of job array ${arrayId} failed on ${this.config.host} (exit ${submitted.code}): ${why}`);
    }
    const out = submitted.stdout.toString('utf8').trim();
    const arrayJobId = /^(\d+)$/.exec(out)?.[1];
    if (!arrayJobId) throw new Error(`sbatch on ${this.config.host} gave no job id for array ${arrayId}: ${out}`);
    return jobs.map((job, i): SlurmHandle => ({
      kind: 'slurm',
      runId: job.runId,
      jobId: `${arrayJobId}_${i}`,
      runDir: runDirs[i]!,
      timeSeconds: job.resources.timeSeconds ?? null,
      arrayDir,
    }));
  }

  /**
   * An array element SLURM knows nothing of: one cancelled while still pending leaves no trace
   * in squeue, scontrol or sacct (its index is just dropped), so cancel() left a mark for it.
   */
  private async elementGone(h: SlurmHandle, status: JobStatus): Promise<JobStatus> {
    const marked = await this.ssh.exec(['test', '-e', `${h.runDir}/${CANCELLED_MARK}`]);
    if (marked.code === 0) return { phase: 'exited', exitCode: 130, reason: `cancelled before it started (SLURM job ${h.jobId})` };
    return { ...status, reason: `${status.reason}; a job array element cancelled before it started leaves no trace in SLURM` };
  }

  /** A handle of an array element names its array's directory under this backend's workdir. */
  private async validArrayDir(h: SlurmHandle): Promise<boolean> {
    if (h.arrayDir === undefined) return true;
    const dir = arrayDirOf(h);
    const prefix = `${await this.workdir()}/arrays/`;
    return dir !== undefined && isArrayElement(h.jobId) && dir.startsWith(prefix) && RUN_ID.test(dir.slice(prefix.length));
  }
}

/** squeue states of a job that has not started yet. */
const PENDING_STATES = new Set(['PENDING', 'REQUEUED', 'REQUEUE_HOLD', 'REQUEUE_FED', 'RESV_DEL_HOLD']);

/**
 * The state of job $1 (`STATE|NODELIST|REASON`, nothing when SLURM no longer lists it) and, when
 * it runs, its first node (`node NAME`) and that node's address (`addr NODEADDR`).
 */
const JOB_NODE_SCRIPT = `q=$(squeue -h -r -t all -j "$1" -o '%T|%N|%r' 2>&1) || case $q in
  *'Invalid job id'*) q= ;;
  *) printf '%s\\n' "$q" >&2; exit 3 ;;
esac
q=$(printf '%s\\n' "$q" | head -n 1)
printf '%s\\n' "$q"
case $q in
RUNNING\\|*)
  nodes=\${q#RUNNING|}; nodes=\${nodes%%|*}
  node=$(scontrol show hostnames "$nodes" 2>/dev/null | head -n 1)
  [ -n "$node" ] || exit 0
  printf 'node %s\\n' "$node"
  scontrol show node -o "$node" 2>/dev/null | tr ' ' '\\n' | sed -n 's/^NodeAddr=\\(..*\\)$/addr \\1/p' | head -n 1 ;;
esac
exit 0`;

/** The directory of the job array a handle's job is an element of (absolute, on the cluster). */
const arrayDirOf = (h: JobHandle): string | undefined => (typeof h.arrayDir === 'string' ? h.arrayDir : undefined);

/** Resources in one canonical form, to compare the jobs of an array and to name them in errors. */
const resourcesKey = (r: JobSpec['resources']) =>
  JSON.stringify({ cpus: r.cpus ?? null, memoryBytes: r.memoryBytes ?? null, gpus: r.gpus ?? null, gpuType: r.gpuType ?? null, timeSeconds: r.timeSeconds ?? null });

/** The SSH target of the backend's settings, with its ssh_config; a config that cannot be followed is the backend's misconfiguration. */
function sshTarget(config: SlurmConfig, env?: SshEnv): SshTarget {
  try {
    return resolveSshTarget(config, env);
  } catch (err) {
    if (err instanceof SshConfigError) throw backendUnavailable(err.message, err);
    throw err;
  }
}

/** The variables a job's batch script exports (and Apptainer passes into its clean environment). */
const jobEnv = (job: JobSpec): Record<string, string> => ({ ...job.env, REPRISE_RUN_ID: job.runId });
