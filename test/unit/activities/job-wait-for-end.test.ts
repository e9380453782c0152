import { MockActivityEnvironment } from '@temporalio/testing';
import { CancelledFailure } from '@temporalio/common';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AwaitDetails, RunInput } from '../../../src/activities/types.js';
import type { Backend, JobHandle, JobStatus } from '../../../src/backends/types.js';
import { fakeJobBackend, jobActivitiesWith } from './fake-job-backend.js';

/**
 * A backend whose job runs until `end()` (or `endsAfterMs`): waitForEnd answers as it ends, as
 * the Docker engine's wait does. `calls` is every status and wait, in order; `aborted` counts the
 * waits let go of by their signal.
 */
function waitingBackend(endsAfterMs?: number) {
  let endedAt: number | undefined;
  let ended!: () => void;
  const done = new Promise<void>((resolve) => (ended = resolve));
  const end = () => {
    endedAt ??= Date.now();
    ended();
  };
  if (endsAfterMs !== undefined) setTimeout(end, endsAfterMs);
  const calls: string[] = [];
  const aborted = { count: 0 };
  const backend = fakeJobBackend(calls, {
    status: async (): Promise<JobStatus> => {
      calls.push('status');
      return endedAt === undefined ? { phase: 'running' } : { phase: 'exited', exitCode: 0 };
    },
    waitForEnd: async (_handle, { signal }) => {
      calls.push('waitForEnd');
      await new Promise<void>((resolve) => {
        void done.then(resolve);
        signal?.addEventListener('abort', () => {
          aborted.count++;
          resolve();
        });
      });
    },
  });
  return { backend, calls, aborted, end, endedAt: () => endedAt };
}

let home: string;
beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'reprise-wait-'));
});
afterEach(async () => {
  await rm(home, { recursive: true, force: true });
});

const activitiesWith = (backend: Backend, pollIntervalMs: number) => jobActivitiesWith(home, backend, pollIntervalMs);

const input: RunInput = { runId: 'run-wait', projectRoot: '/nonexistent', backend: 'local', command: ['true'], resources: {} };
const handle: JobHandle = { kind: 'fake', runId: 'run-wait', jobId: 'j1' };

describe('awaitJob on a backend that can wait on a job’s end', () => {
  it('returns as the job ends, with no poll in between: one wait instead of the 50 ms…1 s sleeps', async () => {
    // Polling would read the status at 50, 150, 350, 750 and 1550 ms: 550 ms after this end.
    const { backend, calls, endedAt } = waitingBackend(1000);
    const status = await new MockActivityEnvironment().run(activitiesWith(backend, 1000).awaitJob, input, handle);
    const late = Date.now() - endedAt()!;
    expect(status).toMatchObject({ phase: 'exited', exitCode: 0 });
    expect(late).toBeLessThan(200);
    expect(calls).toEqual(['status', 'waitForEnd', 'status']);
  });

  it('heartbeats while it waits, as often as it would poll (followers read the log there)', async () => {
    const { backend } = waitingBackend(600);
    const env = new MockActivityEnvironment();
    const beats: AwaitDetails[] = [];
    env.on('heartbeat', (d: AwaitDetails) => beats.push(d));
    await env.run(activitiesWith(backend, 100).awaitJob, input, handle);
    // One beat after the first status, then one per 100 ms of the 600 ms wait.
    expect(beats.filter((d) => d?.phase === 'running').length).toBeGreaterThanOrEqual(4);
  });

  it('a cancel ends the wait at once: CancelledFailure, and the backend’s wait is let go of', async () => {
    const { backend, calls, aborted } = waitingBackend();
    const env = new MockActivityEnvironment();
    const awaiting = env.run(activitiesWith(backend, 1000).awaitJob, input, handle);
    await new Promise((r) => setTimeout(r, 200));
    expect(calls).toEqual(['status', 'waitForEnd']);
    const cancelledAt = Date.now();
    env.cancel();
    await expect(awaiting).rejects.toBeInstanceOf(CancelledFailure);
    expect(Date.now() - cancelledAt).toBeLessThan(200);
    expect(aborted.count).toBe(1);
    expect(calls).toEqual(['status', 'waitForEnd']);
  });

  it('a wait that ends without the job ending (its timeout) reads the status and waits again', async () => {
    const { backend, calls, end } = waitingBackend();
    let waits = 0;
    const wait = backend.waitForEnd!.bind(backend);
    // The first wait times out at once, as one whose timeoutMs passed; the second sees the end.
    backend.waitForEnd = async (h, options) => {
      if (waits++ === 0) return void calls.push('waitForEnd (timed out)');
      setTimeout(end, 50);
      return wait(h, options);
    };
    const status = await new MockActivityEnvironment().run(activitiesWith(backend, 1000).awaitJob, input, handle);
    expect(status).toMatchObject({ phase: 'exited' });
    expect(calls).toEqual(['status', 'waitForEnd (timed out)', 'status', 'waitForEnd', 'status']);
  });
});
