import type { RunInput, RunResult, TeamRun } from '../activities/types.js';
import { assertTeamEnv, assertWorkerServes, publishRunInputs } from '../client/team.js';
import { StepProgress, TransferBar } from './progress.js';
import { RunClient, newRunId } from '../client/runs.js';
import type { RepriseEnv } from '../config/env.js';
import { loadUserConfig, resolveBackend, DEFAULT_BACKEND } from '../config/user-config.js';
import { ExitCode } from '../errors.js';
import type { Project } from '../project/layout.js';
import { followRun } from './follow.js';
import type { Resources } from '../config/resources.js';
import type { RunRecord } from '../project/run-record.js';
import { BaseCommand } from './base-command.js';

export interface LaunchRequest {
  project: Project;
  command: string[];
  /** Where in the project the command starts ('' or absent: the root). */
  workdir?: string;
  backend?: string;
  resources: Resources;
  detach: boolean;
  json: boolean;
  rerun?: RunInput['rerun'];
  /** Record an identical succeeded run instead of executing, when there is one (never for reruns). */
  reuse?: boolean;
}

export interface LaunchOutcome {
  runId: string;
  result?: RunResult;
  exitCode: number;
}

/** A rerun: the recorded command, resources, source commit and image digest; the backend may differ. */
export function rerunRequest(project: Project, record: RunRecord, backend: string | undefined, detach: boolean): Omit<LaunchRequest, 'json'> {
  return {
    project,
    command: record.command,
    workdir: record.workdir,
    backend: backend ?? record.backend.name,
    resources: record.resources,
    detach,
    rerun: { runId: record.runId, sourceCommit: record.sourceCommit, imageDigest: record.image.digest, imageReference: record.image.reference },
  };
}

/** Start a run as a workflow; attached runs stream output and end with the job's exit code. */
export async function launch(env: RepriseEnv, req: LaunchRequest): Promise<LaunchOutcome> {
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
  const client = await RunClient.connect(env, { start: true });
  try {
    if (env.team) {
      await assertWorkerServes(client.temporal, env, name);
      input.team = await publishTeamInputs(env, req);
    }
    await client.start(input, req.project.spec.id);
    if (req.detach) return { runId: input.runId, exitCode: ExitCode.ok };
    // A run that may be reused says which it is once it knows: one line either way.
    if (!req.json && !input.reuse) process.stderr.write(`run ${input.runId} on ${where}\n`);
    let interrupts = 0;
    const onInterrupt = () => {
      if (++interrupts > 1) process.exit(ExitCode.cancelled); // the agent still finishes the cancel
      process.stderr.write(`\ncancelling ${input.runId} (Ctrl-C again to stop waiting)\n`);
      void client.cancel(input.runId).catch(() => undefined);
    };
    process.on('SIGINT', onInterrupt);
    try {
      const result = await followRun(client, input.runId, {
        write: (text) => (req.json ? process.stderr.write(text) : process.stdout.write(text)),
        showBuild: !req.json,
        projectRoot: req.project.root,
      });
      return { runId: input.runId, result, exitCode: exitCodeOf(result) };
    } finally {
      process.off('SIGINT', onInterrupt);
    }
  } finally {
    await client.close();
  }
}

const describeBackend = (b: { name: string; config: { kind: string } }) => `${b.name} (${b.config.kind})`;

/** Sync the project to its remote and build and push the image, with progress on stderr. */
async function publishTeamInputs(env: RepriseEnv, req: LaunchRequest): Promise<TeamRun> {
  const progress = new StepProgress('building image', !req.json);
  const transfer = new TransferBar(!req.json);
  try {
    return await publishRunInputs(env, req.project.root, {
      rerun: req.rerun,
      onBuild: (p) => progress.update(p.step, p.totalSteps, p.line),
      onTransfer: (p) => {
        progress.stop();
        transfer.update(p);
      },
      onSynced: (remote, branch, pushed) => {
        if (!req.json && pushed) process.stderr.write(`synced ${branch} with ${remote}\n`);
      },
    });
  } finally {
    progress.stop();
    transfer.stop();
  }
}

function exitCodeOf(result: RunResult): number {
  if (result.state === 'succeeded' || result.state === 'reused') return ExitCode.ok;
  if (result.state === 'cancelled') return ExitCode.cancelled;
  return result.exitCode > 0 && result.exitCode < 256 ? result.exitCode : ExitCode.jobFailed;
}

export function describeResult(result: RunResult): string {
  if (result.reusedFrom) return `run ${result.runId} reused ${result.reusedFrom} (not executed: same key), exit code ${result.exitCode}; recorded in ${result.commit.slice(0, 12)}`;
  const why = result.reason ? ` (${result.reason})` : '';
  const left = result.skippedOutputs?.length ? `; not collected: ${result.skippedOutputs.map((o) => `${JSON.stringify(o.path)} (${o.why})`).join(', ')}` : '';
  const where = result.recoveredBranch ? ` on branch ${result.recoveredBranch} (the branch it started from was deleted while it ran)` : '';
  return `run ${result.runId} ${result.state}, exit code ${result.exitCode}${why}; recorded in ${result.commit.slice(0, 12)}${where}${left}`;
}

/** Commands that start runs (run, rerun): start, then report as the contract says. */
export abstract class LaunchCommand extends BaseCommand {
  protected async launchAndReport(req: Omit<LaunchRequest, 'json'>): Promise<{ runId: string } & Partial<RunResult>> {
    const outcome = await launch(this.env, { ...req, json: this.jsonEnabled() });
    const result = { runId: outcome.runId, ...outcome.result };
    if (req.detach) this.say(outcome.runId);
    else this.note(describeResult(outcome.result!));
    return this.withExitCode(result, outcome.exitCode);
  }
}
