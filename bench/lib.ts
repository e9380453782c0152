/** What the benches share: timed child processes, statistics, free ports, leftover processes. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { temporalConnectionOptions } from '../src/client/agent.js';
import { readEnv } from '../src/config/env.js';

export const repoRoot = fileURLToPath(new URL('..', import.meta.url));
export const binRun = join(repoRoot, 'bin', 'run.js');

export interface Exec {
  code: number | null;
  signal: NodeJS.Signals | null;
  seconds: number;
  stdout: string;
  stderr: string;
}

export interface Stats {
  n: number;
  median: number;
  p90: number;
  min: number;
  max: number;
  mean: number;
}

const running = new Set<ReturnType<typeof spawn>>();
let interrupted = false;

/** Ctrl-C: the running children are interrupted and mustExec fails from then on. */
export function interrupt(): void {
  interrupted = true;
  for (const child of running) child.kill('SIGINT');
}
export const wasInterrupted = () => interrupted;

/** Run a command to completion and time it from spawn to exit (wall clock, monotonic). */
export function exec(cmd: string, args: string[], opts: { cwd?: string; env: NodeJS.ProcessEnv; input?: string; timeoutMs?: number }): Promise<Exec> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['pipe', 'pipe', 'pipe'], timeout: opts.timeoutMs });
    child.stdin.end(opts.input);
    running.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => {
      running.delete(child);
      reject(err);
    });
    child.on('close', (code, signal) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      running.delete(child);
      resolve({ code, signal, seconds, stdout, stderr });
    });
  });
}

export async function mustExec(what: string, cmd: string, args: string[], opts: { cwd?: string; env: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<Exec> {
  const r = await exec(cmd, args, opts);
  if (interrupted) throw new Error('interrupted');
  if (r.code !== 0) {
    throw new Error(
      `${what} failed (exit ${r.code ?? r.signal}): ${cmd} ${args.join(' ')}\n--- stdout ---\n${r.stdout.trimEnd()}\n--- stderr ---\n${r.stderr.trimEnd()}`,
    );
  }
  return r;
}

export function stats(xs: number[]): Stats {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  const median = n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
  const p90 = s[Math.max(0, Math.ceil(0.9 * n) - 1)]!; // nearest rank
  return { n, median, p90, min: s[0]!, max: s[n - 1]!, mean: s.reduce((a, b) => a + b, 0) / n };
}

export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

export function anyFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Safety net after `agent stop`: processes this bench started that the agent did not record
 * (e.g. a Temporal server left behind when the worker failed to start). They are found by this
 * bench's own unique REPRISE_HOME, in their command line or environment, and ended by pid.
 */
export async function leftovers(home: string): Promise<number[]> {
  if (!existsSync('/proc')) return [];
  const pids: number[] = [];
  for (const entry of await readdir('/proc').catch(() => [] as string[])) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    const environ = await readFile(`/proc/${pid}/environ`, 'utf8').catch(() => '');
    if (cmdline.includes(home) || environ.split('\0').includes(`REPRISE_HOME=${home}`)) pids.push(pid);
  }
  return pids;
}

export const fmt = (s: number) => `${s.toFixed(3)} s`;
export const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);


/** The 1-minute load average, as the tables record it. */
export const load1 = () => loadavg()[0]!;

/** A bench's own REPRISE_HOME, work directory and embedded Temporal port (headless). */
export interface Sandbox {
  home: string;
  work: string;
  port: number;
  /** The environment every `bin/run.js` of this bench runs with. */
  env: NodeJS.ProcessEnv;
}

export const DEFAULT_TEMPORAL_PORT = 17433;

/**
 * A throwaway REPRISE_HOME and work directory, and a Temporal port: `port` if given (it must be
 * free), else 17433 when free, else any free one. TEMPORAL_ADDRESS is removed: the bench always
 * starts its own embedded server and never talks to (or starts workers for) another agent.
 */
export async function openSandbox(label: string, port?: number): Promise<Sandbox> {
  if (port !== undefined && !(await portFree(port))) throw new UsageError(`port ${port} is in use; pick another with --port (or omit it)`);
  const chosen = port ?? ((await portFree(DEFAULT_TEMPORAL_PORT)) ? DEFAULT_TEMPORAL_PORT : await anyFreePort());
  const home = await mkdtemp(join(tmpdir(), 'reprise-bench-home-'));
  const work = await mkdtemp(join(tmpdir(), `reprise-bench-${label}-`));
  const env: NodeJS.ProcessEnv = { ...process.env, REPRISE_HOME: home, REPRISE_TEMPORAL_PORT: String(chosen), REPRISE_TEMPORAL_UI_PORT: '0' };
  delete env.TEMPORAL_ADDRESS;
  return { home, work, port: chosen, env };
}

/** A Temporal connection to the sandbox's agent, made as the CLI makes it (mTLS to an isolated agent). */
export async function sandboxConnection(sb: Sandbox): Promise<Connection> {
  return Connection.connect(await temporalConnectionOptions(readEnv(sb.env)));
}

/** Bad options: exit 2. */
export class UsageError extends Error {}

/** The last lines of the sandbox agent's logs, for a failure report. */
export async function printAgentLogs(sb: Sandbox): Promise<void> {
  for (const name of ['worker.log', 'temporal.log']) {
    const text = await readFile(join(sb.home, 'agent', name), 'utf8').catch(() => '');
    if (text.trim()) process.stderr.write(`[bench] last lines of ${join(sb.home, 'agent', name)}:\n${text.trimEnd().split('\n').slice(-10).join('\n')}\n`);
  }
}

/**
 * Always run at the end: `agent stop` with the sandbox's environment, then any process still
 * carrying its REPRISE_HOME is ended by pid (with a warning), then the directories are removed
 * unless `keep`. Returns false when the agent could not be stopped.
 */
export async function closeSandbox(sb: Sandbox, keep: boolean): Promise<boolean> {
  let ok = true;
  const stop = await exec(process.execPath, [binRun, 'agent', 'stop'], { env: sb.env }).catch((err: Error) => ({ code: 1, stdout: '', stderr: err.message }));
  if (stop.code === 0) log(`agent: ${stop.stdout.trim()}`);
  else {
    ok = false;
    log(`agent stop failed (exit ${stop.code}): ${stop.stderr.trim()}`);
  }
  const stray = await leftovers(sb.home);
  if (stray.length > 0) {
    log(`WARNING: 'agent stop' left ${stray.length} process(es) of this bench running (pids ${stray.join(' ')}); ending them`);
    const signal = (sig: NodeJS.Signals) =>
      stray.forEach((pid) => {
        try {
          process.kill(pid, sig);
        } catch {
          /* already gone */
        }
      });
    signal('SIGTERM');
    for (let i = 0; i < 40 && (await leftovers(sb.home)).length > 0; i++) await new Promise((r) => setTimeout(r, 250));
    if ((await leftovers(sb.home)).length > 0) signal('SIGKILL');
  }
  if (keep || !ok) log(`kept ${sb.home} and ${sb.work}`);
  else {
    await rm(sb.home, { recursive: true, force: true });
    await rm(sb.work, { recursive: true, force: true });
  }
  return ok;
}

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** utime + stime of a process (or, with `children`, of its waited-for children) from /proc, in seconds. */
async function procCpu(pid: number | 'self', children = false): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  // Fields after the parenthesised command name: state is field 3, utime 14, stime 15, cutime 16, cstime 17.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
  return children ? (f[13]! + f[14]!) / TICKS_PER_SECOND : (f[11]! + f[12]!) / TICKS_PER_SECOND;
}

/** CPU seconds spent by the sandbox's agent (worker, Temporal server) and by this bench's finished children. */
export interface CpuSample {
  children: number;
  worker: number;
  temporal: number;
}

export async function cpuSample(sb: Sandbox): Promise<CpuSample> {
  const state = JSON.parse(await readFile(join(sb.home, 'agent', 'agent.json'), 'utf8').catch(() => '{}')) as { workerPid?: number; temporalPid?: number };
  return {
    children: await procCpu('self', true),
    worker: state.workerPid ? await procCpu(state.workerPid) : NaN,
    temporal: state.temporalPid ? await procCpu(state.temporalPid) : NaN,
  };
}

export const cpuSince = (a: CpuSample, b: CpuSample): CpuSample => ({ children: b.children - a.children, worker: b.worker - a.worker, temporal: b.temporal - a.temporal });
