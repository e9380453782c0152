import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createServer } from 'node:net';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { temporalCliEnv, temporalConnectionOptions } from '../../src/client/agent.js';
import { readEnv } from '../../src/config/env.js';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
export const binRun = fileURLToPath(new URL('../../bin/run.js', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * A free TCP port on loopback (for an isolated embedded Temporal, a registry, a dashboard). Drawn
 * below the kernel's ephemeral range: a port the kernel hands out (`listen(0)`) can be taken by
 * any outgoing connection between this check and the server's bind ("port 34707 is taken", once
 * in a full suite). And below 30000, where Kubernetes NodePorts start.
 */
export async function freePort(): Promise<number> {
  const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 32768;
  const top = Math.min(low, 30000);
  const floor = Math.min(10000, top - 1000);
  for (let tries = 0; tries < 50; tries++) {
    const port = floor + Math.floor(Math.random() * (top - floor));
    if (await bindable(port)) return port;
  }
  throw new Error(`no free port found between ${floor} and ${top}`);
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** The built CLI must exist and be newer than every source file: a stale dist/ tests old code. */
export function requireFreshBuild(): void {
  const newest = (dir: string): number =>
    Math.max(0, ...readdirSync(dir, { withFileTypes: true }).map((e) => (e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs)));
  let built: number;
  try {
    built = statSync(join(repoRoot, 'oclif.manifest.json')).mtimeMs;
  } catch {
    throw new Error('the CLI is not built: run npm run build first');
  }
  if (newest(join(repoRoot, 'src')) > built) throw new Error('dist/ is older than src/: run npm run build first');
}

/** Drives the built `reprise` binary the way a user's shell would. */
export class Cli {
  constructor(readonly env: NodeJS.ProcessEnv) {
    requireFreshBuild();
  }

  spawn(args: string[], cwd: string): ChildProcess {
    return spawn(process.execPath, [binRun, ...args], { cwd, env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
  }

  run(args: string[], cwd: string): Promise<CliResult> {
    return collect(this.spawn(args, cwd));
  }

  async json<T>(args: string[], cwd: string): Promise<T> {
    const r = await this.run([...args, '--json'], cwd);
    if (r.code !== 0) throw new Error(`reprise ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
    return JSON.parse(r.stdout) as T;
  }
}

export function collect(child: ChildProcess): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d));
  child.stderr?.on('data', (d: Buffer) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
  });
}

export async function cliEnv(home: string): Promise<NodeJS.ProcessEnv> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    REPRISE_HOME: home,
    REPRISE_TEMPORAL_PORT: String(await freePort()),
    REPRISE_TEMPORAL_UI_PORT: '0',
    LOG_LEVEL: 'warn',
    GIT_AUTHOR_NAME: 'E2E',
    GIT_AUTHOR_EMAIL: 'e2e@example.com',
    GIT_COMMITTER_NAME: 'E2E',
    GIT_COMMITTER_EMAIL: 'e2e@example.com',
  };
  delete env.TEMPORAL_ADDRESS;
  return env;
}

/** A Temporal client connection to the agent of a CLI's environment, made as the CLI makes it (mTLS to an isolated agent). */
export async function agentConnection(env: NodeJS.ProcessEnv): Promise<Connection> {
  return Connection.connect(await temporalConnectionOptions(readEnv(env)));
}

/** The environment Temporal's own CLI needs to reach that agent (as `reprise agent env` prints it). */
export async function agentTemporalCliEnv(env: NodeJS.ProcessEnv): Promise<Record<string, string>> {
  return temporalCliEnv(readEnv(env));
}
