// A lab stopped while a periodic checkpoint is being taken, against a real Temporal dev server
// with stubbed activities: the stop waits for that checkpoint, and the last checkpoint gets the
// next number, so the session is recorded as stopped (before, it reused the number of the
// checkpoint that was cut short and found that running one already committed).
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { LabResult, RunInput } from '../../../src/activities/types.js';
import { newRunId } from '../../../src/client/ids.js';
import { startTemporal, workflowsPath } from '../../helpers/temporal.js';

const image = { digest: `sha256:${'a'.repeat(64)}`, environment: 'abcdef', reused: true };
let env: TestWorkflowEnvironment;
let worker: Worker;
let running: Promise<void>;
const taskQueue = 'it-lab-stop';
/** What the stubbed checkpoint committed, by number (committing is idempotent per number, as the real one is). */
const committed = new Map<number, { state: string; commit: string }>();
let inFlight = false;
let releaseJob: (() => void) | undefined;

const stubs = {
  prepare: async () => ({ sourceCommit: 'c'.repeat(40), swept: false, branch: 'refs/heads/main' }),
  findImage: async () => image,
  buildLabImage: async () => image,
  stage: async () => ({ image: 'img', sources: '/tmp/src' }),
  submit: async (input: RunInput) => ({ kind: 'docker', runId: input.runId, jobId: 'f'.repeat(64) }),
  // The job runs until it is cancelled (cancelJob below ends it).
  awaitJob: () => new Promise((resolve) => (releaseJob = () => resolve({ phase: 'exited', exitCode: 137 }))),
  cancelJob: async () => {
    releaseJob?.();
    return { phase: 'exited', exitCode: 137 };
  },
  cleanup: async () => undefined,
  labCheckpoint: async (r: { checkpoint: number; final?: { state: string } }) => {
    const done = committed.get(r.checkpoint);
    if (done) return { checkpoint: r.checkpoint, commit: done.commit, executions: 0, files: 0, notWritten: [] };
    inFlight = !r.final;
    // Copying the lab's files takes a while; the commit lands whatever the workflow thinks.
    if (!r.final) await new Promise((r2) => setTimeout(r2, 3000));
    const commit = String(r.checkpoint).repeat(40).slice(0, 40);
    committed.set(r.checkpoint, { state: r.final?.state ?? 'running', commit });
    inFlight = false;
    return { checkpoint: r.checkpoint, commit, executions: 0, files: 0, notWritten: [] };
  },
  notifiersConfigured: async () => false,
};

beforeAll(async () => {
  env = await startTemporal();
  worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowsPath, activities: stubs });
  running = worker.run();
});

afterAll(async () => {
  releaseJob?.();
  worker?.shutdown();
  await running;
  await env?.teardown();
});

it('a stop during a periodic checkpoint waits for it; the last checkpoint records the session as stopped under the next number', async () => {
  const input: RunInput = { runId: `lab-${newRunId().slice(4)}`, projectRoot: '/p', backend: 'local', command: ['true'], resources: {}, lab: { port: 8888, checkpointSeconds: 1 } };
  const handle = await env.client.workflow.start('labSession', { workflowId: input.runId, taskQueue, args: [input] });
  for (let i = 0; i < 200 && !inFlight; i++) await new Promise((r) => setTimeout(r, 50));
  expect(inFlight).toBe(true);
  await handle.cancel();
  const result = (await handle.result()) as LabResult;
  expect(result).toMatchObject({ state: 'stopped', checkpoints: 2, commit: '2'.repeat(40) });
  expect([...committed]).toEqual([
    [1, { state: 'running', commit: '1'.repeat(40) }],
    [2, { state: 'stopped', commit: '2'.repeat(40) }],
  ]);
}, 60_000);
