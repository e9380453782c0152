import { WorkflowNotFoundError } from '@temporalio/client';
import { createHash } from 'node:crypto';
import type { LabProgress, LabResult, RunInput } from '../activities/types.js';
import { notFound } from '../errors.js';
import { LAB_WORKFLOW, labProgressQuery, type LabWorkflow } from '../workflows/contract.js';
import { newWorkflowId } from './ids.js';
import { toRepriseError, type RunClient } from './runs.js';

/** Lab ids are workflow ids: "lab-" + 12 base32 characters. */
export const newLabId = () => newWorkflowId('lab');

/**
 * The Jupyter server's port inside the job, from the lab id: fixed per session (a reconnecting
 * tunnel finds it again) and spread out, because on SLURM the job shares the node's network.
 * Below 32768, where Linux's ephemeral ports begin: a node's own outgoing connections (to the
 * controller, to the store) take ports from there, and one had taken a lab's.
 */
export const LAB_PORTS = { first: 20000, count: 12768 } as const;
export const labRemotePort = (labId: string) => LAB_PORTS.first + (createHash('sha256').update(labId).digest().readUInt32BE(0) % LAB_PORTS.count);

export interface LiveLab {
  labId: string;
  status: string;
  backend: string;
  startTime: string;
  closeTime?: string;
}

/** Lab sessions: started, watched, stopped and listed through the agent's Temporal server. */
export class LabClient {
  constructor(private readonly runs: RunClient) {}

  async start(input: RunInput, projectId: string): Promise<void> {
    await this.runs.client.workflow.start<LabWorkflow>(LAB_WORKFLOW, {
      workflowId: input.runId,
      taskQueue: this.runs.env.taskQueue,
      args: [input],
      memo: { projectRoot: input.projectRoot, projectId, backend: input.backend, kind: 'lab' },
    });
  }

  progress(labId: string): Promise<LabProgress | undefined> {
    return this.runs.query(labId, labProgressQuery);
  }

  async result(labId: string): Promise<LabResult> {
    try {
      return (await this.runs.handle(labId).result()) as LabResult;
    } catch (err) {
      throw toRepriseError(err);
    }
  }

  async stop(labId: string): Promise<void> {
    try {
      await this.runs.handle(labId).cancel();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw notFound(`no lab session "${labId}" is known to the agent; list them with: reprise lab list`);
      throw err;
    }
  }

  /** This project's sessions known to Temporal, newest first. */
  async list(projectId: string, limit = 50): Promise<LiveLab[]> {
    const out: LiveLab[] = [];
    for await (const wf of this.runs.client.workflow.list({ query: `WorkflowType = '${LAB_WORKFLOW}'` })) {
      if (wf.memo?.projectId !== projectId) continue;
      out.push({
        labId: wf.workflowId,
        status: wf.status.name,
        backend: String(wf.memo?.backend ?? ''),
        startTime: wf.startTime.toISOString(),
        closeTime: wf.closeTime?.toISOString(),
      });
      if (out.length >= limit) break;
    }
    return out;
  }

  /** A live session by id or unique prefix; with none given, the project's only running one. */
  async resolveLive(projectId: string, idOrPrefix?: string): Promise<LiveLab> {
    const running = (await this.list(projectId)).filter((l) => l.status === 'RUNNING');
    if (!idOrPrefix) {
      if (running.length === 1) return running[0]!;
      if (running.length === 0) throw notFound('no lab session is running in this project; start one with: reprise lab');
      throw notFound(`${running.length} lab sessions are running in this project (${running.map((l) => l.labId).join(', ')}); name one`);
    }
    const wanted = idOrPrefix.startsWith('lab-') ? idOrPrefix : `lab-${idOrPrefix}`;
    const hits = running.filter((l) => l.labId === idOrPrefix || l.labId.startsWith(wanted));
    if (hits.length > 1) throw notFound(`lab id "${idOrPrefix}" is ambiguous (${hits.length} sessions match); give more characters`);
    if (!hits[0]) throw notFound(`no running lab session "${idOrPrefix}" in this project; list them with: reprise lab list`);
    return hits[0];
  }
}
