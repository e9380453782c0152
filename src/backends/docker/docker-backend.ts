import type Docker from 'dockerode';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { SECRETS_MOUNT } from '../../config/project-secrets.js';
import { writeSecretFiles } from '../secret-files.js';
import { CollectTally } from '../output-limit.js';
import { copyOutputs } from './copy-outputs.js';
import { dirname, join } from 'node:path';
import { createConnection } from 'node:net';
import { PassThrough, type Duplex, type Readable } from 'node:stream';
import { badInput } from '../../errors.js';
import { formatDuration, formatGpus, type Resources } from '../../config/resources.js';
import type { Backend, BackendCheck, Collected, CollectOptions, DataMount, JobHandle, JobSpec, JobStatus, StagedJob, StageRequest } from '../types.js';
import { secondsBetween, usageFrom, type JobUsage } from '../usage.js';
import { jobWorkdir, OOM_REASON, pastTimeLimit, PROJECT_MOUNT, TIMEOUT_EXIT_CODE, timeLimitReason } from '../types.js';
import { ensureLocalImage } from '../../images/local.js';
import { hardenedHostConfig } from './hardening.js';
import { describeEndpoint, pingEngine, statusCode } from '../../images/engine.js';

const RUN_LABEL = 'org.reprise.run';

interface StatsSampler {
  cpuNs: number;
  peakBytes: number;
  sampled: boolean;
  stream?: Readable;
}

/** One line of the engine's stats stream into the sampler; a stopped container's zeros are not a sample. */
function takeSample(sampler: StatsSampler, line: string): void {
  try {
    const stats = JSON.parse(line) as { cpu_stats?: { cpu_usage?: { total_usage?: number } }; memory_stats?: { usage?: number; max_usage?: number } };
    const cpu = stats.cpu_stats?.cpu_usage?.total_usage ?? 0;
    const memory = stats.memory_stats?.max_usage ?? stats.memory_stats?.usage ?? 0;
    if (!cpu && !memory) return;
    sampler.cpuNs = Math.max(sampler.cpuNs, cpu);
    sampler.peakBytes = Math.max(sampler.peakBytes, memory);
    sampler.sampled = true;
  } catch {
    /* a partial line at the stream's end */
  }
}

interface DockerHandle extends JobHandle {
  kind: 'docker';
  /** Host directory mounted at /project; its output/ is what the job produced. */
  sources: string;
  timeSeconds: number | null;
}

/** Runs jobs as containers on a Docker engine through its HTTP API. */
export class DockerBackend implements Backend {
  readonly kind = 'docker';
  readonly mountsLocalData = true;

  /** The engine's latest figures for each running job's container, kept until usage() takes them. */
  private readonly samplers = new Map<string, StatsSampler>();

  constructor(
    private readonly docker: Docker,
    private readonly options: { pidsLimit?: number } = {},
  ) {}

  async check(): Promise<BackendCheck> {
    const version = await pingEngine(this.docker);
    return { kind: this.kind, version, details: { endpoint: describeEndpoint(this.docker) } };
  }

  async stage(request: StageRequest): Promise<StagedJob> {
    await pingEngine(this.docker);
    await ensureLocalImage(this.docker, request.image, request.onTransfer);
    // The engine shares this machine's filesystem: the exported sources are mounted in place.
    const mounts = request.dataMounts ?? [];
    await placeMountPoints(request.sourcesDir, mounts);
    return { image: request.image.digest, sources: request.sourcesDir, ...(mounts.length ? { mounts } : {}) };
  }

  async submit(job: JobSpec): Promise<JobHandle> {
    const name = containerName(job.runId);
    let container = await this.find(name);
    if (!container) {
      if (job.resources.gpus) await this.requireGpus(job.resources);
      await writeSecretFiles(secretsDirOf(job.staged.sources), job.secrets ?? []);
      try {
        const created = await this.docker.createContainer(this.containerSpec(name, job));
        container = await created.inspect();
      } catch (err) {
        if (statusCode(err) !== 409) throw err; // 409: a concurrent submit made it first...
        container = await this.findSoon(name); // ...and may still be registering it.
      }
    }
    if (container.State.Status === 'created' && !startFailure(container.State)) {
      try {
        await this.docker.getContainer(container.Id).start();
      } catch (err) {
        // 304: already started. A command the image lacks (127), cannot run (126) or a device the
        // engine cannot give is the job failing, as with `docker run`: status() reports it.
        if (statusCode(err) !== 304 && !startFailure((await this.find(container.Id))?.State)) throw err;
      }
    }
    this.sample(container.Id);
    const handle: DockerHandle = {
      kind: 'docker',
      runId: job.runId,
      jobId: container.Id,
      sources: job.staged.sources,
      timeSeconds: job.resources.timeSeconds ?? null,
    };
    return handle;
  }

  async status(handle: JobHandle): Promise<JobStatus> {
    const h = handle as DockerHandle;
    const info = await this.owned(h);
    if (!info) return { phase: 'lost', reason: `container ${h.jobId.slice(0, 12)} no longer exists` };
    const s = info.State;
    const startedAt = validTime(s.StartedAt);
    const finishedAt = validTime(s.FinishedAt);
    const limitMs = h.timeSeconds ? h.timeSeconds * 1000 : undefined;
    const failedStart = startFailure(s);
    if (failedStart) return { phase: 'exited', exitCode: failedStart.exitCode, reason: failedStart.reason };
    if (notEnded(s)) {
      // A worker that took the job over samples from now on: the engine's CPU figure counts from the container's start.
      if (s.Running) this.sample(h.jobId);
      // Docker has no time limit of its own: enforceTimeLimit stops the container.
      return { phase: s.Status === 'created' ? 'pending' : 'running', startedAt, ...(pastTimeLimit(h.timeSeconds, startedAt) ? { due: 'time-limit' as const } : {}) };
    }
    const timedOut = limitMs !== undefined && startedAt && finishedAt && s.ExitCode === 137 && Date.parse(finishedAt) - Date.parse(startedAt) >= limitMs;
    if (timedOut) {
      return { phase: 'exited', exitCode: TIMEOUT_EXIT_CODE, reason: timeLimitReason(formatDuration(h.timeSeconds!)), startedAt, finishedAt };
    }
    return { phase: 'exited', exitCode: s.ExitCode, reason: s.OOMKilled ? OOM_REASON : killedReason(s.ExitCode), startedAt, finishedAt };
  }

  /**
   * The engine's wait (condition not-running) answers as the container stops. It is a plain
   * request, not a hijacked stream: aborting it (timeout, time limit, cancel) closes its connection.
   */
  async waitForEnd(handle: JobHandle, { timeoutMs, signal }: { timeoutMs: number; signal?: AbortSignal }): Promise<void> {
    const h = handle as DockerHandle;
    const s = (await this.owned(h))?.State;
    if (!s?.Running) return; // ended, gone or never started: status() says which
    // Docker has no time limit of its own: wake just past it, when status() says enforceTimeLimit is due.
    const startedAt = validTime(s.StartedAt);
    const toLimit = h.timeSeconds && startedAt ? Date.parse(startedAt) + h.timeSeconds * 1000 + 1 - Date.now() : Infinity;
    const ms = Math.min(timeoutMs, toLimit);
    if (ms <= 0 || signal?.aborted) return;
    // A controller and a plain timer, not AbortSignal.timeout/any: V8 may collect a timeout signal
    // that nothing listens to directly (Node 20), its timer with it, and the wait then lasted until
    // the container ended, which past a time limit only the wait's return would make happen.
    const stop = new AbortController();
    const timer = setTimeout(() => stop.abort(), ms);
    const onCancel = () => stop.abort();
    signal?.addEventListener('abort', onCancel, { once: true });
    const stopped = new Promise<void>((resolve) => stop.signal.addEventListener('abort', () => resolve(), { once: true }));
    try {
      // Raced with the abort itself: the wait ends when asked, whatever the HTTP client does.
      await Promise.race([this.docker.getContainer(h.jobId).wait({ condition: 'not-running', abortSignal: stop.signal }), stopped]);
    } catch (err) {
      if (!stop.signal.aborted && statusCode(err) !== 404) throw err; // 404: removed meanwhile, status() says lost
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onCancel);
    }
  }

  /** Kill a container past its time limit, measured by the engine's clock, and wait until it stopped. */
  async enforceTimeLimit(handle: JobHandle): Promise<void> {
    const h = handle as DockerHandle;
    const s = (await this.owned(h))?.State;
    if (!s || startFailure(s) || !notEnded(s) || !pastTimeLimit(h.timeSeconds, validTime(s.StartedAt))) return;
    await this.cancel(h);
    await this.docker.getContainer(h.jobId).wait({ condition: 'not-running' }).catch(() => undefined);
  }

  async logs(handle: JobHandle): Promise<Readable> {
    await this.owned(handle);
    const container = this.docker.getContainer(handle.jobId);
    const raw = (await container.logs({ follow: true, stdout: true, stderr: true })) as unknown as Readable;
    const out = new PassThrough();
    this.docker.modem.demuxStream(raw, out, out);
    raw.on('end', () => out.end());
    raw.on('error', (err) => out.destroy(err));
    return out;
  }

  async cancel(handle: JobHandle): Promise<void> {
    await this.owned(handle);
    try {
      await this.docker.getContainer(handle.jobId).kill();
    } catch (err) {
      if (![304, 404, 409].includes(statusCode(err) ?? 0)) throw err; // not running or gone
    }
  }

  async collect(handle: JobHandle, destDir: string, options: CollectOptions = {}): Promise<Collected> {
    await mkdir(destDir, { recursive: true });
    const tally = new CollectTally();
    const sources = (handle as DockerHandle).sources;
    if (!options.paths) await copyOutputs(join(sources, 'output'), destDir, 'output', tally);
    for (const path of options.paths ?? []) await copyOutputs(join(sources, path), join(destDir, path), path, tally);
    return tally.result();
  }

  /** The engine's bridge network reaches the container's own address from this machine: no published port needed. */
  async connect(handle: JobHandle, port: number): Promise<Duplex> {
    const info = await this.owned(handle);
    if (!info?.State.Running) throw badInput(`container ${handle.jobId.slice(0, 12)} is not running${info ? ` (${info.State.Status})` : ''}; start the lab again with: reprise lab`);
    const address = Object.values(info.NetworkSettings.Networks ?? {}).find((n) => n.IPAddress)?.IPAddress;
    if (!address) throw badInput(`container ${handle.jobId.slice(0, 12)} has no network address this machine can reach`);
    return new Promise((resolve, reject) => {
      const socket = createConnection({ host: address, port });
      socket.once('connect', () => resolve(socket));
      socket.once('error', reject);
    });
  }

  /**
   * Wall time from the engine's start and finish; CPU time and peak memory from the last `docker
   * stats` sample this process took while the container ran (the engine forgets them at exit,
   * so the last second or so of CPU time may be missed). Peak memory is the cgroup's max_usage
   * where the engine gives it (cgroup v1), else the highest usage sampled.
   */
  async usage(handle: JobHandle, status: JobStatus): Promise<JobUsage | undefined> {
    // The figures stay until cleanup: a cancel's usage() may follow an await's that lost the race.
    const sampler = this.samplers.get(handle.jobId);
    sampler?.stream?.destroy();
    const wallSeconds = secondsBetween(status.startedAt, status.finishedAt);
    if (wallSeconds === undefined) return undefined;
    const seen = sampler?.sampled ? sampler : undefined;
    return usageFrom({ wallSeconds, cpuSeconds: seen && seen.cpuNs / 1e9, peakMemoryBytes: seen?.peakBytes, source: seen ? 'docker stats' : 'docker inspect' });
  }

  /** Follow the container's stats stream (one per container), keeping the latest CPU total and the peak memory. */
  private sample(id: string): void {
    if (this.samplers.has(id)) return;
    const sampler: StatsSampler = { cpuNs: 0, peakBytes: 0, sampled: false };
    this.samplers.set(id, sampler);
    // Measuring is optional: nothing here may fail the job's submit or status.
    Promise.resolve()
      .then(() => this.docker.getContainer(id).stats({ stream: true }))
      .then((stream) => {
        const lines = stream as unknown as Readable;
        sampler.stream = lines;
        let pending = '';
        lines.on('data', (chunk: Buffer) => {
          const parts = (pending + chunk.toString('utf8')).split('\n');
          pending = parts.pop() ?? '';
          for (const line of parts) if (line.trim()) takeSample(sampler, line);
        });
        lines.on('error', () => undefined); // the container went away: what was sampled stays
        if (!this.samplers.has(id)) lines.destroy();
      })
      .catch(() => undefined);
  }

  private stopSampling(id: string): void {
    this.samplers.get(id)?.stream?.destroy();
    this.samplers.delete(id);
  }

  async cleanup(handle: JobHandle): Promise<void> {
    await this.owned(handle);
    this.stopSampling(handle.jobId);
    try {
      await this.docker.getContainer(handle.jobId).remove({ force: true });
    } catch (err) {
      if (![404, 409].includes(statusCode(err) ?? 0)) throw err;
    }
    await rm(secretsDirOf((handle as DockerHandle).sources), { recursive: true, force: true });
  }

  async checkHandle(handle: JobHandle): Promise<void> {
    await this.owned(handle);
  }

  /** Handles come back from workflow state: act only on a container this backend made for the handle's run (or on none, once removed). */
  private async owned(handle: JobHandle): Promise<Docker.ContainerInspectInfo | undefined> {
    const info = await this.find(handle.jobId);
    if (info && info.Config.Labels?.[RUN_LABEL] !== handle.runId) throw badInput(`container ${handle.jobId.slice(0, 12)} is not the container of run ${handle.runId}; refusing to touch it`);
    return info;
  }

  private async find(nameOrId: string): Promise<Docker.ContainerInspectInfo | undefined> {
    try {
      return await this.docker.getContainer(nameOrId).inspect();
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw err;
    }
  }

  private async findSoon(name: string): Promise<Docker.ContainerInspectInfo> {
    for (let i = 0; i < 50; i++) {
      const found = await this.find(name);
      if (found) return found;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`container ${name} was reported to exist but cannot be found`);
  }

  /**
   * GPUs reach a container through the NVIDIA runtime the engine is configured with (the NVIDIA
   * Container Toolkit); without it the engine would fail the container at start with a vaguer
   * error, after it was made. A type cannot be chosen: the engine hands out GPUs by count or id.
   */
  private async requireGpus(r: Resources): Promise<void> {
    if (r.gpuType) {
      throw badInput(`--gpus ${formatGpus(r)}: the Docker backend cannot choose GPUs by type (the engine gives any ${r.gpus} of its GPUs); ask for --gpus ${r.gpus}, or run on a SLURM or Kubernetes backend that maps GPU types (--on)`);
    }
    const info = (await this.docker.info()) as { Runtimes?: Record<string, unknown> };
    const runtimes = Object.keys(info.Runtimes ?? {});
    if (!runtimes.some((name) => /nvidia/i.test(name))) {
      throw badInput(
        `--gpus ${r.gpus}: the Docker engine at ${describeEndpoint(this.docker)} has no NVIDIA runtime (its runtimes: ${runtimes.join(', ') || 'none listed'}); install the NVIDIA Container Toolkit and run \`nvidia-ctk runtime configure --runtime=docker\` there, or run elsewhere (--on)`,
      );
    }
  }

  private containerSpec(name: string, job: JobSpec): Docker.ContainerCreateOptions {
    const r = job.resources;
    const uid = process.getuid?.();
    return {
      name,
      Image: job.staged.image,
      Cmd: job.command,
      WorkingDir: jobWorkdir(job),
      Env: Object.entries({ HOME: '/tmp', ...job.env, REPRISE_RUN_ID: job.runId }).map(([k, v]) => `${k}=${v}`),
      Labels: { [RUN_LABEL]: job.runId },
      // Files the job writes belong to the user who launched it, not to root.
      User: uid && uid !== 0 ? `${uid}:${process.getgid!()}` : undefined,
      HostConfig: {
        Binds: [`${job.staged.sources}:${PROJECT_MOUNT}`],
        // A run staged before inputs were mounted from the cache has them as links in its sources: mounted again read-only (Mounts: any character in a path).
        Mounts: [
          ...(job.staged.readOnly ?? []).map((p) => ({ Type: 'bind' as const, Source: `${job.staged.sources}/${p}`, Target: `${PROJECT_MOUNT}/${p}`, ReadOnly: true })),
          // Tracked inputs straight from the data cache: a file's object, a folder's tree of links (one mount, whatever its file count).
          ...(job.staged.mounts ?? []).map((m) => ({ Type: 'bind' as const, Source: m.source, Target: `${PROJECT_MOUNT}/${m.path}`, ReadOnly: true })),
          // The secrets: a read-only bind of their 0600 copies beside the sources (never in the container's config or environment).
          ...(job.secrets?.length ? [{ Type: 'bind' as const, Source: secretsDirOf(job.staged.sources), Target: SECRETS_MOUNT, ReadOnly: true }] : []),
        ],
        ...hardenedHostConfig(this.options.pidsLimit),
        NanoCpus: r.cpus ? Math.round(r.cpus * 1e9) : undefined,
        Memory: r.memoryBytes,
        MemorySwap: r.memoryBytes, // no swap beyond the limit
        DeviceRequests: r.gpus ? [{ Count: r.gpus, Capabilities: [['gpu']] }] : undefined,
      },
    };
  }
}

export const containerName = (runId: string) => `reprise-${runId}`;

/**
 * An empty file or folder where each data mount lands, made by us: the engine would make missing
 * ones as root inside the sources, which this user could then not remove.
 */
async function placeMountPoints(sourcesDir: string, mounts: DataMount[]): Promise<void> {
  for (const m of mounts) {
    const target = join(sourcesDir, ...m.path.split('/'));
    // Whatever the commit holds there (even a link) is replaced, never followed.
    await rm(target, { recursive: true, force: true });
    await mkdir(dirname(target), { recursive: true });
    if ((await stat(m.source)).isDirectory()) await mkdir(target);
    else await writeFile(target, '', { flag: 'wx' });
  }
}

/** The run's secrets beside its sources (`runs/<run>/secrets`), outside what the job's /project shows. */
const secretsDirOf = (sources: string) => join(dirname(sources), 'secrets');

/**
 * A container the engine could not start stays "created" with the runtime's error and an exit
 * code (127: command not found, 126: not executable, else 125 as `docker run` uses).
 */
/**
 * A container ended by SIGKILL or SIGTERM (137, 143) says nothing else about why: it is how
 * `docker stop`/`docker kill` and the engine stopping or restarting (no live-restore) end it.
 * The run is recorded failed with these words rather than a bare exit code.
 */
export function killedReason(exitCode: number): string | undefined {
  const signal = exitCode === 137 ? 'SIGKILL' : exitCode === 143 ? 'SIGTERM' : undefined;
  return signal && `ended by ${signal} (exit code ${exitCode}): the container was stopped from outside (docker stop or kill, or the Docker engine stopping or restarting) or its main process was killed`;
}

function startFailure(s: Docker.ContainerInspectInfo['State'] | undefined): { exitCode: number; reason: string } | undefined {
  if (!s || s.Status !== 'created' || !s.Error) return undefined;
  // "...: exec: "x": executable file not found in $PATH: unknown" → "exec: "x": executable file not found in $PATH"
  const reason = /exec: .*?(?=: unknown$|$)/.exec(s.Error)?.[0] ?? s.Error;
  return { exitCode: s.ExitCode > 0 ? s.ExitCode : 125, reason: `could not start: ${reason}` };
}

const validTime = (t: string | undefined) => (t && !t.startsWith('0001-') ? t : undefined);

/** Created, running or restarting: the container has not ended. */
const notEnded = (s: Docker.ContainerInspectInfo['State']) => s.Running || s.Status === 'created' || s.Status === 'restarting';
