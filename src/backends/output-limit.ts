import { formatMemory, parseMemory } from '../config/resources.js';
import type { SkippedOutput } from '../project/tar-members.js';
import type { Collected } from './types.js';

/** How many files one collect may bring back, so a job cannot fill the worker's disk with inodes. */
export const DEFAULT_MAX_OUTPUT_FILES = 10_000;
/**
 * How many bytes one collect may bring back in all (apparent sizes: a sparse file counts whole).
 * No single file is left behind for its size: a large one becomes tracked data (run-data.ts).
 */
export const DEFAULT_MAX_OUTPUT_TOTAL = 10 * 2 ** 30;

export interface OutputLimits {
  files: number;
  totalBytes: number;
}

export function outputLimits(env: NodeJS.ProcessEnv = process.env): OutputLimits {
  return {
    files: countSetting(env.REPRISE_MAX_OUTPUT_FILES, DEFAULT_MAX_OUTPUT_FILES),
    totalBytes: memorySetting(env.REPRISE_MAX_OUTPUT_TOTAL, DEFAULT_MAX_OUTPUT_TOTAL),
  };
}

// A bad setting must not lose a run's other outputs: the default stands.
function memorySetting(text: string | undefined, fallback: number): number {
  if (!text) return fallback;
  try {
    return parseMemory(text);
  } catch {
    return fallback;
  }
}

function countSetting(text: string | undefined, fallback: number): number {
  const n = Number(text);
  return text && Number.isSafeInteger(n) && n > 0 ? n : fallback;
}

export const LINK_REFUSED = 'a symlink; only files and directories are collected';
export const SPECIAL_REFUSED = 'a special file; only files and directories are collected';

/**
 * What one collect kept and left out: each file is admitted against the limits, each refusal
 * named. Files past the count or total-size limit are named once, by the first of them.
 */
export class CollectTally {
  readonly skipped: SkippedOutput[] = [];
  private files = 0;
  private bytes = 0;
  private cut?: { path: string; count: number; why: string };

  constructor(readonly limits: OutputLimits = outputLimits()) {}

  refuse(path: string, why: string): void {
    this.skipped.push({ path, why });
  }

  /** Whether a file of `size` bytes may be brought back; when not, it is named. */
  admit(path: string, size: number): boolean {
    const l = this.limits;
    const why =
      this.files + 1 > l.files
        ? `more than ${l.files} files (REPRISE_MAX_OUTPUT_FILES)`
        : this.bytes + size > l.totalBytes
          ? `more than ${formatMemory(l.totalBytes)} in all (REPRISE_MAX_OUTPUT_TOTAL)`
          : undefined;
    if (why) {
      this.cut ??= { path, count: 0, why };
      this.cut.count++;
      return false;
    }
    this.files++;
    this.bytes += size;
    return true;
  }

  result(): Collected {
    if (!this.cut) return { skipped: this.skipped };
    const { path, count, why } = this.cut;
    return { skipped: [...this.skipped, { path, why: `this and ${count - 1} more files not collected: ${why}` }], incomplete: true };
  }
}
