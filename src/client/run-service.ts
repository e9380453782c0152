import type { AwaitDetails, RunInput, RunResult } from '../activities/types.js';
import type { RepriseEnv } from '../config/env.js';

/** What the server knows of a run between its events: awaitJob's last heartbeat, whether it closed. */
export interface RunDetails {
  details?: AwaitDetails;
  closed: boolean;
  teamBranch?: string;
}

/**
 * What starting, following and cancelling one run needs. Two implementations: the Temporal
 * client (runs.ts), and the local agent's socket (agent-socket.ts), which spares a CLI the
 * loading of the Temporal SDK and a TLS connection.
 */
export interface RunService {
  readonly env: RepriseEnv;
  start(input: RunInput, projectId: string): Promise<unknown>;
  /** The run's result; rejects with the user's error (RepriseError) when its workflow failed. `signal` gives up waiting. */
  result(runId: string, signal?: AbortSignal): Promise<RunResult>;
  awaitDetails(runId: string): Promise<RunDetails>;
  cancel(runId: string): Promise<void>;
  close(): Promise<void>;
}
