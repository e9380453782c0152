import { gpuCount, usageFrom, type JobUsage } from '../usage.js';
import { grantedTres } from './scheduler.js';

/** sacct's columns for usage, in this order (`--parsable2`: `|` between, none at the end). */
export const SACCT_USAGE_FIELDS = 'JobID,State,ElapsedRaw,TotalCPU,MaxRSS,AllocTRES';

export const sacctUsageCommand = (jobId: string) => ['sacct', '-j', jobId, '--noheader', '--parsable2', `--format=${SACCT_USAGE_FIELDS}`];

/** sacct's durations: `[D-][HH:]MM:SS[.mmm]` ("00:02.345", "01:02:03", "1-02:03:04"); undefined when not one. */
export function slurmSeconds(text: string | undefined): number | undefined {
  const m = /^(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+(?:\.\d+)?)$/.exec((text ?? '').trim());
  if (!m) return undefined;
  return Number(m[1] ?? 0) * 86400 + Number(m[2] ?? 0) * 3600 + Number(m[3]) * 60 + Number(m[4]);
}

/** sacct's memory figures ("1234K", "12.5M", "3G"; powers of 1024); undefined when empty. */
export function slurmBytes(text: string | undefined): number | undefined {
  const m = /^(\d+(?:\.\d+)?)([KMGTP]?)$/i.exec((text ?? '').trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * 1024 ** ' KMGTP'.indexOf((m[2] || ' ').toUpperCase()));
}

/** States in which the job's accounting is not final yet. */
const UNFINISHED = /^(PENDING|RUNNING|COMPLETING|REQUEUED|SUSPENDED|CONFIGURING)/;

export type SacctUsage = { usage: JobUsage; complete: boolean };

/**
 * The job's usage from sacct's rows (the allocation and its steps). `complete` is false while
 * the accounting still lags the job's end: the allocation still running, or no step written yet.
 * (An empty MaxRSS is no lag: a step shorter than JobAcctGatherFrequency may never be sampled.)
 */
export function sacctUsage(text: string, jobId: string): SacctUsage | undefined {
  const rows = text
    .split('\n')
    .map((l) => l.trim().split('|'))
    .filter((r) => r.length >= 6);
  const job = rows.find((r) => r[0] === jobId);
  if (!job) return undefined;
  const [, state = '', elapsed, totalCpu, , alloc] = job;
  const wallSeconds = Number(elapsed);
  if (!/^\d+$/.test(elapsed ?? '')) return undefined;
  const steps = rows.filter((r) => r[0]!.startsWith(`${jobId}.`));
  const rss = steps.map((r) => slurmBytes(r[4])).filter((n): n is number => n !== undefined);
  const tres = grantedTres(alloc);
  const cpuSeconds = slurmSeconds(totalCpu);
  const usage = usageFrom({
    wallSeconds,
    cores: Number(tres?.cpu) || undefined,
    gpus: gpuCount(tres),
    // Without a gatherer (JobAcctGatherType=none) sacct says 0 CPU and no memory: not a measurement.
    cpuSeconds: cpuSeconds || rss.length ? cpuSeconds : undefined,
    peakMemoryBytes: rss.length ? Math.max(...rss) : undefined,
    source: 'sacct',
  });
  // A job cancelled before it started never has a step: nothing more will come.
  return { usage, complete: !UNFINISHED.test(state) && (steps.length > 0 || wallSeconds === 0) };
}
