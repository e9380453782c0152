import { Readable } from 'node:stream';
import { pino } from 'pino';
import { createRunContext } from '../../../src/activities/context.js';
import { createJobActivities } from '../../../src/activities/job.js';
import type { Backend } from '../../../src/backends/types.js';

/** A backend for the job activities' unit tests: `parts` says how its job moves; the rest does nothing (cancel is counted in `calls`). */
export function fakeJobBackend(calls: string[], parts: Pick<Backend, 'status'> & Partial<Backend>): Backend {
  return {
    kind: 'fake',
    check: async () => ({ kind: 'fake', version: '0', details: {} }),
    stage: async () => ({ image: 'i', sources: 's' }),
    submit: async (job) => ({ kind: 'fake', runId: job.runId, jobId: 'j1' }),
    logs: async () => Readable.from([]),
    cancel: async () => void calls.push('cancel'),
    collect: async () => ({ skipped: [] }),
    cleanup: async () => undefined,
    ...parts,
  };
}

/** The job activities of a worker whose every backend (the built-in `local` included) is `backend`: no engine is asked. */
export function jobActivitiesWith(home: string, backend: Backend, pollIntervalMs: number) {
  return createJobActivities(createRunContext({ home, logger: pino({ level: 'silent' }), docker: undefined as never, createBackend: async () => backend, pollIntervalMs }));
}
