import type { Backend, DueStep, JobHandle, JobStatus } from './types.js';

/** The method that takes each step a status may ask for. */
const stepMethod = { 'time-limit': 'enforceTimeLimit', sources: 'shipSources' } as const satisfies Record<DueStep, keyof Backend>;

/**
 * Take the step the job's status says is due (JobStatus.due), then read the status again: what
 * awaits a job calls it after each status() that sets `due`, so the job goes on.
 */
export async function takeDueStep(backend: Backend, handle: JobHandle, due: DueStep): Promise<JobStatus> {
  const method = stepMethod[due];
  const step = backend[method];
  // A backend that reports a step owes the method: without it the job would wait forever.
  if (!step) throw new Error(`the ${backend.kind} backend reports step "${due}" due but has no ${method}()`);
  await step.call(backend, handle);
  return backend.status(handle);
}
