import type { DataMount } from '../data/trees.js';
import type { Duplex, Readable } from 'node:stream';
import type { Resources } from '../config/resources.js';
import type { OnTransfer } from '../images/transfer-progress.js';
import type { ImageRef } from '../images/types.js';
import type { SkippedOutput } from '../project/tar-members.js';
import type { JobSecret } from '../config/project-secrets.js';
import type { JobUsage } from './usage.js';

export type { JobUsage };

export type { ImageRef };

/**
 * One interface for every place a run can go (docker, slurm, kubernetes). Everything that
 * crosses it is plain JSON, so handles can live in Temporal workflow state and survive a
 * worker restart; every call is safe to repeat. status() only reads: a step the job needs from
 * the caller (JobStatus.due) is taken by its own method, by whoever waits on the job (takeDueStep).
 */
export interface Backend {
  readonly kind: string;
  /**
   * The job runs on this machine and reads tracked inputs straight from the local data cache
   * (StageRequest.dataMounts) instead of copies or links in its sources.
   */
  readonly mountsLocalData?: boolean;
  /**
   * Tracked inputs reach the job only by digest (StageRequest.data: the cluster's own cache), so
   * the exported sources need no link to any of them.
   */
  readonly stagesDataByDigest?: boolean;
  /** Reachability and versions; throws a BackendUnavailable RepriseError when unusable. */
  check(): Promise<BackendCheck>;
  /** Make the image and the run's sources available where the job will run. */
  stage(request: StageRequest): Promise<StagedJob>;
  /** Start the job; idempotent per run id (a repeated submit returns the job already made). */
  submit(job: JobSpec): Promise<JobHandle>;
  /**
   * Submit many staged jobs as one scheduler array (one submission); idempotent per `arrayId`
   * (a repeat returns the same handles, never a second array). Handles are in `jobs` order and
   * each works with status/logs/cancel/collect/cleanup like a single job's handle.
   */
  submitArray?(arrayId: string, jobs: JobSpec[], options: { maxParallel?: number }): Promise<JobHandle[]>;
  /** Throws unless `handle` is one this backend made (handles come back from workflow state, which anyone may forge). */
  checkHandle?(handle: JobHandle): Promise<void>;
  /** What the job is doing, read without changing it (any number of readers may poll it). */
  status(handle: JobHandle): Promise<JobStatus>;
  /**
   * Wait while the job runs: resolves once it may have ended (status() then says), when a step
   * falls due (its time limit), after `timeoutMs`, or when `signal` aborts, whichever comes first;
   * rejects only when the backend cannot be asked. Whoever awaits a running job calls it instead
   * of sleeping between polls, so the end is noticed at once; without it they poll status().
   */
  waitForEnd?(handle: JobHandle, options: { timeoutMs: number; signal?: AbortSignal }): Promise<void>;
  /**
   * Stop a job running past its time limit, for a backend whose scheduler does not (status said
   * `due: 'time-limit'`): status then reports TIMEOUT_EXIT_CODE and timeLimitReason. Leaves a
   * job within its limit, or ended, alone; returns once the job stopped or after a few seconds.
   */
  enforceTimeLimit?(handle: JobHandle): Promise<void>;
  /** Send the run's sources into the job that waits for them (status said `due: 'sources'`); harmless once they are there. */
  shipSources?(handle: JobHandle): Promise<void>;
  /** The job's combined stdout/stderr from the start, following until the job ends. */
  logs(handle: JobHandle): Promise<Readable>;
  /** Stop the job; harmless when it already ended or never started. */
  cancel(handle: JobHandle): Promise<void>;
  /**
   * Bring the job's output/ directory into `destDir` (a local, empty directory): plain files and
   * directories only, within the limits of output-limit.ts; links (at any level, output/ itself
   * included), devices, pipes and names that leave output/ are never followed, left out and named.
   */
  collect(handle: JobHandle, destDir: string, options?: CollectOptions): Promise<Collected>;
  /**
   * A TCP stream to `port` inside the running job (a lab's Jupyter server): through the engine's
   * network, the SSH connection to the login node, or the API server's port-forward. Each call
   * opens a new stream, so a dropped one is replaced by connecting again.
   */
  connect?(handle: JobHandle, port: number): Promise<Duplex>;
  /**
   * What the job used, once it exited (`status` is its final status), when the backend can
   * measure it; undefined when it cannot say. Called before cleanup.
   */
  usage?(handle: JobHandle, status: JobStatus): Promise<JobUsage | undefined>;
  /** Remove what the job left on the backend (containers, staged sources). */
  cleanup(handle: JobHandle): Promise<void>;
  /** Let go of connections held open for later calls (SSH); a short-lived process calls it when done. */
  close?(): void;
}

/** What the activities lend a backend they create. */
export interface BackendHooks {
  /**
   * A local directory with the run's sources, exported again from git: for a backend that
   * still needs them after stage (Kubernetes ships them when the pod starts) on a worker that
   * did not stage the run itself.
   */
  restoreSources?: (runId: string) => Promise<string>;
  /** What staging moved, told by a backend that stages data after stage() (Kubernetes: when the pod starts). */
  onDataStaged?: (runId: string, staged: DataStaged) => void;
}

export interface CollectOptions {
  /**
   * Top-level directories of the job's project to bring back (default ['output']), each with the
   * same rules as output/. `destDir` then receives them by name (destDir/code/…, destDir/output/…);
   * with the default it receives output/'s contents directly, as before.
   */
  paths?: string[];
  /**
   * False for a copy taken while the job goes on (a lab's checkpoint): the job is not told its
   * outputs were taken, so a later final collect still finds everything.
   */
  final?: boolean;
  /**
   * Output files above `threshold` bytes go into the project's data store from where the job
   * ran, when the backend can send them there: each is replaced in `destDir` by its `.dvc`
   * pointer and named in `Collected.stored`. Otherwise they are collected as any file.
   */
  data?: { threshold: number; store: OutputStoreAccess };
}

export interface OutputStoreAccess {
  has(md5s: string[]): Promise<Set<string>>;
  /** A PUT URL for the object that works without credentials for a while, signed for `endpoint` when given. */
  presignPut(md5: string, endpoint?: string): Promise<string>;
  /** A multipart upload of an object above the part size: its id and one presigned UploadPart URL per part. */
  startMultipart(md5: string, size: number, endpoint?: string): Promise<{ uploadId: string; parts: { number: number; start: number; length: number; url: string }[] }>;
  /** Join the parts (their ETags in part order) into the object and check its size. */
  completeMultipart(md5: string, uploadId: string, etags: string[], size: number): Promise<void>;
  /** Drop an unfinished upload and its parts. */
  abortMultipart(md5: string, uploadId: string): Promise<void>;
  /** Aborted when the run is: an upload under way is then aborted, leaving no parts behind. */
  signal?: AbortSignal;
}

export interface Collected {
  skipped: SkippedOutput[];
  /** Outputs sent to the data store instead of collected (project paths, `output/…`): their pointers are in destDir. */
  stored?: DataFile[];
  /** Files were left out for the count or size limits: what is missing here may still exist in the job. */
  incomplete?: boolean;
}

export interface BackendCheck {
  kind: string;
  version: string;
  details: Record<string, string>;
}

export interface StageRequest {
  runId: string;
  image: ImageRef;
  /** A local directory holding the source commit's files, output/ emptied. */
  sourcesDir: string;
  /** Tracked data placed in `sourcesDir` (project paths): the job gets them read-only, as they may be the data cache's own files. */
  readOnly?: string[];
  /** For a backend that `mountsLocalData`: tracked inputs to mount read-only at their project paths from the local data cache (nothing placed in `sourcesDir`). */
  dataMounts?: DataMount[];
  /** Told how an image transfer the stage does (pull, push, upload) is going. */
  onTransfer?: OnTransfer;
  /**
   * The tracked inputs by digest (they are also linked into `sourcesDir`): a backend that keeps
   * a data cache of its own (SLURM) leaves them out of the sources and stages each object there.
   */
  data?: StageData;
  /** Aborted when the run is cancelled: a long stage stops at its next step. */
  signal?: AbortSignal;
}

/** A tracked input file: its project path, the md5 of its object, its size. */
export interface DataFile {
  path: string;
  md5: string;
  size: number;
}

/** A tracked folder: its project path and the md5 of its `.dir` manifest (its files are those of `files` under it). */
export interface DataFolder {
  path: string;
  md5: string;
}

/** Where a backend finds the objects of a run's tracked inputs. */
export interface StageData {
  files: DataFile[];
  /**
   * The tracked folders the files under them belong to: a backend that keeps one tree per folder
   * version (SLURM; Kubernetes with a claim) mounts it instead of linking each file per run.
   * Files under none are single files.
   */
  folders?: DataFolder[];
  /** The local cache's copy of an object: shipped when the cluster cannot fetch it from the store. */
  localObject(md5: string): string;
  /** The project's data store, when it has one. */
  store?: DataStoreAccess;
  /** How staging went, once it is done: what moved and what the backend's cache had already. */
  onStaged?(summary: DataStaged): void;
  /** A line for the run's log when staging took a slower way than it should (a copy for a link). */
  note?(line: string): void;
}

export interface DataStoreAccess {
  /** Which of these objects the store holds. */
  has(md5s: string[]): Promise<Set<string>>;
  /**
   * A GET URL for the object that works without credentials for a while (so no long-lived key
   * lands on a cluster), signed for `endpoint` when the cluster reaches the store at another address.
   */
  presignGet(md5: string, endpoint?: string, expiresInSeconds?: number): Promise<string>;
}

export interface DataStaged {
  /** Objects the cluster fetched from the store itself, and their bytes. */
  fetched: number;
  fetchedBytes: number;
  /** Objects sent from this machine, and their bytes. */
  shipped: number;
  shippedBytes: number;
  /** Objects the backend's cache held already. */
  cached: number;
}

/** What stage() made: where sources and image are, in the backend's own terms. */
export interface StagedJob {
  image: string;
  sources: string;
  /** Project paths the job must see read-only (StageRequest.readOnly), where the backend enforces it. */
  readOnly?: string[];
  /** Tracked inputs mounted read-only from a data cache: the local one (StageRequest.dataMounts) or the cluster's folder trees. */
  mounts?: DataMount[];
}

export type { DataMount } from '../data/trees.js';

export interface JobSpec {
  runId: string;
  command: string[];
  /** Where in the project the command starts: a relative POSIX path, '' or absent for the root. */
  workdir?: string;
  env: Record<string, string>;
  resources: Resources;
  staged: StagedJob;
  /**
   * Files the job sees read-only at /run/secrets/<name> (SECRETS_MOUNT): the project's secrets
   * and a lab's token. Their content never goes into a batch script, a pod spec, an environment
   * variable or a handle; each backend removes its copy at cleanup.
   */
  secrets?: JobSecret[];
}

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export interface JobHandle {
  kind: string;
  runId: string;
  /** The backend's own id for the job (container id, SLURM job id, Kubernetes job name). */
  jobId: string;
  [key: string]: JsonValue;
}

export type JobPhase = 'pending' | 'running' | 'exited' | 'lost';

/**
 * A step the job waits for from the caller, as status() found it: `time-limit`, it runs past its
 * time limit (Backend.enforceTimeLimit stops it); `sources`, its pod's init container waits for
 * the run's sources (Backend.shipSources sends them, or finds them arrived a moment ago).
 */
export type DueStep = 'time-limit' | 'sources';

export interface JobStatus {
  phase: JobPhase;
  exitCode?: number;
  /**
   * Set when the exit code alone does not tell why the job ended (time limit, OOM kill); while
   * pending, why the job waits, in the scheduler's words.
   */
  reason?: string;
  /** Pending, and the scheduler says it can never start (no node can satisfy the request). */
  never?: boolean;
  /** With `never`: the cluster's admission refuses to create the job's pod (Pod Security, a quota, a LimitRange). */
  refused?: boolean;
  /** With `never`: the backend's own settings keep the job from starting (a volume it names does not exist); `reason` says which and how to fix it. */
  misconfigured?: boolean;
  /** Set when the job goes on only once the caller takes this step (see DueStep). */
  due?: DueStep;
  startedAt?: string;
  finishedAt?: string;
  /** Exited: what the scheduler gave the job, in its own terms (SLURM's allocated TRES, the pod's limits), when it says. */
  granted?: Record<string, string>;
}

/** Where every backend puts the run's project directory inside the container. */
export const PROJECT_MOUNT = '/project';

/** The directory the job's command starts in, inside the container. */
export const jobWorkdir = (job: Pick<JobSpec, 'workdir'>) => (job.workdir ? `${PROJECT_MOUNT}/${job.workdir}` : PROJECT_MOUNT);

/** The exit code a run reports when it hits its time limit, whatever the backend (as timeout(1)). */
export const TIMEOUT_EXIT_CODE = 124;

/** A job's command started more than its time limit ago (for a backend that enforces the limit itself). */
export const pastTimeLimit = (timeSeconds: number | null | undefined, startedAt: Date | string | undefined) =>
  Boolean(timeSeconds && startedAt && Date.now() - new Date(startedAt).getTime() > timeSeconds * 1000);

/** Why a job ended, in the same words on every backend. `limit` as formatDuration writes it. */
export const timeLimitReason = (limit: string) => `time limit ${limit} exceeded`;
export const OOM_REASON = 'killed: out of memory';
