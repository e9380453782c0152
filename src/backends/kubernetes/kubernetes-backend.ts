import { AuthorizationV1Api, BatchV1Api, CoreV1Api, KubeConfig, Log, VersionApi, type V1ConfigMap, type V1ContainerStateTerminated, type V1ContainerStatus, type V1Job, type V1Pod, type V1Secret } from '@kubernetes/client-node';
import type { JobSecret } from '../../config/project-secrets.js';
import type Docker from 'dockerode';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access, mkdir, readFile, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { PassThrough, Writable, type Duplex, type Readable } from 'node:stream';
import { formatDuration } from '../../config/resources.js';
import type { KubernetesConfig } from './config.js';
import { backendUnavailable, badInput, errorMessage } from '../../errors.js';
import type { Backend, BackendCheck, BackendHooks, Collected, CollectOptions, JobHandle, JobSpec, JobStatus, StagedJob, StageRequest } from '../types.js';
import { OOM_REASON, pastTimeLimit, TIMEOUT_EXIT_CODE, timeLimitReason } from '../types.js';
import { apiStatus, containerGone, execInPod, loadKubeConfig, portForward } from './cluster.js';
import { isInRegistry, pushImage } from '../../images/registry.js';
import { ensureLocalImage } from '../../images/local.js';
import {
  COLLECTED_FILE,
  DATA_CACHE_VOLUME,
  EXIT_FILE,
  INIT_CONTAINER,
  MAIN_CONTAINER,
  PROJECT_DIR,
  READY_FILE,
  STOP_FILE,
  jobManifest,
  jobName,
  MANAGED_BY,
  secretsName,
  SOURCES_KEY,
  sourcesConfigMapName,
} from './job-manifest.js';
import { archiveSources } from '../sources-archive.js';
import { CollectTally } from '../output-limit.js';
import { extractOutputs } from '../extract-outputs.js';
import { nodeFits, quantity } from './quantity.js';
import { gpuCount, secondsBetween, usageFrom, type JobUsage } from '../usage.js';
import { claimMounts, fetchIntoPod, planFileOf, planPodData, readPlan, storeHeldOutputs, writePlan, type HeldOutput } from './pod-data.js';
import { writeOutputPointer } from '../output-pointer.js';

interface KubernetesHandle extends JobHandle {
  kind: 'kubernetes';
  namespace: string;
  /** The sources archive on the worker's machine, extracted into the pod's /project. */
  sources: string;
  timeSeconds: number | null;
  /** The sources went in a ConfigMap the init container unpacks (nothing to ship), or are uploaded (as in handles from before, which lack it). */
  sourcesIn: 'configmap' | 'upload';
}

/** What the cluster says about a job, read without side effects. */
interface Observed {
  job?: V1Job;
  pod?: V1Pod;
  init?: V1ContainerStatus;
  main?: V1ContainerStatus;
  /** From the files in /project, while the main container runs. */
  exitCode?: number;
  stoppedFor?: string;
}

/** Short: status() runs one exec per poll and the await activity heartbeats every 10 s. */
/** Where collect sets output files over the size limit aside, in the pod's project volume (outside output/). */
const HELD_DIR = `${PROJECT_DIR}/.reprise-held`;
const EXEC_TIMEOUT_MS = 5000;
/** Uploads in flight in this process, by pod (backends are made per activity call). */
const uploads = new Map<string, Promise<void>>();
/** How long submit waits for the pod to start before leaving the upload to shipSources(). */
const SUBMIT_WAIT_MS = 60_000;
/**
 * Sources archives up to this size travel in a ConfigMap made with the Job, so the pod unpacks them
 * as it starts instead of waiting for an upload; the API server keeps objects under 1 MiB (1.5 MiB
 * in etcd, base64 included), so larger ones, and runs whose pod fetches tracked data, are uploaded.
 */
export const SOURCES_CONFIGMAP_MAX_BYTES = 512 * 1024;
/** Whether the identity may create ConfigMaps, by server, namespace and user: asked once per process. */
const configMapRights = new Map<string, Promise<boolean>>();
// ErrImagePull alone may be a passing registry hiccup: the kubelet retries it before backing off.
const PULL_FAILURES = ['ImagePullBackOff', 'InvalidImageName', 'ErrImageNeverPull', 'CreateContainerConfigError'];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs jobs as batch/v1 Jobs. The image is pushed to the configured registry; small sources travel
 * in a ConfigMap made with the Job, larger ones through the API server (exec + tar) into an
 * emptyDir, and the outputs come back by exec before the pod is let go, so no shared volume is needed.
 */
export class KubernetesBackend implements Backend {
  readonly kind = 'kubernetes';
  /** Tracked inputs go by digest (fetched in the pod, or put into the archive by planPodData): none are linked into the export for it. */
  readonly stagesDataByDigest = true;
  private readonly kc: KubeConfig;
  private readonly batch: BatchV1Api;
  private readonly core: CoreV1Api;
  /** The command's end of each job being waited on, by Job name: one watch however many wait (see joinEndWatch). */
  private readonly endWatches = new Map<string, EndWatch>();

  constructor(
    private readonly config: KubernetesConfig,
    private readonly docker: Docker,
    private readonly hooks: BackendHooks = {},
  ) {
    this.kc = loadKubeConfig(config);
    this.batch = this.kc.makeApiClient(BatchV1Api);
    this.core = this.kc.makeApiClient(CoreV1Api);
  }

  async check(): Promise<BackendCheck> {
    const server = this.kc.getCurrentCluster()?.server ?? '?';
    try {
      const version = await this.kc.makeApiClient(VersionApi).getCode();
      await this.batch.listNamespacedJob({ namespace: this.config.namespace, limit: 1 });
      return {
        kind: this.kind,
        version: version.gitVersion,
        details: { server, context: this.kc.getCurrentContext(), namespace: this.config.namespace, registry: this.config.registry },
      };
    } catch (err) {
      const code = apiStatus(err);
      const why = code === 401 || code === 403 ? `access denied (HTTP ${code}) listing Jobs in namespace ${this.config.namespace}` : (err as Error).message.split('\n')[0];
      throw backendUnavailable(`Kubernetes API server ${server} unusable: ${why}; check the kubeconfig, context and namespace (deploy/kubernetes/rbac.yaml lists the rights needed)`, err);
    }
  }

  async stage(request: StageRequest): Promise<StagedJob> {
    // An image already pinned in the registry the nodes pull from needs nothing from this machine.
    const pinned = request.image.reference;
    let image = pinned && isInRegistry(pinned, this.config.registry) ? pinned : undefined;
    if (!image) {
      await ensureLocalImage(this.docker, request.image, request.onTransfer);
      image = await pushImage(this.docker, this.config.registry, request.image, request.onTransfer);
    }
    const tarFile = join(dirname(request.sourcesDir), 'sources.k8s.tar');
    // Tracked inputs the store holds are fetched by the pod itself: out of the archive.
    if (request.data?.files.length) {
      const { plan, staged } = await planPodData(request.data, request.sourcesDir, { staging: this.config.dataStaging, endpoint: this.config.dataEndpoint, cacheClaim: this.config.dataCacheClaim });
      // What the pod fetches is told once it has (hooks.onDataStaged); with nothing to fetch, now.
      if (plan) await writePlan(planFileOf(tarFile), plan);
      else {
        await rm(planFileOf(tarFile), { force: true });
        request.data.onStaged?.(staged);
      }
    }
    await archiveSources(request.sourcesDir, tarFile);
    return { image, sources: tarFile };
  }

  async submit(job: JobSpec): Promise<JobHandle> {
    const name = jobName(job.runId);
    const namespace = this.config.namespace;
    // What the pod fetches of the tracked data (the plan stage() left); the claim, if any, only for such a run, with what the job mounts from it.
    const plan = await readPlan(planFileOf(job.staged.sources));
    const dataCache = plan && this.config.dataCacheClaim ? { dataCacheClaim: this.config.dataCacheClaim, dataMounts: claimMounts(plan) } : {};
    const handle: KubernetesHandle = { kind: 'kubernetes', runId: job.runId, jobId: name, namespace, sources: job.staged.sources, timeSeconds: job.resources.timeSeconds ?? null, sourcesIn: 'upload' };
    // A pod that fetches tracked data is handed its plan with the upload, so only a run without one goes by ConfigMap.
    const archive = plan ? undefined : await this.smallSources(handle);
    const sourcesConfigMap = archive ? sourcesConfigMapName(name) : undefined;
    const made = await ignoring(409, this.batch.createNamespacedJob({ namespace, body: jobManifest(job, { namespace, ...dataCache, sourcesConfigMap, gpuResource: this.config.gpuResource, gpuTypes: this.config.gpuTypes }) })); // 409: a concurrent or earlier submit made it
    const existing = made ?? (await this.readJob(name));
    // The Job decides how its pod takes the sources: one an earlier submit made keeps its way, whatever this one would choose.
    if (existing?.spec?.template.spec?.volumes?.some((v) => v.configMap?.name === sourcesConfigMapName(name))) handle.sourcesIn = 'configmap';
    try {
      const uid = existing?.metadata?.uid;
      // Made after the Job, owned by it (the garbage collector removes them with it); the kubelet mounts them once they exist.
      await Promise.all([
        job.secrets?.length ? this.createSecret(name, uid, job.secrets) : undefined,
        handle.sourcesIn === 'configmap' ? this.createSourcesConfigMap(name, uid, archive ?? (await readFile(await this.localSources(handle)))) : undefined,
      ]);
      if (handle.sourcesIn === 'configmap') return handle;
      // Ship the sources as soon as the pod waits for them; a pod still queued gets them from shipSources().
      for (const until = Date.now() + SUBMIT_WAIT_MS; Date.now() < until; ) {
        const seen = await this.observe(handle, false);
        if (!seen.job || seen.main?.state?.running || seen.main?.state?.terminated || seen.pod?.status?.phase === 'Failed') break;
        if (seen.init?.state?.running && seen.pod) {
          await this.uploadSources(handle, seen.pod);
          break;
        }
        // The scheduler says so within a second; the Job would otherwise wait for the claim forever.
        const claim = this.missingClaim(seen.pod);
        if (claim) throw badInput(claim);
        if (pullFailure(seen) || unschedulable(seen.pod)) break; // queued: shipSources() sends them once it starts
        if (!seen.pod && (await this.podRefusal(handle, seen.job))) break; // refused: status() says why
        await sleep(250);
      }
    } catch (err) {
      // The command waits for its sources, so nothing of the run has happened yet: remove the Job,
      // so a failed submit leaves nothing on the cluster (a retried submit makes it afresh).
      await this.deleteJob(handle).catch(() => undefined);
      await this.deleteSecret(handle).catch(() => undefined);
      throw err;
    }
    return handle;
  }

  async status(handle: JobHandle): Promise<JobStatus> {
    const h = handle as KubernetesHandle;
    const seen = await this.observe(h, true);
    if (!seen.job) return { phase: 'lost', reason: `Job ${h.jobId} no longer exists in namespace ${h.namespace}` };
    const startedAt = seen.main?.state?.running?.startedAt ?? seen.main?.state?.terminated?.startedAt;
    const started = startedAt ? new Date(startedAt).toISOString() : undefined;
    const granted = grantedOf(seen.pod);

    if (seen.exitCode !== undefined || seen.main?.state?.terminated) this.endWatches.get(h.jobId)?.settle();
    if (seen.exitCode !== undefined) {
      if (seen.stoppedFor === 'timeout' && h.timeSeconds) {
        return { phase: 'exited', exitCode: TIMEOUT_EXIT_CODE, reason: timeLimitReason(formatDuration(h.timeSeconds)), startedAt: started, ...granted };
      }
      return { phase: 'exited', exitCode: seen.exitCode, startedAt: started, ...granted };
    }
    if (seen.main?.state?.running) {
      // The command's own time limit (the Job's deadline has slack for collecting): enforceTimeLimit stops it.
      return { phase: 'running', startedAt: started, ...(pastTimeLimit(h.timeSeconds, startedAt) ? { due: 'time-limit' as const } : {}) };
    }
    const terminated = seen.main?.state?.terminated;
    if (terminated) {
      // The pod ended on its own terms: killed (deadline, OOM, eviction) or already collected.
      if (deadlineExceeded(seen.job) && h.timeSeconds) {
        return { phase: 'exited', exitCode: TIMEOUT_EXIT_CODE, reason: timeLimitReason(formatDuration(h.timeSeconds)), startedAt: started, finishedAt: isoTime(terminated.finishedAt), ...granted };
      }
      return {
        phase: 'exited',
        exitCode: terminated.exitCode,
        reason: terminationReason(terminated),
        startedAt: started,
        finishedAt: isoTime(terminated.finishedAt),
        ...granted,
      };
    }
    if (!seen.pod) {
      const refused = await this.podRefusal(h, seen.job);
      if (refused) return { phase: 'pending', reason: refused, never: true, refused: true };
    }
    const failed = jobFailure(seen);
    if (failed) return { phase: 'exited', exitCode: deadlineExceeded(seen.job) && h.timeSeconds ? TIMEOUT_EXIT_CODE : 1, reason: failed };
    // The init container waits for the sources: shipSources sends them (submit did, had the pod started by then).
    if (seen.init?.state?.running && seen.pod && h.sourcesIn !== 'configmap') return { phase: 'pending', due: 'sources' };
    const claim = this.missingClaim(seen.pod);
    if (claim) return { phase: 'pending', reason: claim, never: true, misconfigured: true };
    const waiting = schedulingMessage(seen.pod);
    if (waiting) return { phase: 'pending', reason: waiting, ...(NO_NODE_FITS.test(waiting) && !(await this.anyNodeFits(seen.pod!)) ? { never: true } : {}) };
    return { phase: 'pending' };
  }

  /**
   * Why the API server refuses the Job's pod (admission: Pod Security, a ResourceQuota, a
   * LimitRange), from the Job controller's FailedCreate events for this very Job (by uid): the
   * controller retries forever and the Job itself never says so.
   */
  private async podRefusal(h: KubernetesHandle, job: V1Job): Promise<string | undefined> {
    const uid = job.metadata?.uid;
    if (!uid) return undefined;
    const events = await this.core
      .listNamespacedEvent({ namespace: h.namespace, fieldSelector: `involvedObject.kind=Job,involvedObject.uid=${uid},reason=FailedCreate` })
      .catch((err: unknown) => {
        if (apiStatus(err) === 403) return undefined; // not allowed to look (a Role without events list): keep waiting
        throw err;
      });
    if (!events) return undefined;
    const message = events.items.map((e) => e.message ?? '').find((m) => / is forbidden: /.test(m));
    // 'Error creating: pods "reprise-run-x-abcde" is forbidden: violates PodSecurity …' → from "violates".
    return message && oneLine(message.replace(/^.*? is forbidden: /, ''));
  }

  /**
   * The one-line error for a pod the scheduler cannot place because the data cache claim does not
   * exist (Reprise never makes it: the worker has no rights on PersistentVolumeClaims).
   */
  private missingClaim(pod: V1Pod | undefined): string | undefined {
    const name = /persistentvolumeclaim "([^"]+)" not found/.exec(schedulingMessage(pod) ?? '')?.[1];
    if (!name) return undefined;
    return `the data cache claim ${name} (this backend's dataCacheClaim) does not exist in namespace ${this.config.namespace}: create that PersistentVolumeClaim there (Reprise never makes one), or remove dataCacheClaim from this backend`;
  }

  /**
   * Could any node ever hold the pod (its labels, its requests within the node's allocatable)? Needs nodes
   * list (the optional ClusterRole in deploy/kubernetes/rbac.yaml); without it, or with an
   * autoscaler that may add bigger nodes (set `failUnschedulable: false`), the run just waits.
   */
  private async anyNodeFits(pod: V1Pod): Promise<boolean> {
    if (this.config.failUnschedulable === false) return true;
    const requests: Record<string, string> = {};
    for (const c of pod.spec?.containers ?? []) Object.assign(requests, c.resources?.requests ?? {});
    const nodeSelector = pod.spec?.nodeSelector;
    if (Object.keys(requests).length === 0 && !nodeSelector) return true;
    try {
      const nodes = await this.core.listNode();
      return nodes.items.some((n) => !n.spec?.unschedulable && nodeFits({ requests, nodeSelector }, { allocatable: n.status?.allocatable ?? {}, labels: n.metadata?.labels ?? {} }));
    } catch {
      return true; // not allowed to look: assume it may fit, and keep waiting with the reason shown
    }
  }

  /** Kill the command once it runs past its time limit, measured from its start on the kubelet's clock; the pod stays to be collected. */
  /**
   * Wait while the command runs, on the job's end watch: wakes as the command ends (the container
   * itself outlives it, waiting to be collected), at the time limit, after `timeoutMs` or on abort.
   */
  async waitForEnd(handle: JobHandle, { timeoutMs, signal }: { timeoutMs: number; signal?: AbortSignal }): Promise<void> {
    const h = handle as KubernetesHandle;
    const seen = await this.observe(h, false);
    const running = seen.main?.state?.running;
    if (!running) return; // not started, or ended: status() says which
    const toLimit = h.timeSeconds && running.startedAt ? new Date(running.startedAt).getTime() + h.timeSeconds * 1000 + 1 - Date.now() : Infinity;
    const ms = Math.min(timeoutMs, toLimit);
    if (ms <= 0 || signal?.aborted) return;
    const watch = this.joinEndWatch(h);
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    try {
      await Promise.race([
        watch.ended,
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, ms);
          onAbort = resolve;
          signal?.addEventListener('abort', onAbort, { once: true });
        }),
      ]);
    } finally {
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
      watch.leave();
    }
  }

  /**
   * Join the watch for a job's command end, made by the first who waits and stopped when the last
   * leaves: the container outlives its command (it waits to be collected), so the end is asked
   * for, every 250 ms in the watch's first 5 s (where a short job ends), then every second; a
   * status() that reads the end first settles it at once. One watch per job, so the job activity
   * and its log follower do not each exec into the pod.
   */
  private joinEndWatch(h: KubernetesHandle): { ended: Promise<void>; leave: () => void } {
    let watch = this.endWatches.get(h.jobId);
    if (!watch) {
      let settle!: () => void;
      const ended = new Promise<void>((resolve) => (settle = resolve));
      const w: EndWatch = { ended, settle: () => ((w.done = true), settle()), waiters: 0, done: false };
      this.endWatches.set(h.jobId, (watch = w));
      void (async () => {
        const since = Date.now();
        // Its first look comes after a sleep: by then the one who made it has joined.
        for (;;) {
          await sleep(Date.now() - since < 5000 ? 250 : 1000);
          if (w.waiters === 0 || w.done) break;
          // A failed ask (the API server restarting) is asked again; a Job gone reads as ended.
          const now = await this.observe(h, true).catch(() => undefined);
          if (now && (now.exitCode !== undefined || !now.main?.state?.running)) w.settle();
        }
        if (this.endWatches.get(h.jobId) === w) this.endWatches.delete(h.jobId);
      })();
    }
    const joined = watch;
    joined.waiters++;
    let left = false;
    return {
      ended: joined.ended,
      leave: () => {
        if (!left) joined.waiters--;
        left = true;
      },
    };
  }

  async enforceTimeLimit(handle: JobHandle): Promise<void> {
    const h = handle as KubernetesHandle;
    let seen = await this.observe(h, true);
    const startedAt = seen.main?.state?.running?.startedAt;
    if (!seen.pod || seen.exitCode !== undefined || !pastTimeLimit(h.timeSeconds, startedAt)) return;
    await this.stop(h, seen.pod, 'timeout');
    // The wrapper writes the exit file a moment after the kill: wait for it (status reads it).
    for (let i = 0; i < 20 && seen.exitCode === undefined && seen.main?.state?.running; i++) {
      await sleep(250);
      seen = await this.observe(h, true);
    }
  }

  /** Ship the sources to the pod's init container while it waits for them. */
  async shipSources(handle: JobHandle): Promise<void> {
    const h = handle as KubernetesHandle;
    if (h.sourcesIn === 'configmap') return; // the pod has them from its ConfigMap
    const seen = await this.observe(h, false);
    if (seen.init?.state?.running && seen.pod) await this.uploadSources(h, seen.pod);
  }

  async logs(handle: JobHandle): Promise<Readable> {
    const out = new PassThrough();
    this.pumpLogs(handle as KubernetesHandle, out).then(
      () => out.end(),
      (err: unknown) => out.destroy(err as Error),
    );
    return out;
  }

  async cancel(handle: JobHandle): Promise<void> {
    const h = handle as KubernetesHandle;
    const seen = await this.observe(h, true).catch(() => undefined);
    if (seen && !seen.job) return;
    if (seen?.pod && seen.main?.state?.running) {
      // Kill the command but keep the pod: its outputs are still collected.
      if (seen.exitCode === undefined) await this.stop(h, seen.pod, 'cancel');
      return;
    }
    if (seen?.main?.state?.terminated) return;
    // Not started yet (or unreadable): nothing to collect, remove the Job.
    await this.deleteJob(h);
  }

  async collect(handle: JobHandle, destDir: string, options: CollectOptions = {}): Promise<Collected> {
    const h = handle as KubernetesHandle;
    const paths = options.paths ?? ['output'];
    // The names go into the pod's shell script: plain top-level names only.
    const bad = paths.find((p) => !/^[A-Za-z0-9._][A-Za-z0-9._-]*$/.test(p) || p === '.' || p === '..');
    if (bad !== undefined) throw badInput(`cannot collect "${bad}": only top-level directories of the project are collected (code, output, …)`);
    await mkdir(destDir, { recursive: true });
    const seen = await this.observe(h, false);
    if (!seen.pod || !seen.main?.state?.running) return { skipped: [] }; // the pod is gone or never ran: no outputs
    const where = { namespace: h.namespace, pod: seen.pod.metadata!.name!, container: MAIN_CONTAINER };
    const tally = new CollectTally();
    // A file larger than a whole collect may bring back stays in the pod (streaming it only to
    // drop it would move gigabytes for nothing): found first (NUL-separated, any name), then moved
    // aside within the project volume (a rename; the pod's tar has no --exclude) and listed
    // there, so a repeated collect still names them. A copy taken while the job goes on (a
    // lab) moves nothing: such files travel and are left out here.
    // With a data store, outputs above its threshold go there from the pod; none is left behind.
    const toStore = options.data && options.final !== false && !options.paths ? options.data : undefined;
    const big = options.final === false ? [] : await this.holdLargeOutputs(where, toStore ? Math.min(toStore.threshold, tally.limits.totalBytes) : tally.limits.totalBytes);
    const stored = toStore && big.length ? await storeHeldOutputs(this.kc, where, HELD_DIR, big, toStore.store, this.config.dataEndpoint) : [];
    if (!stored.length) for (const { path, size } of big) tally.admit(path, size);
    // The pod's tar is the job's to replace: its stream is extracted here trusting nothing in it.
    const archive = new PassThrough();
    const extracting = extractOutputs(archive, destDir, { paths, strip: !options.paths }, tally);
    const dirs = paths.map((p) => `[ -d ${PROJECT_DIR}/${p} ] || [ -h ${PROJECT_DIR}/${p} ] && set -- "$@" ${p}; `).join('');
    const result = await execInPod(this.kc, where, ['sh', '-c', `set --; ${dirs}if [ $# -gt 0 ]; then tar -c -f - -C ${PROJECT_DIR} "$@"; fi`], { stdout: archive }).finally(() => archive.end());
    await extracting;
    // GNU tar exits 1 when a file changed while it was read: a copy taken while the job goes on
    // (a lab saving a notebook) keeps what it got; the next checkpoint takes it again.
    const changedWhileRead = result.exitCode === 1 && options.final === false;
    if (result.exitCode !== 0 && !changedWhileRead) throw new Error(`collecting ${paths.join('/, ')}/ from pod ${where.pod} failed (tar exit ${result.exitCode}): ${result.stderr.trim()}`);
    // Outputs are safe here: let the pod finish (not while a lab goes on).
    if (options.final !== false) await execInPod(this.kc, where, ['touch', COLLECTED_FILE], { timeoutMs: EXEC_TIMEOUT_MS });
    for (const f of stored) await writeOutputPointer(destDir, f);
    return { ...tally.result(), ...(stored.length ? { stored } : {}) };
  }

  /**
   * Regular files in the pod's output/ larger than `max` bytes, with their sizes: moved to
   * HELD_DIR in the project volume (out of output/, so out of the archive) and recorded in its
   * list, which a repeated collect reads back.
   */
  private async holdLargeOutputs(where: { namespace: string; pod: string; container: string }, max: number): Promise<HeldOutput[]> {
    const listing = new PassThrough();
    const chunks: Buffer[] = [];
    listing.on('data', (c: Buffer) => chunks.push(c));
    const script = [
      `cd ${PROJECT_DIR} || exit 0`,
      `mkdir -p ${HELD_DIR}`,
      // One record per file: its size, a space, its name, NUL (a name may hold a newline).
      `[ -d output ] && find output -type f -size +${max}c -exec sh -c 'for f; do n=$(ls ${HELD_DIR} | grep -c "^[0-9]"); printf "%s %s\\0" "$(stat -c %s "$f" 2>/dev/null || wc -c < "$f")" "$f" >> ${HELD_DIR}/list && mv -f -- "$f" "${HELD_DIR}/$n"; done' sh {} +`,
      `cat ${HELD_DIR}/list 2>/dev/null`,
      'exit 0',
    ].join('\n');
    const found = await execInPod(this.kc, where, ['sh', '-c', script], { stdout: listing, timeoutMs: EXEC_TIMEOUT_MS });
    if (found.exitCode !== 0) throw new Error(`setting large outputs aside in pod ${where.pod} failed (exit ${found.exitCode}): ${found.stderr.trim()}`);
    // The list's n-th record is the file moved to HELD_DIR/n.
    const held = new Map<string, HeldOutput>();
    for (const [index, record] of Buffer.concat(chunks).toString('utf8').split('\0').entries()) {
      const space = record.indexOf(' ');
      if (space > 0) held.set(record.slice(space + 1), { index, path: record.slice(space + 1), size: Number(record.slice(0, space).trim()) });
    }
    return [...held.values()];
  }

  /**
   * A TCP stream to `port` in the job's pod, through the API server's port-forward (the
   * pods/portforward right). Only while the command runs: a job still waiting says why, in the
   * scheduler's words; one whose command ended says so.
   */
  async connect(handle: JobHandle, port: number): Promise<Duplex> {
    const h = handle as KubernetesHandle;
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw badInput(`cannot connect to port ${port}: a port is a whole number from 1 to 65535`);
    const seen = await this.observe(h, true);
    const what = `run ${h.runId} (Job ${h.jobId} in namespace ${h.namespace})`;
    if (!seen.job) throw new Error(`cannot connect to port ${port} of ${what}: the Job no longer exists`);
    if (seen.job.status?.completionTime) throw new Error(`cannot connect to port ${port} of ${what}: it has ended`);
    const ended = seen.exitCode ?? seen.main?.state?.terminated?.exitCode;
    if (ended !== undefined) throw new Error(`cannot connect to port ${port} of ${what}: its command has ended (exit code ${ended})`);
    const failed = jobFailure(seen);
    if (failed) throw new Error(`cannot connect to port ${port} of ${what}: it has ended: ${oneLine(failed)}`);
    if (!seen.pod || !seen.main?.state?.running) {
      const waiting = schedulingMessage(seen.pod) ?? seen.main?.state?.waiting?.reason ?? seen.init?.state?.waiting?.reason;
      const why = waiting ? oneLine(waiting) : seen.init?.state?.running ? 'its sources are being shipped' : 'its pod is starting';
      throw new Error(`cannot connect to port ${port} of ${what}: it is not running yet (pending: ${why})`);
    }
    const pod = seen.pod.metadata!.name!;
    try {
      return await portForward(this.kc, { namespace: h.namespace, pod }, port);
    } catch (err) {
      const code = apiStatus(err);
      if (code === 401 || code === 403) {
        throw backendUnavailable(`access denied (HTTP ${code}) forwarding port ${port} of pod ${pod} in namespace ${h.namespace}: the identity needs "create" and "get" on pods/portforward (deploy/kubernetes/rbac.yaml)`, err);
      }
      throw new Error(`cannot connect to port ${port} of ${what}: ${oneLine(errorMessage(err))}`, { cause: err });
    }
  }

  /**
   * The pod's requests × its command's running time: from the container's start to the moment
   * the command wrote its exit code (the container itself waits on for collection), or to the
   * container's end when it ended on its own. The API server measures no CPU time or memory
   * without a metrics server, so those are left out.
   */
  async usage(handle: JobHandle, status: JobStatus): Promise<JobUsage | undefined> {
    const h = handle as KubernetesHandle;
    const seen = await this.observe(h, false);
    const requests = seen.pod?.spec?.containers.find((c) => c.name === MAIN_CONTAINER)?.resources?.requests;
    const started = status.startedAt ?? isoTime(seen.main?.state?.running?.startedAt ?? seen.main?.state?.terminated?.startedAt);
    let ended = status.finishedAt ?? isoTime(seen.main?.state?.terminated?.finishedAt);
    if (!ended && seen.pod && seen.main?.state?.running) {
      const where = { namespace: h.namespace, pod: seen.pod.metadata!.name!, container: MAIN_CONTAINER };
      const r = await execInPod(this.kc, where, ['stat', '-c', '%Y', EXIT_FILE], { timeoutMs: EXEC_TIMEOUT_MS });
      const epoch = /^(\d+)\s*$/.exec(r.stdout)?.[1];
      if (epoch) ended = new Date(Number(epoch) * 1000).toISOString();
    }
    const wallSeconds = secondsBetween(started, ended);
    if (wallSeconds === undefined) return undefined;
    const cpu = requests?.cpu;
    return usageFrom({ wallSeconds, cores: cpu ? quantity(cpu) : undefined, gpus: gpuCount(requests), source: 'pod requests' });
  }

  async cleanup(handle: JobHandle): Promise<void> {
    const h = handle as KubernetesHandle;
    // Side by side, each idempotent. Background propagation: the garbage collector removes the pod
    // (its grace period is short). The Secret and ConfigMap are owned by the Job, so it would
    // remove them too; deleted here so they go at once.
    await Promise.all([
      this.deleteJob(h),
      this.deleteSecret(h),
      h.sourcesIn === 'configmap' ? this.deleteSourcesConfigMap(h) : undefined,
      rm(h.sources, { force: true }),
      rm(planFileOf(h.sources), { force: true }),
    ]);
  }

  /**
   * The run's secrets (project secrets, a lab's token) as a Secret the pod mounts read-only at
   * /run/secrets (secretsName): never an env value of the pod spec. Made after the Job, owned by it;
   * the kubelet mounts it once it exists.
   */
  private async createSecret(jobName: string, jobUid: string | undefined, secrets: JobSecret[]): Promise<void> {
    const namespace = this.config.namespace;
    const body: V1Secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'Opaque',
      metadata: ownedByJob(secretsName(jobName), namespace, jobName, jobUid),
      data: Object.fromEntries(secrets.map((x) => [x.name, x.content.toString('base64')])),
    };
    await ignoring(409, this.core.createNamespacedSecret({ namespace, body })); // an earlier submit made it
  }

  /**
   * The sources archive when it may go in a ConfigMap: small enough, and the identity may create
   * ConfigMaps (a Role from before they were used may not: those runs upload, as they did).
   */
  private async smallSources(h: KubernetesHandle): Promise<Buffer | undefined> {
    const tarFile = await this.localSources(h);
    if ((await stat(tarFile)).size > SOURCES_CONFIGMAP_MAX_BYTES || !(await this.mayCreateConfigMaps())) return undefined;
    return readFile(tarFile);
  }

  private mayCreateConfigMaps(): Promise<boolean> {
    // By who asks (the user entry: its token or certificate), not its name: every kubeconfig may call its user "default".
    const who = createHash('sha256').update(JSON.stringify(this.kc.getCurrentUser() ?? null)).digest('hex');
    const key = `${this.kc.getCurrentCluster()?.server}/${this.config.namespace}/${who}`;
    let known = configMapRights.get(key);
    if (!known) {
      const review = { spec: { resourceAttributes: { namespace: this.config.namespace, verb: 'create', resource: 'configmaps' } } };
      known = this.kc
        .makeApiClient(AuthorizationV1Api)
        .createSelfSubjectAccessReview({ body: review })
        .then(
          (r) => r.status?.allowed === true,
          () => {
            configMapRights.delete(key); // asked again next time: an unanswered review says nothing of the rights
            return false;
          },
        );
      configMapRights.set(key, known);
    }
    return known;
  }

  private async createSourcesConfigMap(jobName: string, jobUid: string | undefined, archive: Buffer): Promise<void> {
    const namespace = this.config.namespace;
    const body: V1ConfigMap = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: ownedByJob(sourcesConfigMapName(jobName), namespace, jobName, jobUid),
      immutable: true,
      binaryData: { [SOURCES_KEY]: archive.toString('base64') },
    };
    await ignoring(409, this.core.createNamespacedConfigMap({ namespace, body })); // an earlier submit made it
  }

  private async deleteSourcesConfigMap(h: KubernetesHandle): Promise<void> {
    await ignoring(404, this.core.deleteNamespacedConfigMap({ name: sourcesConfigMapName(h.jobId), namespace: h.namespace }));
  }

  private async deleteSecret(h: KubernetesHandle): Promise<void> {
    await ignoring(404, this.core.deleteNamespacedSecret({ name: secretsName(h.jobId), namespace: h.namespace }));
  }

  /** The Job, its pod and, while the command's container runs, the hand-over files. */
  private async observe(h: KubernetesHandle, readFiles: boolean): Promise<Observed> {
    const job = await this.readJob(h.jobId);
    if (!job) return {};
    const pods = await this.core.listNamespacedPod({ namespace: h.namespace, labelSelector: `batch.kubernetes.io/job-name=${h.jobId}` });
    const created = (p: V1Pod) => new Date(p.metadata?.creationTimestamp ?? 0).getTime();
    const pod = pods.items.sort((a, b) => created(b) - created(a))[0];
    const init = pod?.status?.initContainerStatuses?.find((c) => c.name === INIT_CONTAINER);
    const main = pod?.status?.containerStatuses?.find((c) => c.name === MAIN_CONTAINER);
    const seen: Observed = { job, pod, init, main };
    if (readFiles && pod && main?.state?.running) {
      const r = await execInPod(
        this.kc,
        { namespace: h.namespace, pod: pod.metadata!.name!, container: MAIN_CONTAINER },
        ['sh', '-c', `echo "exit=$(cat ${EXIT_FILE} 2>/dev/null)"; echo "stop=$(cat ${STOP_FILE} 2>/dev/null)"`],
        { timeoutMs: EXEC_TIMEOUT_MS },
      ).catch((err: unknown) => {
        if (!containerGone(err)) throw err;
        return undefined; // it ended since the pod was read: its terminated state tells the rest
      });
      if (!r) return this.observe(h, false);
      const exit = /^exit=(\d+)\s*$/m.exec(r.stdout);
      if (exit) seen.exitCode = Number(exit[1]);
      seen.stoppedFor = /^stop=(\w+)/m.exec(r.stdout)?.[1];
    }
    return seen;
  }

  /**
   * The sources archive stage() made, on this machine. A worker that did not stage the run (the
   * one that did died, or a team's other replica took the step) archives them again from git.
   */
  private async localSources(h: KubernetesHandle): Promise<string> {
    const missing = await access(h.sources).then(() => undefined, (err: unknown) => err);
    if (!missing) return h.sources;
    if (!this.hooks.restoreSources) {
      throw new Error(`the run's staged sources ${h.sources} are gone (${errorMessage(missing)}); was the run staged by a worker on another machine?`);
    }
    const dir = await this.hooks.restoreSources(h.runId);
    const tarFile = join(dirname(dir), 'sources.k8s.tar');
    await archiveSources(dir, tarFile);
    return tarFile;
  }

  /** Tar the sources into the waiting init container's /project, then tell it they are there. */
  private uploadSources(h: KubernetesHandle, pod: V1Pod): Promise<void> {
    const podName = pod.metadata!.name!;
    const key = `${this.kc.getCurrentCluster()?.server}/${h.namespace}/${podName}`;
    const inFlight = uploads.get(key);
    if (inFlight) return inFlight;
    const upload = this.upload(h, pod)
      .catch(async (err: unknown) => {
        // The init container ended meanwhile (the pod we acted on was a moment old): the sources
        // are in, or it gave up, which status() reports.
        if (containerGone(err)) return;
        // The kubelet reports a container's end up to a few seconds late: give it that long.
        for (let i = 0; i < 5; i++) {
          if (!(await this.initRunning(h, podName))) return;
          await sleep(1000);
        }
        throw err;
      })
      .finally(() => uploads.delete(key));
    uploads.set(key, upload);
    return upload;
  }

  private async upload(h: KubernetesHandle, pod: V1Pod): Promise<void> {
    const podName = pod.metadata!.name!;
    const where = { namespace: h.namespace, pod: podName, container: INIT_CONTAINER };
    const ready = await execInPod(this.kc, where, ['test', '-e', READY_FILE], { timeoutMs: EXEC_TIMEOUT_MS });
    if (ready.exitCode === 0) return;
    const sources = await this.localSources(h);
    const extract = await execInPod(this.kc, where, ['tar', '-x', '-o', '-f', '-', '-C', PROJECT_DIR], { stdin: createReadStream(sources) });
    if (extract.exitCode !== 0) throw new Error(`unpacking the sources in pod ${podName} failed (tar exit ${extract.exitCode}): ${extract.stderr.trim()}`);
    const plan = await readPlan(planFileOf(sources));
    // The claim as the pod was made with it: a pod without it gets every file in its own volume.
    const claim = pod.spec?.volumes?.find((v) => v.name === DATA_CACHE_VOLUME)?.persistentVolumeClaim?.claimName;
    if (plan) this.hooks.onDataStaged?.(h.runId, await fetchIntoPod(this.kc, where, plan, claim));
    const touched = await execInPod(this.kc, where, ['touch', READY_FILE], { timeoutMs: EXEC_TIMEOUT_MS });
    if (touched.exitCode !== 0) throw new Error(`marking the sources ready in pod ${podName} failed: ${touched.stderr.trim()}`);
  }

  private async initRunning(h: KubernetesHandle, podName: string): Promise<boolean> {
    const pod = await this.core.readNamespacedPod({ name: podName, namespace: h.namespace }).catch(() => undefined);
    return Boolean(pod?.status?.initContainerStatuses?.find((c) => c.name === INIT_CONTAINER)?.state?.running);
  }

  /** Record why, then kill every process of the command (PID 1, the wrapper, survives to report). */
  private async stop(h: KubernetesHandle, pod: V1Pod, why: 'timeout' | 'cancel'): Promise<void> {
    const where = { namespace: h.namespace, pod: pod.metadata!.name!, container: MAIN_CONTAINER };
    await execInPod(this.kc, where, ['sh', '-c', `[ -e ${EXIT_FILE} ] || { echo "$1" > ${STOP_FILE}; kill -KILL -1; }`, 'reprise-stop', why], {
      timeoutMs: EXEC_TIMEOUT_MS,
    }).catch((err: unknown) => {
      if (!containerGone(err)) throw err; // it ended meanwhile: nothing left to stop
    });
  }

  /**
   * Follow the command's log from the start. The container outlives the command (it waits to be
   * collected), so the follow is ended once the exit file appears, and whatever it had not
   * delivered yet is read once more from the full log.
   */
  private async pumpLogs(h: KubernetesHandle, out: PassThrough): Promise<void> {
    let seen = await this.observe(h, false);
    while (seen.job && !seen.main?.state?.running && !seen.main?.state?.terminated && !jobFailure(seen)) {
      await sleep(500);
      seen = await this.observe(h, false);
    }
    if (!seen.pod || !(seen.main?.state?.running || seen.main?.state?.terminated)) return;
    const podName = seen.pod.metadata!.name!;
    let sent = 0;
    const follower = new Writable({
      write(chunk: Buffer, _enc, done) {
        sent += chunk.length;
        out.write(chunk, done);
      },
    });
    const log = new Log(this.kc);
    const followEnded = new Promise<void>((resolve) => follower.on('finish', resolve).on('close', resolve));
    const abort = await log.log(h.namespace, podName, MAIN_CONTAINER, follower, { follow: true });
    const watch = this.joinEndWatch(h);
    try {
      await Promise.race([followEnded, watch.ended]);
    } finally {
      watch.leave();
    }
    await sleep(500); // the runtime writes the last lines to the log file a moment after they are printed
    abort.abort();
    const rest: Buffer[] = [];
    const collector = new Writable({
      write(chunk: Buffer, _enc, done) {
        rest.push(chunk);
        done();
      },
    });
    try {
      await log.log(h.namespace, podName, MAIN_CONTAINER, collector, { follow: false });
      await new Promise<void>((resolve) => collector.on('finish', resolve).on('close', resolve));
      const full = Buffer.concat(rest);
      if (full.length > sent) out.write(full.subarray(sent));
    } catch (err) {
      if (apiStatus(err) !== 404) throw err; // the pod went away: what was followed is all there is
    }
  }

  private async readJob(name: string): Promise<V1Job | undefined> {
    try {
      return await this.batch.readNamespacedJob({ name, namespace: this.config.namespace });
    } catch (err) {
      if (apiStatus(err) === 404) return undefined;
      throw err;
    }
  }

  private async deleteJob(h: KubernetesHandle): Promise<void> {
    await ignoring(404, this.batch.deleteNamespacedJob({ name: h.jobId, namespace: h.namespace, propagationPolicy: 'Background' }));
  }
}


/** One job's command-end watch: settled once the end is read; asked while anyone waits on it. */
interface EndWatch {
  ended: Promise<void>;
  settle: () => void;
  waiters: number;
  done: boolean;
}

const oneLine = (text: string) => text.replace(/\s*\n\s*/g, ' ').trim();

const isoTime = (t: Date | string | undefined) => (t ? new Date(t).toISOString() : undefined);

/**
 * Why the command's container ended, when something other than the command's own exit ended it:
 * out of memory, a container the kubelet lost track of (ContainerStatusUnknown after a kubelet
 * restart), a signal (the kubelet killing a pod whose sandbox changed). The command's exit code
 * alone would read as the command failing.
 */
export function terminationReason(t: V1ContainerStateTerminated): string | undefined {
  if (t.reason === 'OOMKilled') return OOM_REASON;
  const said = t.message?.trim() ? `: ${oneLine(t.message)}` : '';
  if (t.reason && !['Completed', 'Error'].includes(t.reason)) return `Kubernetes ended the job's container (${t.reason}${said}, exit ${t.exitCode})`;
  if (t.exitCode > 128 && t.exitCode < 160) return `the job's container was stopped by signal ${t.exitCode - 128} (exit ${t.exitCode})${said}`;
  return undefined;
}

/** `request`'s answer, or undefined when the API server says `status` (409: made already; 404: gone already). */
async function ignoring<T>(status: number, request: Promise<T>): Promise<T | undefined> {
  try {
    return await request;
  } catch (err) {
    if (apiStatus(err) !== status) throw err;
    return undefined;
  }
}

/** Metadata of an object made for a run's Job and owned by it (the garbage collector removes it with the Job). */
function ownedByJob(name: string, namespace: string, jobName: string, jobUid: string | undefined) {
  return {
    name,
    namespace,
    labels: { 'app.kubernetes.io/managed-by': MANAGED_BY },
    ...(jobUid ? { ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: jobName, uid: jobUid }] } : {}),
  };
}

const deadlineExceeded = (job: V1Job | undefined) => Boolean(job?.status?.conditions?.some((c) => c.type === 'Failed' && c.status === 'True' && c.reason === 'DeadlineExceeded'));

/** Why the scheduler has not placed the pod, in its words ("0/1 nodes are available: 1 Insufficient cpu. …"). */
const schedulingMessage = (pod: V1Pod | undefined) => pod?.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False')?.message?.trim() || undefined;

/** The scheduler's words for a pod no node has room or labels for (as opposed to one waiting for room to free up). */
const NO_NODE_FITS = /Insufficient|didn't match Pod's node affinity\/selector/;

/** What the pod was given: its command's container limits (requests equal them), as the record keeps them. */
function grantedOf(pod: V1Pod | undefined): { granted?: Record<string, string> } {
  const limits = pod?.spec?.containers.find((c) => c.name === MAIN_CONTAINER)?.resources?.limits;
  return limits && Object.keys(limits).length ? { granted: { ...limits } } : {};
}

const unschedulable = (pod: V1Pod | undefined) => Boolean(pod?.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.status === 'False'));

function pullFailure(seen: Observed): string | undefined {
  for (const c of [seen.init, seen.main]) {
    const waiting = c?.state?.waiting;
    if (waiting?.reason && PULL_FAILURES.includes(waiting.reason)) return `${waiting.reason}: ${waiting.message ?? ''}`.trim();
  }
  return undefined;
}

/** Why a Job that never ran its command ended, if it did: image pull failed, init failed, Job failed. */
function jobFailure(seen: Observed): string | undefined {
  const pull = pullFailure(seen);
  if (pull) return `the pod cannot start: ${pull}`;
  const initDone = seen.init?.state?.terminated;
  if (initDone && initDone.exitCode !== 0) {
    const said = initDone.message?.trim().split('\n').filter(Boolean).pop();
    return `the sources or tracked inputs never arrived in the pod (init container exited ${initDone.exitCode}${said ? `: ${said}` : ''})`;
  }
  const failed = seen.job?.status?.conditions?.find((c) => c.type === 'Failed' && c.status === 'True');
  if (failed) return `Job failed: ${failed.reason ?? ''} ${failed.message ?? ''}`.trim();
  if (seen.pod?.status?.phase === 'Failed') return `pod failed: ${seen.pod.status.reason ?? ''} ${seen.pod.status.message ?? ''}`.trim();
  return undefined;
}
