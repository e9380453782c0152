import { Connection } from '@temporalio/client';
import { spawn } from 'node:child_process';
import { existsSync, openSync, closeSync, readFileSync } from 'node:fs';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expandHome, paths, type RepriseEnv } from '../config/env.js';
import { backendUnavailable } from '../errors.js';
import { withFileLock } from '../project/lock.js';
import { findTemporalBinary } from './temporal-cli.js';
import { AGENT_SERVER_NAME, agentClientTls, agentTlsFiles, ensureAgentTls } from './agent-tls.js';
import { ISOLATION_ENV, startIsolatedTemporal } from './agent-isolation.js';
import { TEMPORAL_ENV, resolveTemporalAuth, type TemporalConnectionOptions } from '../config/temporal-tls.js';
import { loadUserConfig } from '../backends/user-config.js';

export type { TemporalConnectionOptions };

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
  /**
   * The embedded server runs in a private network namespace behind an mTLS relay that only this
   * account's client certificate passes (agent-isolation.ts). False: REPRISE_AGENT_ISOLATION=off.
   */
  isolated?: boolean;
}

export interface AgentStatus extends AgentState {
  temporalUp: boolean;
  workerUp: boolean;
  workerPollers: number;
  /** Who can reach this Temporal server, in one sentence. */
  protection: string;
}


const stateFile = (env: RepriseEnv) => join(paths.agentDir(env.home), 'agent.json');
const binRun = fileURLToPath(new URL('../../bin/run.js', import.meta.url));

export function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A killed agent process whose parent (init, in a container often a program that does not reap)
  // has not collected it yet is a zombie: it answers signals but is gone.
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return true; // no /proc (not Linux): the signal said it is there
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

/**
 * How to reach this home's Temporal: TEMPORAL_ADDRESS with the user's TLS settings, or the
 * embedded agent with its own client certificate when it runs isolated (as the agent that is
 * running says, else as REPRISE_AGENT_ISOLATION asks).
 */
export async function temporalConnectionOptions(env: RepriseEnv): Promise<TemporalConnectionOptions> {
  const address = agentAddress(env);
  if (env.temporalAddress) {
    const auth = await resolveTemporalAuth(env.temporalAuthEnv, (await loadUserConfig(env.home)).temporal);
    return { address, ...auth };
  }
  const running = await readState(env);
  const isolated = running?.temporalPid && alive(running.temporalPid) ? Boolean(running.isolated) : env.agentIsolation;
  if (!isolated || !existsSync(agentTlsFiles(paths.agentDir(env.home)).clientKey)) return { address };
  return { address, tls: await agentClientTls(paths.agentDir(env.home)) };
}

/**
 * The variables Temporal's own tools read (TEMPORAL_ADDRESS, TEMPORAL_TLS_*), for this home's
 * Temporal: the agent's certificate files, or the TLS files of the user config with
 * TEMPORAL_ADDRESS. Names files, never a key's content or an API key.
 */
export async function temporalCliEnv(env: RepriseEnv): Promise<Record<string, string>> {
  const vars: Record<string, string> = { TEMPORAL_ADDRESS: agentAddress(env), TEMPORAL_NAMESPACE: env.temporalNamespace };
  const options = await temporalConnectionOptions(env); // checks the settings: bad ones exit 2 here too
  if (env.temporalAddress) {
    const tls = (await loadUserConfig(env.home)).temporal?.tls;
    const fromConfig: Record<string, string | undefined> = {
      [TEMPORAL_ENV.serverCaCertPath]: tls?.serverCaCertPath,
      [TEMPORAL_ENV.clientCertPath]: tls?.clientCertPath,
      [TEMPORAL_ENV.clientKeyPath]: tls?.clientKeyPath,
      [TEMPORAL_ENV.serverName]: tls?.serverName,
    };
    for (const [name, value] of Object.entries({ ...fromConfig, ...env.temporalAuthEnv })) {
      if (value && name !== TEMPORAL_ENV.apiKey) vars[name] = name.endsWith('_PATH') ? expandHome(value) : value;
    }
    if (options.tls) vars[TEMPORAL_ENV.tls] = 'true';
  } else if (options.tls) {
    const files = agentTlsFiles(paths.agentDir(env.home));
    Object.assign(vars, {
      [TEMPORAL_ENV.serverCaCertPath]: files.ca,
      [TEMPORAL_ENV.clientCertPath]: files.clientCert,
      [TEMPORAL_ENV.clientKeyPath]: files.clientKey,
      [TEMPORAL_ENV.serverName]: AGENT_SERVER_NAME,
    });
  }
  return vars;
}

/** Connect to this home's Temporal (see temporalConnectionOptions); bad TLS settings throw exit 2. */
export async function connectTemporal(env: RepriseEnv, connectTimeout: number): Promise<Connection> {
  return Connection.connect({ ...(await temporalConnectionOptions(env)), connectTimeout });
}

async function reachable(env: RepriseEnv, timeoutMs = 2000): Promise<Connection | undefined> {
  const options = await temporalConnectionOptions(env); // bad settings: thrown, not "unreachable"
  try {
    const connection = await Connection.connect({ ...options, connectTimeout: timeoutMs });
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
  const connection = await reachable(env);
  let pollers = 0;
  if (connection) {
    pollers = await workerPollers(connection, env).catch(() => 0);
    await connection.close();
  }
  return { ...state, address: agentAddress(env), temporalUp: Boolean(connection), workerUp: alive(state.workerPid), workerPollers: pollers, protection: await describeProtection(env, state) };
}

async function describeProtection(env: RepriseEnv, state: AgentState): Promise<string> {
  if (env.temporalAddress) {
    const { tls, apiKey } = await temporalConnectionOptions(env);
    const how = [tls?.clientCertPair ? 'mTLS' : tls ? 'TLS' : 'plain gRPC, no TLS', ...(apiKey ? ['an API key'] : [])].join(' and ');
    return `whoever the Temporal server at ${env.temporalAddress} admits (its operator's settings); this client connects with ${how}`;
  }
  const isolated = state.isolated ?? env.agentIsolation;
  return isolated
    ? `only this account: Temporal runs in a private network namespace, reached through an mTLS relay that requires the client certificate in ${agentTlsFiles(paths.agentDir(env.home)).dir}`
    : `NOT protected (${ISOLATION_ENV}=off): every local account can reach Temporal at ${agentAddress(env)}`;
}

/**
 * Make sure a Temporal server answers and a worker serves the task queue; start what is missing.
 * Returns the open connection (the caller closes it), so a command connects only once.
 */
export async function ensureAgent(env: RepriseEnv): Promise<{ state: AgentState; connection: Connection }> {
  const address = agentAddress(env);
  const dir = paths.agentDir(env.home);
  await mkdir(dir, { recursive: true });
  await chmod(dir, 0o700); // its database holds every run's history: this account's only
  return withFileLock(join(dir, 'start.lock'), async () => {
    const previous = await readState(env);
    const state: AgentState = { address, embedded: !env.temporalAddress };
    let connection = await reachable(env);
    if (!connection) {
      if (env.temporalAddress) {
        throw backendUnavailable(`cannot reach the Temporal server at ${address} (TEMPORAL_ADDRESS); start it or fix TEMPORAL_ADDRESS`);
      }
      state.isolated = env.agentIsolation;
      state.temporalPid = await startTemporal(env, dir);
      await saveState(env, state); // recorded at once, so `agent stop` can stop it whatever happens next
      connection = await waitFor(() => reachable(env), 60_000, () => alive(state.temporalPid));
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
      state.isolated = previous.isolated;
    }
    if (state.embedded && !state.isolated && env.embeddedUiPort) state.uiUrl = `http://127.0.0.1:${env.embeddedUiPort}`;
    try {
      if (previous?.workerPid && alive(previous.workerPid)) {
        state.workerPid = previous.workerPid;
      } else if ((await workerPollers(connection, env)) === 0 || !env.temporalAddress) {
        state.workerPid = startWorker(env, dir);
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

async function startTemporal(env: RepriseEnv, dir: string): Promise<number> {
  const bin = findTemporalBinary();
  const args = ['server', 'start-dev', '--db-filename', join(dir, 'temporal.db'), '--namespace', env.temporalNamespace, '--log-level', 'warn'];
  const logFile = join(dir, 'temporal.log');
  if (env.agentIsolation) {
    await ensureAgentTls(dir);
    return startIsolatedTemporal({ agentDir: dir, port: env.embeddedPort, temporalBin: bin, temporalArgs: args, logFile });
  }
  args.push('--ip', '127.0.0.1', '--port', String(env.embeddedPort));
  args.push(...(env.embeddedUiPort ? ['--ui-port', String(env.embeddedUiPort)] : ['--headless']));
  return spawnDetached(bin, args, logFile, process.env);
}

function startWorker(env: RepriseEnv, dir: string): number {
  if (!existsSync(binRun)) throw new Error(`cannot start a worker: ${binRun} is missing`);
  const childEnv: NodeJS.ProcessEnv = { ...process.env, REPRISE_HOME: env.home, REPRISE_TEMPORAL_PORT: String(env.embeddedPort), LOG_FORMAT: 'json' };
  // The worker finds the embedded server as this CLI did (agent.json says how to reach it).
  if (env.temporalAddress) childEnv.TEMPORAL_ADDRESS = env.temporalAddress;
  else delete childEnv.TEMPORAL_ADDRESS;
  return spawnDetached(process.execPath, [binRun, 'worker'], join(dir, 'worker.log'), childEnv);
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
