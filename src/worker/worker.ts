import { DefaultLogger, NativeConnection, Runtime, Worker, type LogLevel } from '@temporalio/worker';
import { existsSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { fileURLToPath } from 'node:url';
import { createActivities } from '../activities/index.js';
import { createBackend } from '../backends/registry.js';
import { dockerClient } from '../images/engine.js';
import { backendQueue, type RepriseEnv } from '../config/env.js';
import type { TemporalConnectionOptions } from '../config/temporal-tls.js';
import type { Logger } from '../logger.js';
import { backendUnavailable } from '../errors.js';

/** Prebuilt by `npm run build` (scripts/bundle-workflows.js) so workers start in a second. */
const prebuiltBundle = fileURLToPath(new URL('../workflow-bundle.js', import.meta.url));
const workflowsPath = fileURLToPath(new URL('../workflows/index.js', import.meta.url));

export interface WorkerOptions {
  /**
   * Serve only these backends' runs, on one task queue each (team mode). Without it the worker
   * serves the one queue of the single-machine agent, with every backend of its config.
   */
  backends?: string[];
  /** Who this worker is, in Temporal and in the records of the runs it executes. */
  identity?: string;
}

/** The task queues a worker polls: one per backend it serves, or the agent's single queue. */
export const workerQueues = (env: RepriseEnv, backends?: string[]) => (backends?.length ? backends.map((b) => backendQueue(env, b)) : [env.taskQueue]);

export const defaultIdentity = () => `${userInfo().username}@${hostname()}/${process.pid}`;

/** One Temporal worker per task queue, sharing one connection and one set of activities. */
export async function createWorkers(env: RepriseEnv, server: TemporalConnectionOptions, logger: Logger, options: WorkerOptions = {}): Promise<Worker[]> {
  let connection: NativeConnection;
  try {
    connection = await NativeConnection.connect(server);
  } catch (err) {
    throw backendUnavailable(`cannot reach the Temporal server at ${server.address}; start it (reprise agent start) or fix TEMPORAL_ADDRESS and its TLS settings`, err);
  }
  const identity = options.identity ?? defaultIdentity();
  const activities = createActivities({ home: env.home, logger, docker: dockerClient(), createBackend, workerIdentity: identity, servedBackends: options.backends });
  return Promise.all(
    workerQueues(env, options.backends).map((taskQueue) =>
      Worker.create({
        connection,
        namespace: env.temporalNamespace,
        taskQueue,
        identity,
        activities,
        // Live output rides on awaitJob's heartbeats (client/follow.ts): send them every second,
        // not every 0.8 × heartbeat timeout, so a remote client sees lines within about a second.
        maxHeartbeatThrottleInterval: '1s',
        ...(existsSync(prebuiltBundle) ? { workflowBundle: { codePath: prebuiltBundle } } : { workflowsPath: resolveWorkflowsPath() }),
      }),
    ),
  );
}

/** The single-queue worker of the local agent (and of tests). */
export async function createWorker(env: RepriseEnv, server: TemporalConnectionOptions, logger: Logger): Promise<Worker> {
  return (await createWorkers(env, server, logger))[0]!;
}

function resolveWorkflowsPath(): string {
  // Running from sources (tests): the .ts file sits where the .js would.
  return existsSync(workflowsPath) ? workflowsPath : workflowsPath.replace(/\.js$/, '.ts');
}

const pinoLevel: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' };

/** The SDK's own logs (worker state, workflow `log`) go through pino too: one log format. */
export function routeSdkLogs(logger: Logger): void {
  const sdk = logger.child({ source: 'temporal-sdk' });
  Runtime.install({
    logger: new DefaultLogger('INFO', ({ level, message, meta }) => sdk[pinoLevel[level]](meta ?? {}, message)),
  });
}
