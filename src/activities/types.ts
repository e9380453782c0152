/**
 * Plain-JSON shapes shared by the workflow and its activities. Workflows import this file
 * (types only); it must not import anything with side effects.
 */
import type { Resources } from '../config/resources.js';
import type { JobHandle, JobStatus, JobUsage } from '../backends/types.js';
import type { FinalState, RunState, UnsentOutputs } from '../project/run-record.js';
import type { SkippedOutput } from '../project/tar-members.js';
import type { SweepPointResult } from '../project/sweep-record.js';
import type { LabAppName } from '../lab/apps/types.js';

export type { SweepPointResult };

export interface RunInput {
  runId: string;
  /** The project directory on the machine that started the run ('' in team mode: workers use `team`). */
  projectRoot: string;
  /** A backend name from the worker's user config. */
  backend: string;
  command: string[];
  /** Where in the project the command starts (relative POSIX path; '' or absent: the root). */
  workdir?: string;
  resources: Resources;
  /** Set for reruns: execute exactly this recorded source and image. */
  rerun?: { runId: string; sourceCommit: string; imageDigest: string; imageReference?: string };
  /**
   * Team mode: the worker reaches the project through its git remote (the source commit is on
   * `branch` there) and publishes the record to it; the image was built and pushed by the client.
   */
  team?: TeamRun;
  /** A point of a sweep: the sweep prepared the sources and the image once for all its points. */
  sweep?: SweepPointRef;
  prepared?: { sources: PreparedSources; image: PreparedImage };
  /** On a pool: the member tried first is `placementStart` modulo the members (a sweep spreads its points). */
  placementStart?: number;
  /** An element of a job array its sweep submitted (with `prepared`): the run only awaits, collects and records it. */
  attached?: { handle: JobHandle };
  /** A lab session (workflows/lab.ts): its Jupyter server listens on `port` inside the job. */
  lab?: LabOptions;
  /** Record a succeeded run with the same key (project/run-key.ts) instead of executing, when there is one. */
  reuse?: boolean;
}

export interface LabOptions {
  port: number;
  /** How often the session's files and executions are brought back and committed. */
  checkpointSeconds: number;
  /** The app it opens (src/lab/apps/); absent: JupyterLab, as sessions started before apps were. */
  app?: LabAppName;
}

export type LabPhase = 'preparing' | 'building' | 'starting' | 'running' | 'stopping' | 'stopped' | 'timed out' | 'failed';

export interface LabProgress {
  labId: string;
  state: LabPhase;
  backend: string;
  port: number;
  /** The app the session opens (absent: JupyterLab). */
  app?: LabAppName;
  sourceCommit?: string;
  image?: PreparedImage;
  labImage?: PreparedImage;
  handle?: JobHandle;
  checkpoints: number;
  executions: number;
  lastCommit?: string;
  /** Changed in the lab, committed, but not written to the working tree: the user has edits there. */
  notWritten: string[];
  reason?: string;
}

export interface LabResult {
  labId: string;
  state: 'stopped' | 'timed out' | 'failed';
  reason?: string;
  exitCode?: number;
  checkpoints: number;
  executions: number;
  commit?: string;
  notWritten: string[];
}

export interface LabCheckpointOutcome {
  /** The number of the last checkpoint committed (unchanged when nothing was new). */
  checkpoint: number;
  commit?: string;
  executions: number;
  files: number;
  notWritten: string[];
}

export interface SweepPointRef {
  sweepId: string;
  index: number;
  params: Record<string, string>;
}

/** Where a run was placed on a pool, in order; the last entry is where it ran. */
export interface Placement {
  backend: string;
  jobId?: string;
  outcome: 'ran' | 'withdrawn' | 'failed';
  /** Why the run left this member (still pending after the wait, can never start), in the scheduler's words. */
  reason?: string;
  at: string;
}

/** How a run's backend name resolves: one backend, or a pool's members in order. */
export interface Target {
  pool?: string;
  members: string[];
  /** A pool's maximum wait for a job to start before it moves on. */
  maxQueueWaitSeconds?: number;
}

export interface SweepPoint {
  index: number;
  params: Record<string, string>;
  command: string[];
}

export interface SweepInput {
  sweepId: string;
  projectRoot: string;
  projectId: string;
  backend: string;
  /** The command with its {placeholders}, as the user wrote it, and the whole grid. */
  template: string[];
  params: Record<string, string[]>;
  workdir?: string;
  resources: Resources;
  points: SweepPoint[];
  /** At most this many of the sweep's points at once (the backend's own maxParallel holds too). */
  maxParallel?: number;
  /** Submit every point as one job array (a backend that has them: SLURM). */
  array?: boolean;
  /** Points whose key a succeeded run has are reused, not run. */
  reuse?: boolean;
  /** A retry: the sweep it retries, the points carried over as they were, and the recorded source and image. */
  retry?: { of: string; kept: SweepPointResult[]; sources: PreparedSources; image: PreparedImage };
}


export interface SweepResult {
  sweepId: string;
  state: FinalState;
  points: SweepPointResult[];
  commit: string;
}

export interface SweepProgress {
  sweepId: string;
  state: 'preparing' | 'running' | 'recording' | FinalState;
  backend: string;
  total: number;
  points: SweepPointResult[];
}

export interface TeamRun {
  /** The remote's URL as the submitting clone names it; workers may rewrite it with git's `url.<base>.insteadOf`. */
  remote: string;
  /** refs/heads/<name> on the remote: where the run is recorded. */
  branch: string;
  sourceCommit: string;
  /** The image by registry digest (a team run always has `reference`). */
  image: PreparedImage;
  /** The image's environment lock, captured where it was built (workers need no Docker to record it). */
  lock?: string;
}

export interface PreparedSources {
  sourceCommit: string;
  swept: boolean;
  /** The ref HEAD pointed at when the run started: the run is recorded there (absent in runs from before). */
  branch?: string;
}

export interface PreparedImage {
  digest: string;
  tag?: string;
  /** `<registry>/<repo>@sha256:…` once pushed to the user's registry. */
  reference?: string;
  environment: string;
  reused: boolean;
  /** Found or built, still to be pushed to the user's registry (publishImage): absent without a registry. */
  unpublished?: true;
}

/** What awaitJob heartbeats: the job's phase and the tail of its output (see client/follow.ts). */
export interface AwaitDetails {
  phase: string;
  /** While pending: why the job waits, in the scheduler's words. */
  waiting?: string;
  log?: LogWindow;
}

/** The last bytes of a job's output: `end` is the byte offset after them, `tail` them in base64. */
export interface LogWindow {
  end: number;
  tail: string;
}

export interface FinishInput {
  input: RunInput;
  sources: PreparedSources;
  image: PreparedImage;
  handle?: JobHandle;
  status: JobStatus;
  state: FinalState;
  /** Outputs the collect left out (links, devices, …), named in the record. */
  skippedOutputs?: SkippedOutput[];
  /** On a pool: every placement tried, the last one where the run ran. */
  placement?: { pool: string; trail: Placement[] };
  /** A reused run: the run whose outputs and log it records, and the key they share (known: not computed again). */
  reusedFrom?: string;
  key?: string;
  /** When the workflow saw the run queued, submitted and collected (workflow time), for the record's timeline. */
  times?: { queuedAt: string; submittedAt: string; collectedAt: string };
}

/** awaitJob's answer: the job's end, each reason it waited for (the record's timeline), and what it used when its backend says. */
export type AwaitedStatus = JobStatus & { waited?: { at: string; reason: string }[]; used?: JobUsage };

export interface RunProgress {
  runId: string;
  state: RunState;
  backend: string;
  command: string[];
  sourceCommit?: string;
  image?: PreparedImage;
  handle?: JobHandle;
  /** On a pool: the placements so far. */
  placements?: Placement[];
  exitCode?: number;
  reason?: string;
  commit?: string;
  reusedFrom?: string;
}

/** A record commit; `recoveredBranch` when the run's branch was deleted while it ran (then recorded on one named after the run). */
export interface RecordedRun {
  commit: string;
  recoveredBranch?: string;
}

export interface RunResult {
  runId: string;
  state: FinalState;
  exitCode: number;
  reason?: string;
  commit: string;
  /** The branch the run was recorded on because its own was deleted while it ran. */
  recoveredBranch?: string;
  /** Where the job ran (a pool's member; absent in results from before pools). */
  backend?: string;
  /** Outputs left out of the record (links, devices, …). */
  skippedOutputs?: SkippedOutput[];
  /** Large outputs the data store could not take when the run ended: only in the local cache. */
  unsentOutputs?: UnsentOutputs;
  /** A reused run: the run whose outputs it records. */
  reusedFrom?: string;
}

/**
 * A run, sweep or lab that ended and is recorded in `commit`: the notify workflow reads that
 * record (never trusting more of its input) and tells the worker's notifiers.
 */
export interface EndedEvent {
  kind: 'run' | 'sweep' | 'lab';
  id: string;
  commit: string;
  /** The project the record is in ('' in team mode: the worker reaches it through `team`). */
  projectRoot: string;
  team?: TeamRun;
}

/** What became of one notifier's message; `answer` is the receiver's, or why it was not sent. */
export interface NotifyOutcome {
  notifier: string;
  result: 'sent' | 'sent before' | 'filtered out' | 'refused';
  answer?: string;
}
