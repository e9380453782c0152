import { formatMemory, parseMemory } from '../config/resources.js';
import type { SkippedOutput } from '../project/tar-members.js';

/**
 * The largest file a run's output/ may hand back (its apparent size: a sparse file counts whole).
 * Larger files are left on the backend and named in the record, never copied into git.
 */
export const DEFAULT_MAX_OUTPUT_FILE = 2 ** 30;

export function maxOutputFileBytes(env: NodeJS.ProcessEnv = process.env): number {
  const text = env.REPRISE_MAX_OUTPUT_FILE;
  if (!text) return DEFAULT_MAX_OUTPUT_FILE;
  try {
    return parseMemory(text);
  } catch {
    return DEFAULT_MAX_OUTPUT_FILE; // a bad setting must not lose a run's other outputs
  }
}

export function tooLarge(path: string, size: number, max: number): SkippedOutput {
  return { path, why: `${size} bytes, more than the ${formatMemory(max)} an output file may be (REPRISE_MAX_OUTPUT_FILE)` };
}
