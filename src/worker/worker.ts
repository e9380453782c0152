import { DefaultLogger, NativeConnection, Runtime, Worker, type LogLevel } from '@temporalio/worker';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createActivities } from '../activities/index.js';
import { createBackend } from '../backends/registry.js';
import { dockerClient } from '../images/engine.js';
import type { RepriseEnv } from '../config/env.js';
import type { Logger } from '../logger.js';
import { backendUnavailable } from '../errors.js';

/** Prebuilt by `npm run build` (scripts/bundle-workflows.js) so workers start in a second. */
const prebuiltBundle = fileURLToPath(new URL('../workflow-bundle.js', import.meta.url));
const workflowsPath = fileURLToPath(new URL('../workflows/index.js', import.meta.url));

export async function createWorker(env: RepriseEnv, address: string, logger: Logger): Promise<Worker> {
  let connection: NativeConnection;
  try {
    connection = await NativeConnection.connect({ address });
  } catch (err) {
    throw backendUnavailable(`cannot reach the Temporal server at ${address}; start it (reprise agent start) or fix TEMPORAL_ADDRESS`, err);
  }
  const activities = createActivities({ home: env.home, logger, docker: dockerClient(), createBackend });
  return Worker.create({
    connection,
    namespace: env.temporalNamespace,
    taskQueue: env.taskQueue,
    activities,
    ...(existsSync(prebuiltBundle) ? { workflowBundle: { codePath: prebuiltBundle } } : { workflowsPath: resolveWorkflowsPath() }),
  });
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
