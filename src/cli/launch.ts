import { cancelOnInterrupt } from './cancel-on-interrupt.js';
import type { RunResult } from '../activities/types.js';
import { followRun } from '../client/follow.js';
import { planRun, startRun, type RunRequest } from '../client/launch.js';
import { AgentSocketClient } from '../client/agent-socket.js';
import type { RunService } from '../client/run-service.js';
import type { TeamProgress } from '../client/team.js';
import type { RepriseEnv } from '../config/env.js';
import { ExitCode } from '../errors.js';
import { unsentLine } from '../data/unsent.js';
import { BaseCommand } from './base-command.js';
import { terminalObserver } from './follow-progress.js';
import { terminalWriter } from '../terminal-text.js';
import { StepProgress, TransferBar } from './progress.js';

export interface LaunchRequest extends RunRequest {
  detach: boolean;
  json: boolean;
}

export interface LaunchOutcome {
  runId: string;
  result?: RunResult;
  exitCode: number;
}

/** Start a run as a workflow; attached runs stream output and end with the job's exit code. */
export async function launch(env: RepriseEnv, req: LaunchRequest): Promise<LaunchOutcome> {
  const { input, where } = await planRun(env, req);
  const client = await runService(env);
  try {
    const publishing = teamProgress(req.json);
    try {
      await startRun(client, req, input, publishing);
    } finally {
      publishing.stop();
    }
    if (req.detach) return { runId: input.runId, exitCode: ExitCode.ok };
    // A run that may be reused says which it is once it knows: one line either way.
    if (!req.json && !input.reuse) process.stderr.write(`run ${input.runId} on ${where}\n`);
    const stopListening = cancelOnInterrupt(input.runId, (id) => client.cancel(id));
    const observer = terminalObserver(!req.json);
    // The job's output is data: stripped of escape sequences on a terminal, as `logs` and `show` do.
    const write = terminalWriter(req.json ? process.stderr : process.stdout);
    try {
      const result = (await followRun(client, input.runId, {
        write,
        observer,
        projectRoot: req.project.root,
      }))!;
      return { runId: input.runId, result, exitCode: exitCodeOf(result) };
    } finally {
      observer.stop();
      stopListening();
    }
  } finally {
    await client.close();
  }
}

/**
 * The local agent's socket when the agent is up (the CLI then loads no Temporal SDK); else the
 * Temporal client, starting the agent first (team mode: the team's Temporal).
 */
async function runService(env: RepriseEnv): Promise<RunService> {
  const viaAgent = await AgentSocketClient.connect(env);
  if (viaAgent) return viaAgent;
  const { RunClient } = await import('../client/runs.js');
  return RunClient.connect(env, { start: true });
}

/** A team run's sync, build and image push, with progress on stderr; `stop()` ends the bars once it is published. */
function teamProgress(json: boolean): TeamProgress & { stop(): void } {
  const progress = new StepProgress('building image', !json);
  const transfer = new TransferBar(!json);
  return {
    onBuild: (p) => progress.update(p.step, p.totalSteps, p.line),
    onTransfer: (p) => {
      progress.stop();
      transfer.update(p);
    },
    onTracked: (line) => {
      if (!json) process.stderr.write(`${line}\n`);
    },
    onSynced: (remote, branch, pushed) => {
      if (!json && pushed) process.stderr.write(`synced ${branch} with ${remote}\n`);
    },
    stop: () => {
      progress.stop();
      transfer.stop();
    },
  };
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
  const unsent = result.unsentOutputs ? `\nwarning: ${unsentLine(result.unsentOutputs)}` : '';
  return `run ${result.runId} ${result.state}, exit code ${result.exitCode}${why}; recorded in ${result.commit.slice(0, 12)}${where}${left}${unsent}`;
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
