/**
 * Plain-JSON shapes shared by the workflow and its activities. Workflows import this file
 * (types only); it must not import anything with side effects.
 */
import type { Resources } from '../config/resources.js';
import type { JobHandle, JobStatus } from '../backends/types.js';
import type { FinalState, RunState } from '../project/run-record.js';

export interface RunInput {
  runId: string;
  projectRoot: string;
  /** A backend name from the worker's user config. */
  backend: string;
  command: string[];
  /** Where in the project the command starts (relative POSIX path; '' or absent: the root). */
  workdir?: string;
  resources: Resources;
  /** Set for reruns: execute exactly this recorded source and image. */
  rerun?: { runId: string; sourceCommit: string; imageDigest: string; imageReference?: string };
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
}

export interface FinishInput {
  input: RunInput;
  sources: PreparedSources;
  image: PreparedImage;
  handle?: JobHandle;
  status: JobStatus;
  state: FinalState;
}

export interface RunProgress {
  runId: string;
  state: RunState;
  backend: string;
  command: string[];
  sourceCommit?: string;
  image?: PreparedImage;
  handle?: JobHandle;
  exitCode?: number;
  reason?: string;
  commit?: string;
}

export interface RunResult {
  runId: string;
  state: FinalState;
  exitCode: number;
  reason?: string;
  commit: string;
}

/** Files an agent keeps per run under $REPRISE_HOME/runs/<id>/ (see runFiles). */
export const BUILD_LOG = 'build.log';
export const JOB_LOG = 'job.log';
/** Progress of image transfers (push, pull, upload) while the run prepares; see images/transfer-progress.ts. */
export const TRANSFER_LOG = 'transfer.log';
