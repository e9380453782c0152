import type { ResourcesUsed } from '../project/run-record.js';

/** What a job used, as its backend measured it (the record's `used`). */
export type JobUsage = ResourcesUsed;

export interface UsageFigures {
  wallSeconds: number;
  /** Cores the job held for its whole wall time; absent where none were reserved. */
  cores?: number;
  gpus?: number;
  cpuSeconds?: number;
  peakMemoryBytes?: number;
  source: string;
}

/** Hours to 6 decimals (an eighteenth of a core-second): enough for a short job, no float noise in records. */
const hours = (seconds: number) => Math.round((seconds / 3600) * 1e6) / 1e6;
const finite = (n: number | undefined): n is number => n !== undefined && Number.isFinite(n) && n >= 0;

export function usageFrom(f: UsageFigures): JobUsage {
  const wallSeconds = Math.max(0, Math.round(f.wallSeconds * 1000) / 1000);
  const coreSeconds = finite(f.cores) && f.cores > 0 ? f.cores * wallSeconds : f.cpuSeconds;
  return {
    wallSeconds,
    ...(finite(f.cpuSeconds) ? { cpuSeconds: Math.round(f.cpuSeconds * 1000) / 1000 } : {}),
    ...(finite(coreSeconds) ? { coreHours: hours(coreSeconds) } : {}),
    ...(finite(f.gpus) && f.gpus > 0 ? { gpuHours: hours(f.gpus * wallSeconds) } : {}),
    ...(finite(f.peakMemoryBytes) && f.peakMemoryBytes > 0 ? { peakMemoryBytes: Math.round(f.peakMemoryBytes) } : {}),
    source: f.source,
  };
}

/** Seconds between two ISO times; undefined unless both are valid and in order. */
export function secondsBetween(start: string | undefined, end: string | undefined): number | undefined {
  const a = Date.parse(start ?? '');
  const b = Date.parse(end ?? '');
  return Number.isNaN(a) || Number.isNaN(b) || b < a ? undefined : (b - a) / 1000;
}

/** GPUs in a scheduler's resource map: SLURM's `gres/gpu` (or `gres/gpu:TYPE`), a pod's `nvidia.com/gpu`, `amd.com/gpu`. */
export function gpuCount(resources: Record<string, string> | undefined): number {
  const entries = Object.entries(resources ?? {});
  const plain = entries.find(([k]) => k === 'gres/gpu');
  const found = plain ? [plain] : entries.filter(([k]) => /^gres\/gpu:|^[\w.-]+\/gpu$/.test(k) && k !== 'gres/gpu');
  return found.reduce((sum, [, v]) => sum + (Number(v) || 0), 0);
}
