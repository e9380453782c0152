import { randomBytes } from 'node:crypto';

/** Workflow ids of runs, sweeps and labs: the kind, "-", 12 base32 characters. */
export function newWorkflowId(kind: 'run' | 'sweep' | 'lab'): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  return `${kind}-` + Array.from(randomBytes(12), (b) => alphabet[b % 32]).join('');
}

/** Run ids: "run-" + 12 base32 characters (the first 8 are the short id). */
export const newRunId = () => newWorkflowId('run');
