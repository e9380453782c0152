import { createHash } from 'node:crypto';
import { notFound } from '../errors.js';

/** The record of one run: the JSON file and the commit message trailers (a contract). */
export const runStates = ['queued', 'preparing', 'submitted', 'running', 'collecting', 'succeeded', 'failed', 'cancelled', 'reused'] as const;
export type RunState = (typeof runStates)[number];
/** reused: not executed; an identical run's outputs were recorded instead (project/run-key.ts). */
export type FinalState = Extract<RunState, 'succeeded' | 'failed' | 'cancelled' | 'reused'>;
export const isFinal = (s: RunState): s is FinalState => s === 'succeeded' || s === 'failed' || s === 'cancelled' || s === 'reused';
/** A run whose outputs are what its command gives: executed and succeeded, or reused from such a run. */
export const isSuccess = (s: string): boolean => s === 'succeeded' || s === 'reused';

export interface FileDigest {
  path: string;
  sha256: string;
  size: number;
}

/** A tracked data path by content (src/data): DVC's md5, the size in bytes. */
export interface DataRef {
  path: string;
  md5: string;
  size: number;
}

/** The tracked data a run read (its source commit's pointers) and the large outputs it wrote into the cache. */
export interface RunData {
  inputs: DataRef[];
  outputs: DataRef[];
  /**
   * Large outputs the project's data store could not take when the run ended (unreachable,
   * credentials refused): they stayed in the local cache, and `sync` or `data push` sends them.
   * Absent when they went to the store, or when the project has no data remote.
   */
  unsent?: UnsentOutputs;
}

export interface UnsentOutputs {
  /** The store's s3:// URL. */
  store: string;
  /** Why, in the store client's one line. */
  reason: string;
  /** Their `output/…` paths. */
  paths: string[];
}

/** The `Reprise-Data` trailer: sha256 of the record's data list as JSON. */
export const dataDigest = (data: RunData): string => `sha256:${createHash('sha256').update(JSON.stringify(data)).digest('hex')}`;

export interface TimelineEntry {
  state: 'queued' | 'submitted' | 'pending' | 'running' | 'exited' | 'collected' | 'recorded';
  at: string;
  /** pending: why the job waits, in the scheduler's words. */
  reason?: string;
}

/**
 * What a job used, as its backend measured it. Core-hours are what the job held: the cores
 * allocated × wall time where the backend allocates cores (SLURM, a pod's requests), the CPU
 * time the job's processes used where nothing is reserved (Docker).
 */
export interface ResourcesUsed {
  /** The job's running time, from its start to its end. */
  wallSeconds: number;
  /** CPU time its processes used (user + system), when the backend measures it. */
  cpuSeconds?: number;
  coreHours?: number;
  /** Only for a job that was given GPUs. */
  gpuHours?: number;
  /** The most memory the job held at once, when the backend measures it. */
  peakMemoryBytes?: number;
  /** Where the figures come from ("sacct", "pod requests", "docker stats"). */
  source: string;
}

export interface RunRecord {
  version: 1;
  runId: string;
  project: { name: string; id: string };
  command: string[];
  /** Where in the project the command started, when not at the root (relative POSIX path). */
  workdir?: string;
  state: FinalState;
  exitCode: number;
  /** Why the run ended that way when the exit code alone does not say (time limit, cancel). */
  reason?: string;
  backend: { name: string; kind: string; jobId?: string };
  sourceCommit: string;
  /** digest: the local image id; reference: where any machine pulls it, when pushed. */
  image: { digest: string; tag?: string; reference?: string };
  environment: string;
  /** The image's environment lock, committed with the record (absent in runs recorded before locks). */
  environmentLock?: { path: string; sha256: string };
  resources: { cpus?: number; memoryBytes?: number; gpus?: number; gpuType?: string; timeSeconds?: number };
  /**
   * What the scheduler granted a run that asked for GPUs, in its own terms: SLURM's allocated
   * TRES (`gres/gpu:a100` → "1", from sacct AllocTRES), the pod's limits on Kubernetes.
   */
  granted?: Record<string, string>;
  /**
   * What the job used, as its backend measured it (absent where the backend cannot say, and in
   * runs recorded before it): wall time, CPU time, core-hours (cores held × wall time where the
   * backend reserves cores, else CPU time used), GPU-hours, peak memory, and where they come from.
   */
  used?: ResourcesUsed;
  startedAt: string;
  finishedAt: string;
  rerunOf?: string;
  /** The run key (project/run-key.ts); absent in runs recorded before keys. */
  key?: string;
  /** A reused run: the run whose outputs it records (it executed nothing). */
  reusedFrom?: string;
  /** Team mode: the identity of the worker that executed and published the run. */
  worker?: string;
  /** A point of a sweep: the sweep, the point's index and its parameter values. */
  sweep?: { id: string; index: number; params: Record<string, string> };
  /** Run on a pool: where it was placed, in order, and why it moved on; the last entry is where it ran. */
  placement?: { pool: string; trail: { backend: string; jobId?: string; outcome: string; reason?: string; at: string }[] };
  outputs: FileDigest[];
  /** Tracked data read and large outputs written (absent in runs recorded before datasets). */
  data?: RunData;
  /**
   * When the run passed each state, oldest first: queued, submitted, pending (each reason the
   * scheduler gave), running, exited, collected, recorded (absent in runs recorded before it).
   */
  timeline?: TimelineEntry[];
  /** What the job left in output/ that is not collected (links, devices, pipes), and why. */
  skippedOutputs?: { path: string; why: string }[];
  /** The project secrets the job saw at /run/secrets/ (names only, never their content). */
  secrets?: string[];
  log: FileDigest;
}

export const shortId = (runId: string) => runId.replace(/^run-/, '').slice(0, 8);

/**
 * The one id among `ids` that `idOrPrefix` names (a full id, or a prefix with or without its
 * kind's "run-", "sweep-" or "lab-"); undefined when none does. An ambiguous prefix is a user
 * error (exit 2). `things` names what matched in that error ("runs", "sessions").
 */
export function matchId(ids: Iterable<string>, idOrPrefix: string, kind: 'run' | 'sweep' | 'lab', things = `${kind}s`): string | undefined {
  const all = [...new Set(ids)];
  if (all.includes(idOrPrefix)) return idOrPrefix;
  const wanted = idOrPrefix.startsWith(`${kind}-`) ? idOrPrefix : `${kind}-${idOrPrefix}`;
  const hits = all.filter((id) => id.startsWith(wanted));
  if (hits.length > 1) throw notFound(`${kind} id "${idOrPrefix}" is ambiguous (${hits.length} ${things} match); give more characters`);
  return hits[0];
}

export const matchRunId = (ids: Iterable<string>, idOrPrefix: string) => matchId(ids, idOrPrefix, 'run');

export function commitMessage(r: RunRecord): string {
  let cmd = r.command.join(' ').replace(/\s+/g, ' ');
  if (cmd.length > 60) cmd = `${cmd.slice(0, 57)}...`;
  const trailers: [string, string | number | undefined][] = [
    ['Reprise-Run', r.runId],
    ['Reprise-State', r.state],
    ['Reprise-Backend', `${r.backend.name} (${r.backend.kind})`],
    ['Reprise-Command', JSON.stringify(r.command)],
    ['Reprise-Workdir', r.workdir || undefined],
    ['Reprise-Source-Commit', r.sourceCommit],
    ['Reprise-Image', r.image.digest],
    ['Reprise-Image-Ref', r.image.reference],
    ['Reprise-Environment', r.environment],
    ['Reprise-Exit-Code', r.exitCode],
    ['Reprise-Started', r.startedAt],
    ['Reprise-Finished', r.finishedAt],
    ['Reprise-Rerun-Of', r.rerunOf],
    ['Reprise-Reused-From', r.reusedFrom],
    ['Reprise-Key', r.key],
    ['Reprise-Worker', r.worker],
    ['Reprise-Sweep', r.sweep?.id],
    ['Reprise-Sweep-Point', r.sweep ? `${r.sweep.index} ${JSON.stringify(r.sweep.params)}` : undefined],
    ['Reprise-Placement', r.placement ? placementText(r.placement) : undefined],
    ['Reprise-Data', r.data ? dataDigest(r.data) : undefined],
  ];
  const body = trailers.filter(([, v]) => v !== undefined).map(([k, v]) => `${k}: ${v}`);
  const why = r.reason ? `\n${r.reason}\n` : '';
  return `run ${shortId(r.runId)}: ${cmd} [${r.state}]\n${why}\n${body.join('\n')}\n`;
}

/** "burst: hpc withdrawn (pending 20s: Resources) → k8s ran" */
export function placementText(p: NonNullable<RunRecord['placement']>): string {
  return `${p.pool}: ${p.trail.map((t) => `${t.backend} ${t.outcome}${t.reason ? ` (${t.reason.replace(/\s+/g, ' ')})` : ''}`).join(' → ')}`;
}

/** Parse "Key: value" trailer lines (as `git log --format=%(trailers:only,unfold)` prints them). */
export function parseTrailers(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z0-9-]+):\s?(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

/** One entry of the activity feed, read from a commit's trailers alone. */
export interface FeedEntry {
  commit: string;
  subject: string;
  runId: string;
  state: string;
  backend: string;
  command: string[];
  /** Where in the project the command started, when not at the root. */
  workdir?: string;
  sourceCommit: string;
  image: string;
  environment: string;
  exitCode: number;
  startedAt: string;
  finishedAt: string;
  rerunOf?: string;
  /** A reused run: the run whose outputs it records. */
  reusedFrom?: string;
  key?: string;
  /** The sweep this run is a point of. */
  sweep?: string;
}

export function feedEntryFromTrailers(commit: string, subject: string, t: Record<string, string>): FeedEntry | undefined {
  if (!t['Reprise-Run']) return undefined;
  let command: string[] = [];
  try {
    command = JSON.parse(t['Reprise-Command'] ?? '[]') as string[];
  } catch {
    /* a hand-edited trailer; keep the entry */
  }
  return {
    commit,
    subject,
    runId: t['Reprise-Run'],
    state: t['Reprise-State'] ?? 'unknown',
    backend: t['Reprise-Backend'] ?? '',
    command,
    workdir: t['Reprise-Workdir'],
    sourceCommit: t['Reprise-Source-Commit'] ?? '',
    image: t['Reprise-Image'] ?? '',
    environment: t['Reprise-Environment'] ?? '',
    exitCode: Number(t['Reprise-Exit-Code'] ?? NaN),
    startedAt: t['Reprise-Started'] ?? '',
    finishedAt: t['Reprise-Finished'] ?? '',
    rerunOf: t['Reprise-Rerun-Of'],
    reusedFrom: t['Reprise-Reused-From'],
    key: t['Reprise-Key'],
    sweep: t['Reprise-Sweep'],
  };
}
