/** What the benches share: timed child processes, statistics, free ports, leftover processes. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

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

let current: ReturnType<typeof spawn> | undefined;
let interrupted = false;

/** Ctrl-C: the running child is interrupted and mustExec fails from then on. */
export function interrupt(): void {
  interrupted = true;
  current?.kill('SIGINT');
}
export const wasInterrupted = () => interrupted;

/** Run a command to completion and time it from spawn to exit (wall clock, monotonic). */
export function exec(cmd: string, args: string[], opts: { cwd?: string; env: NodeJS.ProcessEnv; input?: string }): Promise<Exec> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdin.end(opts.input);
    current = child;
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      current = undefined;
      resolve({ code, signal, seconds, stdout, stderr });
    });
  });
}

export async function mustExec(what: string, cmd: string, args: string[], opts: { cwd?: string; env: NodeJS.ProcessEnv }): Promise<Exec> {
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

