// A worker in its own process (run with tsx), so tests can kill it like a crash would.
import { createWorker } from '../../src/worker/worker.js';
import { readEnv } from '../../src/config/env.js';
import { createLogger } from '../../src/logger.js';

const env = readEnv();
const worker = await createWorker(env, { address: env.temporalAddress! }, createLogger({ component: 'test-worker' }));
process.stdout.write('worker ready\n');
await worker.run();
