import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { fileURLToPath } from 'node:url';
import { findTemporalBinary } from '../../src/client/temporal-cli.js';
import { createActivities, type ActivityDeps } from '../../src/activities/index.js';
import { createBackend } from '../../src/backends/registry.js';
import { dockerClient } from '../../src/images/engine.js';
import { createLogger } from '../../src/logger.js';

// Keep test output readable: the SDK logs worker state changes at INFO.
try {
  Runtime.install({ logger: new DefaultLogger('WARN') });
} catch {
  /* already installed in this process */
}

export const workflowsPath = fileURLToPath(new URL('../../src/workflows/index.ts', import.meta.url));

/** A real Temporal dev server (the official binary; never downloaded at test time). */
export async function startTemporal(): Promise<TestWorkflowEnvironment> {
  return TestWorkflowEnvironment.createLocal({
    server: { executable: { type: 'existing-path', path: findTemporalBinary() }, extraArgs: ['--log-level', 'error'] },
  });
}

export function testActivities(home: string, over: Partial<ActivityDeps> = {}) {
  return createActivities({
    home,
    logger: createLogger({ component: 'test' }),
    docker: dockerClient(),
    createBackend,
    pollIntervalMs: 200,
    ...over,
  });
}

export async function startWorker(env: TestWorkflowEnvironment, taskQueue: string, activities: object): Promise<{ worker: Worker; running: Promise<void> }> {
  const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowsPath, activities });
  const running = worker.run();
  return { worker, running };
}
