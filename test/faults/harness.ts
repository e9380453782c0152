// The faults suite: a run on a real backend, a fault injected while its job runs,
// then what came of it, read from outside: the workflow, the project's git history and the
// backend's own view of the run's jobs. Each trial appends one line to the rows file; the
// global teardown (global-setup.ts) prints the table and writes the report.
import { Client, type Connection } from '@temporalio/client';
import { connectTemporal } from '../../src/client/agent.js';
import { readEnv } from '../../src/config/env.js';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { Cli } from '../helpers/cli.js';
import { repoRoot } from '../helpers/cli.js';
import { git } from '../helpers/project.js';
import { saveRow, TRIALS, type BackendKind, type TrialRow } from './report.js';

export { TRIALS, type BackendKind, type TrialRow } from './report.js';

/** What a fault that goes on past the run's end found, checked once the run ended (TrialRow.problems, .figures). */
export interface FaultEnd {
  problems: string[];
  figures: Record<string, number>;
}

/**
 * A fault, injected once the job runs. Most bring back whatever they stopped before they return;
 * one that goes on through the run's end (a user's own commits) returns its `finish`, called once
 * the workflow ended (or the trial failed), which stops it and says what it found.
 */
export type Fault = (runId: string) => Promise<void | (() => Promise<FaultEnd>)>;

/** The job every trial runs: long enough for a fault and a restart to land while it runs. */
export const JOB_SECONDS = 6;
const JOB = ['sh', '-c', `echo start; sleep ${JOB_SECONDS}; echo finished > output/done.txt; echo end`];

/** The infra scripts that own the cluster state (a worktree's test/infra/.state may be a link to another checkout's). */
export const infraDir = (() => {
  const state = join(repoRoot, 'test/infra/.state');
  return existsSync(state) ? join(realpathSync(state), '..') : join(repoRoot, 'test/infra');
})();



const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function sh(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): string {
  return execFileSync(cmd, args, { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
}

/** The backend's own view of a run's jobs, from outside Reprise; ids seen are accumulated over the trial. */
export interface JobWatcher {
  /** Distinct job ids the backend has shown for this run (a dead daemon's answer is simply missed). */
  ids(runId: string): string[];
}

export const dockerJobs: JobWatcher = {
  ids: (runId) => sh('docker', ['ps', '-aq', '--no-trunc', '--filter', `label=org.reprise.run=${runId}`]).split('\n').filter(Boolean),
};

export const slurmJobs: JobWatcher = {
  // sacct keeps finished jobs (the test cluster has accounting); squeue covers the moment before sacct knows.
  ids: (runId) => {
    const name = `reprise-${runId}`;
    const acct = sh('sacct', ['-n', '-X', '-P', '-S', 'now-1days', '--name', name, '-o', 'JobID']).split('\n');
    const queue = sh('squeue', ['-h', '--name', name, '-o', '%i']).split('\n');
    return [...acct, ...queue].map((s) => s.trim()).filter(Boolean);
  },
};

export function kubernetesJobs(kubeconfig: string, namespace: string): JobWatcher {
  // A Job and every pod it made: a second pod would be a second execution of the command.
  return {
    ids: (runId) =>
      ['jobs', 'pods'].flatMap((kind) =>
        sh('kubectl', ['--kubeconfig', kubeconfig, '-n', namespace, 'get', kind, '-l', `reprise.run/id=${runId}`, '-o', 'jsonpath={range .items[*]}{.kind}/{.metadata.uid}{"\\n"}{end}'])
          .split('\n')
          .filter(Boolean),
      ),
  };
}

/** The jobs of a watcher's ids, counted as executions: Kubernetes counts Jobs and pods separately. */
function countJobs(ids: Set<string>): number {
  const pods = [...ids].filter((i) => i.startsWith('Pod/')).length;
  const jobs = [...ids].filter((i) => i.startsWith('Job/')).length;
  return pods || jobs ? Math.max(pods, jobs) : ids.size;
}

interface AgentFile {
  temporalPid?: number;
  workerPid?: number;
}

export class FaultContext {
  private connection?: Connection;

  constructor(
    readonly cli: Cli,
    readonly root: string,
    readonly backendName: string,
    readonly backend: BackendKind,
    readonly watcher: JobWatcher,
  ) {}

  agent(): AgentFile {
    return JSON.parse(readFileSync(join(this.cli.env.REPRISE_HOME!, 'agent/agent.json'), 'utf8')) as AgentFile;
  }

  async ensureAgent(): Promise<void> {
    const r = await this.cli.run(['agent', 'start'], this.root);
    if (r.code !== 0) throw new Error(`reprise agent start exited ${r.code}: ${r.stderr}`);
  }

  private async client(): Promise<Client> {
    if (!this.connection) this.connection = await connectTemporal(readEnv(this.cli.env), 2000);
    return new Client({ connection: this.connection });
  }

  async dropConnection(): Promise<void> {
    await this.connection?.close().catch(() => undefined);
    this.connection = undefined;
  }

  /** The run's live state from the workflow (undefined while Temporal does not answer). */
  async progressState(runId: string): Promise<string | undefined> {
    try {
      return ((await (await this.client()).workflow.getHandle(runId).query('progress')) as { state: string }).state;
    } catch {
      await this.dropConnection();
      return undefined;
    }
  }

  /** The workflow's status: RUNNING, COMPLETED, FAILED, …, NOT_FOUND, or undefined while Temporal does not answer. */
  async workflowStatus(runId: string): Promise<string | undefined> {
    try {
      return (await (await this.client()).workflow.getHandle(runId).describe()).status.name;
    } catch (err) {
      if ((err as Error).name === 'WorkflowNotFoundError') return 'NOT_FOUND';
      await this.dropConnection();
      return undefined;
    }
  }

  /** Commits recording the run (a Reprise-Run trailer naming it), on every ref. */
  records(runId: string): { commit: string; state: string }[] {
    return git(this.root, 'log', '--all', '--format=%H%x09%(trailers:key=Reprise-Run,valueonly,separator=%x2C)%x09%(trailers:key=Reprise-State,valueonly,separator=%x2C)')
      .split('\n')
      .map((l) => l.split('\t'))
      .filter((f) => f[1]?.trim() === runId)
      .map((f) => ({ commit: f[0]!, state: f[2]!.trim() }));
  }

  reasonOf(commit: string, runId: string): string | undefined {
    try {
      return (JSON.parse(git(this.root, 'show', `${commit}:.reprise/activity/${runId}.json`)) as { reason?: string }).reason;
    } catch {
      return undefined;
    }
  }

  /**
   * One trial: start a detached run, wait until its job runs, inject the fault (which must bring
   * back whatever it stopped before it returns), wait for the run to end, count.
   */
  async trial(fault: string, trial: number, inject: Fault, timeoutMs = 240_000): Promise<TrialRow> {
    const t0 = Date.now();
    const seen = new Set<string>();
    const look = (id: string) => {
      try {
        for (const j of this.watcher.ids(id)) seen.add(j);
      } catch {
        /* the backend's daemon is down right now: missed, looked at again */
      }
    };
    await this.ensureAgent();
    const start = await this.cli.run(['run', '--detach', '--on', this.backendName, '--', ...JOB], this.root);
    if (start.code !== 0) throw new Error(`reprise run --detach exited ${start.code}: ${start.stderr}`);
    const runId = start.stdout.trim().split('\n').pop()!.trim();
    let watching = true;
    let finish: (() => Promise<FaultEnd>) | undefined;
    const watch = (async () => {
      while (watching) {
        look(runId);
        await sleep(500);
      }
    })();
    try {
      // The fault lands while the job runs.
      let state: string | undefined;
      for (let i = 0; i < 600 && (state = await this.progressState(runId)) !== 'running'; i++) {
        if (state && ['collecting', 'succeeded', 'failed', 'cancelled'].includes(state)) throw new Error(`run ${runId} reached ${state} before the fault`);
        await sleep(200);
      }
      if (state !== 'running') throw new Error(`run ${runId} never ran (state ${state})`);
      await sleep(500);
      finish = (await inject(runId)) ?? undefined;
      // Whatever the fault was, the agent is brought back as a user would: any reprise command starts it.
      await this.ensureAgent();
      let status: string | undefined;
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        status = await this.workflowStatus(runId);
        if (status && status !== 'RUNNING') break;
        await sleep(500);
      }
      watching = false;
      await watch;
      look(runId);
      const end = finish && (await finish());
      finish = undefined;
      const records = this.records(runId);
      const state2 = records[0]?.state;
      const reason = records.length === 1 ? this.reasonOf(records[0]!.commit, runId) : undefined;
      const jobs = countJobs(seen);
      return {
        fault,
        backend: this.backend,
        trial,
        runId,
        completed: status === 'COMPLETED' && records.length === 1 && state2 === 'succeeded',
        recordedOnce: records.length === 1,
        failedWithReason: records.length === 1 && state2 === 'failed' && Boolean(reason),
        lost: records.length === 0,
        jobs,
        duplicateJobs: Math.max(0, jobs - 1),
        state: state2 ?? `workflow ${status ?? 'unreachable'}`,
        ...(reason ? { reason: reason.replace(/\s+/g, ' ').slice(0, 300) } : {}),
        ...(end ? { problems: end.problems, figures: end.figures } : {}),
        seconds: Math.round((Date.now() - t0) / 100) / 10,
      };
    } finally {
      watching = false;
      await watch;
      await finish?.().catch(() => undefined);
    }
  }

  /** Every trial of a fault, each saved as a row and checked against the goal. */
  async trials(fault: string, inject: Fault): Promise<TrialRow[]> {
    const rows: TrialRow[] = [];
    for (let t = 1; t <= TRIALS; t++) {
      const row = await this.trial(fault, t, inject);
      saveRow(row);
      rows.push(row);
    }
    for (const row of rows) expectGoal(row);
    return rows;
  }

  async close(): Promise<void> {
    await this.dropConnection();
  }
}

/**
 * The goal: completed and recorded once; where impossible, recorded once as failed with the
 * reason; never lost; no second job; and nothing the fault's own checks found wrong.
 */
export function expectGoal(row: TrialRow): void {
  const what = `${row.fault} on ${row.backend}, trial ${row.trial} (run ${row.runId}): ${JSON.stringify(row)}`;
  expect(row.problems ?? [], what).toEqual([]);
  expect(row.lost, what).toBe(false);
  expect(row.recordedOnce, what).toBe(true);
  expect(row.completed || row.failedWithReason, what).toBe(true);
  expect(row.duplicateJobs, what).toBe(0);
}

export function skipRow(fault: string, backend: BackendKind, why: string): void {
  saveRow({ fault, backend, trial: 0, skipped: why, completed: false, recordedOnce: false, failedWithReason: false, lost: false, jobs: 0, duplicateJobs: 0, seconds: 0 });
}

// ---------------------------------------------------------------------------------------------
// Faults

export const pidAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

export async function waitGone(pid: number, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (pidAlive(pid) && Date.now() < end) await sleep(100);
  if (pidAlive(pid)) {
    process.kill(pid, 'SIGKILL');
    while (pidAlive(pid)) await sleep(100);
  }
}

/** The worker SIGKILLed mid-run; the next reprise command starts another. */
export async function killWorker(ctx: FaultContext): Promise<void> {
  const pid = ctx.agent().workerPid!;
  process.kill(pid, 'SIGKILL');
  await waitGone(pid);
}

/** The embedded Temporal dev server stopped (SIGTERM) and started again on its own db file by the next reprise command. */
export async function restartTemporal(ctx: FaultContext): Promise<void> {
  const pid = ctx.agent().temporalPid!;
  process.kill(pid, 'SIGTERM');
  await waitGone(pid);
  await ctx.dropConnection();
  await sleep(1000);
}

/** Every TCP connection the worker holds to the cluster's sshd, killed with `ss -K` (the server sees a reset, the client an error). */
export async function cutWorkerSsh(ctx: FaultContext, sshPort: number): Promise<number> {
  const pid = ctx.agent().workerPid!;
  const lines = sh('ss', ['-tnpH', 'state', 'established', 'dport', '=', `:${sshPort}`]).split('\n');
  const ports = lines.filter((l) => l.includes(`pid=${pid},`)).map((l) => /127\.0\.0\.1:(\d+)\s+127\.0\.0\.1:/.exec(l)?.[1]).filter(Boolean) as string[];
  for (const p of ports) sh('ss', ['-K', 'dport', '=', `:${sshPort}`, 'sport', '=', `:${p}`]);
  return ports.length;
}

/** A daemon's pid from its pid file, when alive. */
export function pidFrom(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return pid && pidAlive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Stop one daemon by its pid file, wait `downMs`, and bring it back with the infra script's own
 * idempotent `up` (which starts only what is missing) — always, even if stopping failed.
 */
export async function restartDaemon(pidFile: string, bringUp: () => void, downMs = 3000): Promise<void> {
  try {
    const pid = pidFrom(pidFile);
    if (!pid) throw new Error(`no live daemon in ${pidFile}`);
    process.kill(pid, 'SIGTERM');
    await waitGone(pid);
    await sleep(downMs);
  } finally {
    bringUp();
  }
}

export function runInfra(args: string[], env: Record<string, string> = {}): void {
  const r = spawnSync(args[0]!, args.slice(1), { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 300_000 });
  if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}: ${r.stderr?.slice(-2000)}`);
}

// ---------------------------------------------------------------------------------------------
// Shared daemons: only restarted when no one else's tests run (or CI says the machine is ours).

function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

function ancestry(pid: number): number[] {
  const chain: number[] = [];
  for (let p: number | undefined = pid; p && p > 1 && chain.length < 64; p = parentOf(p)) chain.push(p);
  return chain;
}

/** Other people's test or bench processes (`pgrep -fa 'vitest|bench/'` minus this suite's own). */
export function othersTesting(): string[] {
  const mine = ancestry(process.pid);
  const cmd = (p: number) => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ');
    } catch {
      return '';
    }
  };
  const myRoot = [...mine].reverse().find((p) => /vitest/.test(cmd(p))) ?? process.pid;
  const r = spawnSync('pgrep', ['-fa', 'vitest|bench/'], { encoding: 'utf8' });
  return (r.stdout ?? '')
    .split('\n')
    .filter(Boolean)
    .filter((line) => !ancestry(Number(line.split(' ')[0])).includes(myRoot));
}

/** Waits (up to REPRISE_FAULT_EXCLUSIVE_WAIT_S, default 600 s) until no one else tests; returns why not, or undefined when clear. */
export async function waitExclusive(): Promise<string | undefined> {
  if (process.env.REPRISE_FAULT_EXCLUSIVE === '1') return undefined;
  const end = Date.now() + Number(process.env.REPRISE_FAULT_EXCLUSIVE_WAIT_S || 600) * 1000;
  let others = othersTesting();
  while (others.length > 0 && Date.now() < end) {
    await sleep(10_000);
    others = othersTesting();
  }
  return others.length ? `others' tests were running: ${others.slice(0, 3).join('; ').slice(0, 200)}` : undefined;
}
