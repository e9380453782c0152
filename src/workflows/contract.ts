/**
 * What the workflows, the activities and the clients agree on, in one place: workflow names and
 * the shapes they take and return, their queries and signals, and the activity options each kind
 * of step runs with. Only definitions here (no workflow code), so the CLI, the worker's
 * activities and the workflow bundle can all import it.
 */
import type { ActivityOptions, LocalActivityOptions, QueryDefinition, SignalDefinition } from '@temporalio/common';
import type { EndedEvent, LabProgress, LabResult, NotifyOutcome, RunInput, RunProgress, RunResult, SweepInput, SweepProgress, SweepResult } from '../activities/types.js';

/** Workflow type names (changing one orphans every running workflow of that type). */
export const RUN_WORKFLOW = 'runProject';
export const SWEEP_WORKFLOW = 'sweepProject';
export const SLOTS_WORKFLOW = 'backendSlots';
export const LAB_WORKFLOW = 'labSession';
export const NOTIFY_WORKFLOW = 'notifyEnded';

/** The workflows' signatures, for typed starts: `client.workflow.start<RunWorkflow>(RUN_WORKFLOW, …)`. */
export type RunWorkflow = (input: RunInput) => Promise<RunResult>;
export type SweepWorkflow = (input: SweepInput) => Promise<SweepResult>;
export type LabWorkflow = (input: RunInput) => Promise<LabResult>;
export type SlotsWorkflow = (state: SlotsState) => Promise<void>;
export type NotifyWorkflow = (event: EndedEvent) => Promise<NotifyOutcome[]>;

/** The workflow that holds a limited backend's slots, one per backend across every project. */
export const slotsWorkflowId = (backend: string) => `reprise-slots-${backend}`;
/** The child that announces a run's, sweep's or lab's end. */
export const notifyWorkflowId = (id: string) => `${id}.notify`;

/** Who holds a limited backend's slots and who waits for one. */
export interface SlotsState {
  backend: string;
  limit: number;
  holders: string[];
  waiting: string[];
}

// What defineQuery/defineSignal return, written out: importing @temporalio/workflow for them would
// load the workflow runtime into every CLI command that starts or queries a workflow.
const query = <T>(name: string) => ({ type: 'query', name }) as QueryDefinition<T>;
const signal = <Args extends unknown[]>(name: string) => ({ type: 'signal', name }) as SignalDefinition<Args>;

export const progressQuery = query<RunProgress>('progress');
export const sweepProgressQuery = query<SweepProgress>('sweepProgress');
export const labProgressQuery = query<LabProgress>('labProgress');
export const slotsQuery = query<SlotsState>('slots');
/** A run asks the slot holder for a slot on a limited backend… */
export const acquireSignal = signal<[{ holder: string; limit: number }]>('acquireSlot');
/** …gives it back (by workflow id)… */
export const releaseSignal = signal<[string]>('releaseSlot');
/** …and is told when it has one (by backend name). */
export const grantSignal = signal<[string]>('slotGranted');

// Which failures are final is decided in one place, the activities' guard(): the user's errors at
// once; an unreachable backend before the job may exist at once, after that it is waited out.
// These policies only pace the retries of what guard() leaves retryable.
const retry = { initialInterval: '1s', maximumInterval: '30s', backoffCoefficient: 2 } as const;

/**
 * The activity options of each kind of step, for every workflow. Short steps (git, one engine or
 * scheduler call) run as local activities: no server round trip each. Long steps heartbeat, so a
 * dead worker is noticed and the step retried elsewhere.
 */
export const steps = {
  /** Checks, snapshots, finding the image. */
  prep: { startToCloseTimeout: '2m', retry: { ...retry, maximumAttempts: 5 } },
  /** Staging and submitting a job (a sweep's array of many points among them). */
  submitting: { startToCloseTimeout: '5m', retry: { ...retry, maximumAttempts: 10 } },
  /** Collecting, recording, cancelling. */
  finishing: { startToCloseTimeout: '5m', retry },
  /** Questions to Temporal about other workflows (slot holders). */
  lookup: { startToCloseTimeout: '1m', retry: { maximumAttempts: 3 } },
  /** Which notifiers hear an end. */
  notifiers: { startToCloseTimeout: '30s', retry: { maximumAttempts: 3 } },
} as const satisfies Record<string, LocalActivityOptions>;

export const longSteps = {
  /** Image builds and pushes. */
  build: { startToCloseTimeout: '4h', heartbeatTimeout: '2m', retry: { ...retry, maximumAttempts: 3 } },
  /** Moving images and sources to a backend. */
  transfer: { startToCloseTimeout: '4h', heartbeatTimeout: '2m', retry },
  /** A lab checkpoint copies its files back; committing is idempotent per checkpoint number. */
  checkpoint: { startToCloseTimeout: '1h', heartbeatTimeout: '2m', retry },
  /**
   * Waiting on a job has no deadline of its own (the job's time limit is the backend's business):
   * the heartbeat notices a dead worker, and retries re-attach to the same job.
   */
  waiting: { startToCloseTimeout: '3650d', heartbeatTimeout: '10s', retry },
  /**
   * A notice is news, not a record: retried with backoff for at most five minutes, then given up;
   * the heartbeat notices a worker killed mid-send, so another attempt follows soon.
   */
  delivery: { startToCloseTimeout: '1m', heartbeatTimeout: '10s', scheduleToCloseTimeout: '5m', retry },
} as const satisfies Record<string, ActivityOptions>;
