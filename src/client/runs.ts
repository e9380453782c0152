import { Client, Connection, WorkflowFailedError, WorkflowNotFoundError, type WorkflowHandle } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure, CancelledFailure, defaultPayloadConverter, type QueryDefinition } from '@temporalio/common';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AwaitDetails, RunInput, RunProgress, RunResult, SweepInput, SweepProgress, SweepResult } from '../activities/types.js';
import { RUN_WORKFLOW, SWEEP_WORKFLOW, progressQuery, sweepProgressQuery, type RunWorkflow, type SweepWorkflow } from '../workflows/contract.js';
import { backendQueue, paths, type RepriseEnv } from '../config/env.js';
import { ErrorKind, RepriseError, isErrorKind, notFound } from '../errors.js';
import { agentAddress, connectTemporal, ensureAgent } from './agent.js';
import { readFeed } from '../project/history.js';
import type { Project } from '../project/layout.js';
import type { RunDetails, RunService } from './run-service.js';

export const WORKFLOW_TYPE = RUN_WORKFLOW;

export class RunClient implements RunService {
  private constructor(
    readonly env: RepriseEnv,
    readonly client: Client,
    private readonly connection: Connection,
  ) {}

  /** Connect, starting the agent first when `start` is set. */
  static async connect(env: RepriseEnv, options: { start: boolean }): Promise<RunClient> {
    // Team mode never starts a local agent: the team's workers run everything.
    if (options.start && !env.team) {
      const { connection } = await ensureAgent(env);
      return new RunClient(env, new Client({ connection, namespace: env.temporalNamespace }), connection);
    }
    const address = agentAddress(env);
    let connection: Connection;
    try {
      connection = await connectTemporal(env, 5000);
    } catch (err) {
      if (err instanceof RepriseError) throw err; // bad TLS settings: exit 2 as they are
      throw new RepriseError(ErrorKind.backendUnavailable, `cannot reach Temporal at ${address}; start the agent with: reprise agent start`, { cause: err });
    }
    return new RunClient(env, new Client({ connection, namespace: env.temporalNamespace }), connection);
  }

  async close(): Promise<void> {
    await this.connection.close();
  }

  async start(input: RunInput, projectId: string): Promise<WorkflowHandle> {
    return this.client.workflow.start<RunWorkflow>(WORKFLOW_TYPE, {
      workflowId: input.runId,
      // Team runs go to the queue only workers holding the backend's credentials poll.
      taskQueue: input.team ? backendQueue(this.env, input.backend) : this.env.taskQueue,
      args: [input],
      memo: {
        projectRoot: input.projectRoot,
        projectId,
        command: input.command,
        backend: input.backend,
        ...(input.workdir ? { workdir: input.workdir } : {}),
        // The Team view names a live run's person by its source commit's author.
        ...(input.team ? { teamBranch: input.team.branch, sourceCommit: input.team.sourceCommit } : {}),
      },
    });
  }

  /** A sweep: one workflow whose children are its points' runs (workflows/sweep.ts). */
  async startSweep(input: SweepInput): Promise<WorkflowHandle> {
    return this.client.workflow.start<SweepWorkflow>(SWEEP_WORKFLOW, {
      workflowId: input.sweepId,
      taskQueue: this.env.taskQueue,
      args: [input],
      memo: { projectRoot: input.projectRoot, projectId: input.projectId, command: input.template, backend: input.backend, kind: 'sweep' },
    });
  }

  /** A sweep's points so far, or undefined when Temporal does not know it. */
  sweepProgress(sweepId: string): Promise<SweepProgress | undefined> {
    return this.query(sweepId, sweepProgressQuery);
  }

  async sweepResult(sweepId: string): Promise<SweepResult> {
    try {
      return (await this.handle(sweepId).result()) as SweepResult;
    } catch (err) {
      throw toRepriseError(err);
    }
  }

  /** The Temporal connection (team mode asks it which workers poll a queue). */
  get temporal(): Connection {
    return this.connection;
  }

  /**
   * What the run's awaitJob last heartbeated (phase and output tail), read from the server's
   * view of the pending activity: never part of the workflow's history.
   */
  async awaitDetails(runId: string): Promise<RunDetails> {
    const res = await this.connection.workflowService.describeWorkflowExecution({ namespace: this.env.temporalNamespace, execution: { workflowId: runId } });
    // awaitStart: a run on a pool, waiting to start on a member.
    const pending = res.pendingActivities?.find((a) => a.activityType?.name === 'awaitJob' || a.activityType?.name === 'awaitStart');
    const payload = pending?.heartbeatDetails?.payloads?.[0];
    const memo = res.workflowExecutionInfo?.memo?.fields?.teamBranch;
    return {
      details: payload ? defaultPayloadConverter.fromPayload<AwaitDetails>(payload) : undefined,
      closed: Boolean(res.workflowExecutionInfo?.closeTime),
      teamBranch: memo ? defaultPayloadConverter.fromPayload<string>(memo) : undefined,
    };
  }

  handle(runId: string): WorkflowHandle {
    return this.client.workflow.getHandle(runId);
  }

  /** The live progress of a run, or undefined when Temporal does not know it. */
  progress(runId: string): Promise<RunProgress | undefined> {
    return this.query(runId, progressQuery);
  }

  /** A workflow's answer to a query of the contract, or undefined when Temporal does not know the workflow. */
  async query<T>(workflowId: string, query: QueryDefinition<T>): Promise<T | undefined> {
    try {
      return await this.handle(workflowId).query(query);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    }
  }

  async result(runId: string, signal?: AbortSignal): Promise<RunResult> {
    try {
      const result = () => this.handle(runId).result() as Promise<RunResult>;
      return await (signal ? this.client.withAbortSignal(signal, result) : result());
    } catch (err) {
      throw toRepriseError(err);
    }
  }

  async cancel(runId: string): Promise<void> {
    try {
      await this.handle(runId).cancel();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw notFound(`no run "${runId}" is known to the agent; list runs with: reprise runs`);
      throw err;
    }
  }

  /**
   * Runs of one project with their state: live runs answer the progress query; closed ones
   * are read from their record (a query on a closed workflow would replay its whole history).
   */
  async listWithState(project: Project, limit = 50): Promise<(RunSummary & { state: string; waiting?: string })[]> {
    const recorded = new Map((await readFeed(project.root)).map((e) => [e.runId, e.state]));
    return Promise.all(
      (await this.list(project.spec.id, limit)).map(async (r) => {
        if (r.status !== 'RUNNING') return { ...r, state: recorded.get(r.runId) ?? r.status.toLowerCase() };
        const [progress, seen] = await Promise.all([this.progress(r.runId).catch(() => undefined), this.awaitDetails(r.runId).catch(() => undefined)]);
        const waiting = seen?.details?.waiting;
        return { ...r, state: progress?.state ?? 'running', ...(waiting ? { waiting } : {}) };
      }),
    );
  }

  /** Runs of one project known to Temporal, newest first. */
  async list(projectId: string, limit = 50): Promise<RunSummary[]> {
    const out: RunSummary[] = [];
    for await (const wf of this.client.workflow.list({ query: `WorkflowType = '${WORKFLOW_TYPE}'` })) {
      if (wf.memo?.projectId !== projectId) continue;
      out.push({
        runId: wf.workflowId,
        status: wf.status.name,
        startTime: wf.startTime.toISOString(),
        closeTime: wf.closeTime?.toISOString(),
        command: (wf.memo?.command as string[] | undefined) ?? [],
        backend: String(wf.memo?.backend ?? ''),
        workdir: typeof wf.memo?.workdir === 'string' ? wf.memo.workdir : undefined,
        ...(typeof wf.memo?.sweepId === 'string' ? { sweepId: wf.memo.sweepId } : {}),
      });
      if (out.length >= limit) break;
    }
    return out;
  }
}

export interface RunSummary {
  runId: string;
  status: string;
  startTime: string;
  closeTime?: string;
  command: string[];
  backend: string;
  workdir?: string;
  /** The sweep this run is a point of. */
  sweepId?: string;
}

/** Unwrap WorkflowFailedError → ActivityFailure → ApplicationFailure into the user's error. */
export function toRepriseError(err: unknown): unknown {
  if (!(err instanceof WorkflowFailedError)) return err;
  let cause: unknown = err.cause;
  while (cause instanceof ActivityFailure) cause = cause.cause;
  if (cause instanceof ApplicationFailure && isErrorKind(cause.type)) {
    const detail = cause.details?.[0];
    return new RepriseError(cause.type, cause.message, { detail: typeof detail === 'string' ? detail : undefined });
  }
  if (cause instanceof CancelledFailure) return new RepriseError(ErrorKind.cancelled, 'the run was cancelled before its job started; nothing was recorded');
  return new Error(`run failed: ${cause instanceof Error ? cause.message : String(cause)}`);
}

export async function readRunLog(env: RepriseEnv, runId: string, file: string): Promise<string | undefined> {
  try {
    return await readFile(join(paths.runDir(env.home, runId), file), 'utf8');
  } catch {
    return undefined;
  }
}
