import type { RunInput } from '../activities/types.js';
import type { RepriseEnv } from '../config/env.js';
import type { Resources } from '../config/resources.js';
import { loadUserConfig, resolveBackend, DEFAULT_BACKEND } from '../backends/user-config.js';
import type { Project } from '../project/layout.js';
import type { RunRecord } from '../project/run-record.js';
import { newRunId } from './ids.js';
import type { RunService } from './run-service.js';
import type { RunClient } from './runs.js';
import { assertTeamEnv, assertWorkerServes, publishRunInputs, type TeamProgress } from './team.js';

/** A run to start: what the CLI's `run`/`rerun`/`verify` and the dashboard's rerun and verify ask for. */
export interface RunRequest {
  project: Project;
  command: string[];
  /** Where in the project the command starts ('' or absent: the root). */
  workdir?: string;
  backend?: string;
  resources: Resources;
  rerun?: RunInput['rerun'];
  /** Record an identical succeeded run instead of executing, when there is one (never for reruns). */
  reuse?: boolean;
}

/** A rerun: the recorded command, resources, source commit and image digest; the backend may differ. */
export function rerunRequest(project: Project, record: RunRecord, backend: string | undefined): RunRequest {
  return {
    project,
    command: record.command,
    workdir: record.workdir,
    backend: backend ?? record.backend.name,
    resources: record.resources,
    rerun: { runId: record.runId, sourceCommit: record.sourceCommit, imageDigest: record.image.digest, imageReference: record.image.reference },
  };
}

/** A run's workflow input and where it will run ("name (kind)"), checked before anything starts (an unknown backend is exit 2). */
export async function planRun(env: RepriseEnv, req: RunRequest): Promise<{ input: RunInput; where: string }> {
  if (env.team) assertTeamEnv(env);
  const name = req.backend ?? req.project.spec.backend ?? DEFAULT_BACKEND;
  // Team mode: backends are the workers' (the queue's pollers say whether one serves it).
  const where = env.team ? `${name} (team, ${env.temporalAddress})` : describeBackend(resolveBackend(await loadUserConfig(env.home), name));
  const input: RunInput = {
    runId: newRunId(),
    projectRoot: env.team ? '' : req.project.root,
    backend: name,
    command: req.command,
    workdir: req.workdir || undefined,
    resources: req.resources,
    rerun: req.rerun,
    ...(req.reuse && !req.rerun ? { reuse: true } : {}),
  };
  return { input, where };
}

/** Start a planned run as a workflow; in team mode its source and image are published first, `progress` told how that goes. */
export async function startRun(client: RunService, req: RunRequest, input: RunInput, progress: TeamProgress = {}): Promise<void> {
  if (client.env.team) {
    // Team runs always go through Temporal (the agent's socket is local only).
    await assertWorkerServes((client as RunClient).temporal, client.env, input.backend);
    input.team = await publishRunInputs(client.env, req.project.root, { rerun: req.rerun, ...progress });
  }
  await client.start(input, req.project.spec.id);
}

/** Plan and start a run on a connected client (the dashboard's rerun and verify); returns its id. */
export async function startRunOn(client: RunClient, req: RunRequest): Promise<string> {
  const { input } = await planRun(client.env, req);
  await startRun(client, req, input);
  return input.runId;
}

const describeBackend = (b: { name: string; config: { kind: string } }) => `${b.name} (${b.config.kind})`;
