import { Connection } from '@temporalio/client';
import { spawn } from 'node:child_process';
import { existsSync, openSync, closeSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { paths, type RepriseEnv } from '../config/env.js';
import { backendUnavailable } from '../errors.js';
import { withFileLock } from '../project/lock.js';
import { findTemporalBinary } from './temporal-cli.js';

/**
 * The agent: a Temporal server (embedded dev server unless TEMPORAL_ADDRESS is set) and a
 * worker, both detached so they outlive the CLI that started them.
 */
export interface AgentState {
  address: string;
  embedded: boolean;
  temporalPid?: number;
  workerPid?: number;
  uiUrl?: string;
}

export interface AgentStatus extends AgentState {
  temporalUp: boolean;
  workerUp: boolean;
  workerPollers: number;
}

const stateFile = (env: RepriseEnv) => join(paths.agentDir(env.home), 'agent.json');
const binRun = fileURLToPath(new URL('../../bin/run.js', import.meta.url));

export function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readState(env: RepriseEnv): Promise<AgentState | undefined> {
  try {
    return JSON.parse(await readFile(stateFile(env), 'utf8')) as AgentState;
  } catch {
    return undefined;
  }
}

export function agentAddress(env: RepriseEnv): string {
  return env.temporalAddress ?? `127.0.0.1:${env.embeddedPort}`;
}

async function reachable(address: string, timeoutMs = 2000): Promise<Connection | undefined> {
  try {
    const connection = await Connection.connect({ address, connectTimeout: timeoutMs });
    await connection.healthService.check({});
    return connection;
  } catch {
    return undefined;
  }
}

export async function workerPollers(connection: Connection, env: RepriseEnv): Promise<number> {
  const res = await connection.workflowService.describeTaskQueue({
    namespace: env.temporalNamespace,
    taskQueue: { name: env.taskQueue },
    taskQueueType: 1, // workflow task queue
  });
  return res.pollers?.length ?? 0;
}

export async function agentStatus(env: RepriseEnv): Promise<AgentStatus> {
  const state = (await readState(env)) ?? { address: agentAddress(env), embedded: !env.temporalAddress };
  const connection = await reachable(agentAddress(env));
  let pollers = 0;
  if (connection) {
    pollers = await workerPollers(connection, env).catch(() => 0);
    await connection.close();
  }
  return { ...state, address: agentAddress(env), temporalUp: Boolean(connection), workerUp: alive(state.workerPid), workerPollers: pollers };
}

/**
 * Make sure a Temporal server answers and a worker serves the task queue; start what is missing.
 * Returns the open connection (the caller closes it), so a command connects only once.
 */
export async function ensureAgent(env: RepriseEnv): Promise<{ state: AgentState; connection: Connection }> {
  const address = agentAddress(env);
  const dir = paths.agentDir(env.home);
  await mkdir(dir, { recursive: true });
  return withFileLock(join(dir, 'start.lock'), async () => {
    const previous = await readState(env);
    const state: AgentState = { address, embedded: !env.temporalAddress };
    let connection = await reachable(address);
    if (!connection) {
      if (env.temporalAddress) {
        throw backendUnavailable(`cannot reach the Temporal server at ${address} (TEMPORAL_ADDRESS); start it or fix TEMPORAL_ADDRESS`);
      }
      state.temporalPid = startTemporal(env, dir);
      await saveState(env, state); // recorded at once, so `agent stop` can stop it whatever happens next
      connection = await waitFor(() => reachable(address), 60_000, () => alive(state.temporalPid));
      if (!connection) {
        throw backendUnavailable(`the embedded Temporal server did not start on ${address}; see ${join(dir, 'temporal.log')}`);
      }
    } else if (!env.temporalAddress) {
      // Something answers on our port: only reuse it if this REPRISE_HOME's agent started it,
      // else runs would land on a stranger's worker with another home (and another user's config).
      if (!previous?.temporalPid || !alive(previous.temporalPid)) {
        await connection.close();
        throw backendUnavailable(
          `port ${env.embeddedPort} is taken by a Temporal server this agent (REPRISE_HOME=${env.home}) did not start; stop it, set REPRISE_TEMPORAL_PORT to a free port, or point TEMPORAL_ADDRESS at it`,
        );
      }
      state.temporalPid = previous.temporalPid;
    }
    if (state.embedded && env.embeddedUiPort) state.uiUrl = `http://127.0.0.1:${env.embeddedUiPort}`;
    try {
      if (previous?.workerPid && alive(previous.workerPid)) {
        state.workerPid = previous.workerPid;
      } else if ((await workerPollers(connection, env)) === 0 || !env.temporalAddress) {
        state.workerPid = startWorker(env, dir, address);
        await saveState(env, state);
        const up = await waitFor(async () => ((await workerPollers(connection!, env)) > 0 ? true : undefined), 60_000, () => alive(state.workerPid));
        if (!up) throw backendUnavailable(`the Reprise worker did not start; see ${join(dir, 'worker.log')}`);
      }
      await saveState(env, state);
    } catch (err) {
      await connection.close();
      throw err;
    }
    return { state, connection };
  });
}

async function saveState(env: RepriseEnv, state: AgentState): Promise<void> {
  await writeFile(stateFile(env), JSON.stringify(state, null, 2));
}

export async function stopAgent(env: RepriseEnv): Promise<{ stopped: string[] }> {
  const state = await readState(env);
  const stopped: string[] = [];
  for (const [name, pid] of [['worker', state?.workerPid], ['temporal', state?.temporalPid]] as const) {
    if (!alive(pid)) continue;
    process.kill(pid!, 'SIGTERM');
    if (!(await waitFor(async () => (alive(pid) ? undefined : true), 20_000))) process.kill(pid!, 'SIGKILL');
    stopped.push(name);
  }
  await rm(stateFile(env), { force: true });
  return { stopped };
}

function startTemporal(env: RepriseEnv, dir: string): number {
  const bin = findTemporalBinary();
  const args = [
    'server', 'start-dev',
    '--ip', '127.0.0.1',
    '--port', String(env.embeddedPort),
    '--db-filename', join(dir, 'temporal.db'),
    '--namespace', env.temporalNamespace,
    '--log-level', 'warn',
  ];
  args.push(...(env.embeddedUiPort ? ['--ui-port', String(env.embeddedUiPort)] : ['--headless']));
  return spawnDetached(bin, args, join(dir, 'temporal.log'), process.env);
}

function startWorker(env: RepriseEnv, dir: string, address: string): number {
  if (!existsSync(binRun)) throw new Error(`cannot start a worker: ${binRun} is missing`);
  return spawnDetached(process.execPath, [binRun, 'worker'], join(dir, 'worker.log'), {
    ...process.env,
    TEMPORAL_ADDRESS: address,
    REPRISE_HOME: env.home,
    LOG_FORMAT: 'json',
  });
}

function spawnDetached(cmd: string, args: string[], logFile: string, childEnv: NodeJS.ProcessEnv): number {
  const fd = openSync(logFile, 'a');
  try {
    const child = spawn(cmd, args, { detached: true, stdio: ['ignore', fd, fd], env: childEnv });
    child.unref();
    return child.pid!;
  } finally {
    closeSync(fd);
  }
}

async function waitFor<T>(probe: () => Promise<T | undefined>, timeoutMs: number, stillHope: () => boolean = () => true): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (!stillHope()) return undefined;
    await new Promise((r) => setTimeout(r, 250));
  }
  return undefined;
}
