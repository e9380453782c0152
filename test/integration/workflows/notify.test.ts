// The workflows' side of notifications, against a real Temporal dev server with stubbed
// activities (the fakes belong here): a run announces itself once recorded and its result does not
// wait for the delivery; a sweep's point does not announce; a lab that times out does; a worker
// without notifiers starts no notify workflow; a delivery that fails for good does not fail.
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { ApplicationFailure } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EndedEvent, LabResult, RunInput, RunResult } from '../../../src/activities/types.js';
import { newRunId } from '../../../src/client/ids.js';
import { startTemporal, workflowsPath } from '../../helpers/temporal.js';

const COMMIT = 'c'.repeat(40);
const image = { digest: `sha256:${'a'.repeat(64)}`, environment: 'abcdef', reused: true };
const handle = (runId: string) => ({ kind: 'docker', runId, jobId: 'f'.repeat(64) });

let env: TestWorkflowEnvironment;
let worker: Worker;
let running: Promise<void>;
const taskQueue = 'it-notify';
const announced: EndedEvent[] = [];
let configured = true;
/** What notifyEnded does with the next event: resolve when `release` is called, or fail for good. */
let delivery: 'held' | 'refused' = 'held';
const held: (() => void)[] = [];
let exitCode = 0;

const stubs = {
  resolveTarget: async (backend: string) => ({ members: [backend] }),
  prepare: async () => ({ sourceCommit: COMMIT, swept: false, branch: 'refs/heads/main' }),
  findImage: async () => image,
  publishImage: async () => image,
  buildLabImage: async () => image,
  stage: async () => ({ image: 'img', sources: '/tmp/src' }),
  requestSlot: async () => false,
  submit: async (input: RunInput) => handle(input.runId),
  awaitJob: async () => ({ phase: 'exited', exitCode }),
  collect: async () => ({ skipped: [] }),
  record: async () => ({ commit: COMMIT }),
  cleanup: async () => undefined,
  labCheckpoint: async (r: { checkpoint: number }) => ({ checkpoint: r.checkpoint, commit: COMMIT, executions: 0, files: 0, notWritten: [] }),
  notifiersConfigured: async () => configured,
  notifyEnded: async (event: EndedEvent) => {
    announced.push(event);
    if (delivery === 'refused') throw ApplicationFailure.nonRetryable('webhook https://hooks.example.com answered HTTP 404');
    await new Promise<void>((r) => held.push(r));
    return [{ notifier: 'hook', result: 'sent' }];
  },
};

beforeAll(async () => {
  env = await startTemporal();
  worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowsPath, activities: stubs });
  running = worker.run();
});

afterAll(async () => {
  for (const release of held) release();
  worker?.shutdown();
  await running;
  await env?.teardown();
});

const runInput = (over: Partial<RunInput> = {}): RunInput => ({ runId: newRunId(), projectRoot: '/p', backend: 'local', command: ['true'], resources: {}, ...over });
const execute = <T>(type: string, input: RunInput) => env.client.workflow.execute(type, { workflowId: input.runId, taskQueue, args: [input] }) as Promise<T>;

async function until(test: () => boolean): Promise<void> {
  for (let i = 0; i < 300 && !test(); i++) await new Promise((r) => setTimeout(r, 50));
  expect(test()).toBe(true);
}

describe('announcing the end', () => {
  it('a recorded run starts <id>.notify and returns without waiting for the delivery', async () => {
    delivery = 'held';
    const input = runInput();
    const result = await execute<RunResult>('runProject', input);
    expect(result).toMatchObject({ state: 'succeeded', commit: COMMIT });
    await until(() => announced.some((e) => e.id === input.runId));
    expect(announced.filter((e) => e.id === input.runId)).toEqual([{ kind: 'run', id: input.runId, commit: COMMIT, projectRoot: '/p' }]);
    // The run is complete while its notice is still being delivered.
    const notice = env.client.workflow.getHandle(`${input.runId}.notify`);
    expect((await notice.describe()).status.name).toBe('RUNNING');
    held.shift()!();
    expect(await notice.result()).toEqual([{ notifier: 'hook', result: 'sent' }]);
  });

  it('a point of a sweep does not announce (its sweep does, once)', async () => {
    const input = runInput({ sweep: { sweepId: 'sweep-aaaaaaaaaaaa', index: 0, params: { n: '1' } }, prepared: { sources: { sourceCommit: COMMIT, swept: false }, image } });
    await execute<RunResult>('runProject', input);
    await expect(env.client.workflow.getHandle(`${input.runId}.notify`).describe()).rejects.toThrow(/not found/i);
    expect(announced.some((e) => e.id === input.runId)).toBe(false);
  });

  it('a worker without notifiers starts no notify workflow', async () => {
    configured = false;
    try {
      const input = runInput();
      await execute<RunResult>('runProject', input);
      await expect(env.client.workflow.getHandle(`${input.runId}.notify`).describe()).rejects.toThrow(/not found/i);
    } finally {
      configured = true;
    }
  });

  it('a lab that times out announces its last checkpoint', async () => {
    exitCode = 124;
    try {
      const input = runInput({ runId: `lab-${newRunId().slice(4)}`, lab: { port: 8888, checkpointSeconds: 3600 } });
      const result = await execute<LabResult>('labSession', input);
      expect(result.state).toBe('timed out');
      await until(() => announced.some((e) => e.id === input.runId));
      expect(announced.find((e) => e.id === input.runId)).toEqual({ kind: 'lab', id: input.runId, commit: COMMIT, projectRoot: '/p' });
      held.shift()!();
    } finally {
      exitCode = 0;
    }
  });

  it('a delivery refused for good ends the notice workflow without failing it', async () => {
    delivery = 'refused';
    const input = runInput();
    await execute<RunResult>('runProject', input);
    expect(await env.client.workflow.getHandle(`${input.runId}.notify`).result()).toEqual([]);
  });
});
