import { MockActivityEnvironment } from '@temporalio/testing';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunInput } from '../../../src/activities/types.js';
import { takeDueStep } from '../../../src/backends/due-step.js';
import { TIMEOUT_EXIT_CODE, timeLimitReason, type Backend, type JobHandle, type JobStatus } from '../../../src/backends/types.js';
import { fakeJobBackend, jobActivitiesWith } from './fake-job-backend.js';

/**
 * A backend whose job waits for its sources, then runs past its time limit: status() only
 * reads the state, shipSources and enforceTimeLimit move it on. `calls` is every call, in order.
 */
function fakeBackend(start: 'waiting for sources' | 'past its limit') {
  let state: 'waiting for sources' | 'past its limit' | 'timed out' = start;
  const calls: string[] = [];
  const backend = fakeJobBackend(calls, {
    status: async (): Promise<JobStatus> => {
      calls.push('status');
      if (state === 'waiting for sources') return { phase: 'pending', due: 'sources' };
      if (state === 'past its limit') return { phase: 'running', due: 'time-limit' };
      return { phase: 'exited', exitCode: TIMEOUT_EXIT_CODE, reason: timeLimitReason('0:00:02') };
    },
    shipSources: async () => {
      calls.push('shipSources');
      if (state === 'waiting for sources') state = 'past its limit';
    },
    enforceTimeLimit: async () => {
      calls.push('enforceTimeLimit');
      if (state === 'past its limit') state = 'timed out';
    },
    logs: async () => Readable.from([Buffer.from('hello\n')]),
  });
  return { backend, calls };
}

let home: string;
beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'reprise-due-'));
});
afterEach(async () => {
  await rm(home, { recursive: true, force: true });
});

const activitiesWith = (backend: Backend) => jobActivitiesWith(home, backend, 10);

const input: RunInput = { runId: 'run-due', projectRoot: '/nonexistent', backend: 'local', command: ['true'], resources: { timeSeconds: 2 } };
const handle: JobHandle = { kind: 'fake', runId: 'run-due', jobId: 'j1' };

describe('the activities that wait on a job take the step its status says is due', () => {
  it('awaitJob ships the sources, then stops the job past its time limit: exit code 124 and the reason', async () => {
    const { backend, calls } = fakeBackend('waiting for sources');
    const status = await new MockActivityEnvironment().run(activitiesWith(backend).awaitJob, input, handle);
    expect(status).toMatchObject({ phase: 'exited', exitCode: 124, reason: 'time limit 0:00:02 exceeded' });
    expect(calls).toEqual(['status', 'shipSources', 'status', 'status', 'enforceTimeLimit', 'status']);
  });

  it('awaitStart ships the sources of a pod that waits for them, and returns once the job runs', async () => {
    const { backend, calls } = fakeBackend('waiting for sources');
    const status = await new MockActivityEnvironment().run(activitiesWith(backend).awaitStart, input, handle);
    expect(status).toMatchObject({ phase: 'running' });
    expect(calls.slice(0, 3)).toEqual(['status', 'shipSources', 'status']);
  });

  it('jobStatus only reads: the step stays due, nothing is done to the job', async () => {
    const { backend, calls } = fakeBackend('past its limit');
    const activities = activitiesWith(backend);
    expect(await new MockActivityEnvironment().run(activities.jobStatus, input, handle)).toEqual({ phase: 'running', due: 'time-limit' });
    expect(await new MockActivityEnvironment().run(activities.jobStatus, input, handle)).toEqual({ phase: 'running', due: 'time-limit' });
    expect(calls).toEqual(['status', 'status']);
  });
});

describe('takeDueStep', () => {
  it('calls the method for the step and reads the status again', async () => {
    const { backend, calls } = fakeBackend('past its limit');
    expect(await takeDueStep(backend, handle, 'time-limit')).toMatchObject({ phase: 'exited', exitCode: 124 });
    expect(calls).toEqual(['enforceTimeLimit', 'status']);
  });

  it('fails in one line when the backend reports a step it has no method for', async () => {
    const { backend } = fakeBackend('waiting for sources');
    delete backend.shipSources;
    await expect(takeDueStep(backend, handle, 'sources')).rejects.toThrow('the fake backend reports step "sources" due but has no shipSources()');
  });
});
