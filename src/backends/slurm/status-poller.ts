import type { JobStatus } from '../types.js';
import { BATCH_STATUS_SCRIPT, jobStatusFrom, splitBatchStatus } from './scheduler.js';

export interface PolledJob {
  jobId: string;
  runDir: string;
  /** The time limit the run asked for (TIMEOUT reasons name it). */
  timeSeconds: number | null;
}

/** Runs argv on the login node and returns its stdout (throws when it fails). */
export type RunOnCluster = (argv: string[]) => Promise<string>;

/**
 * A job's first seconds are polled faster: a short job ends within them, and at one query per
 * interval its end reached its run up to a whole interval late. Still one query for all jobs.
 */
export const EARLY_WINDOW_MS = 5000;
export const EARLY_SPACING_MS = 250;

/** How far apart to ask about a job `ageMs` after it was first asked about (the early spacing, then `intervalMs`). */
export function spacingAt(ageMs: number, intervalMs: number, early = { windowMs: EARLY_WINDOW_MS, spacingMs: EARLY_SPACING_MS }): number {
  return ageMs < early.windowMs ? Math.min(intervalMs, early.spacingMs) : intervalMs;
}

/**
 * Scheduler politeness: however many runs ask, the state of all of a backend's jobs is read with
 * one round trip (one `squeue`, one `sacct` when needed) at most once per interval. A status()
 * call joins the next query; the first one after a quiet interval is sent at once. A job seen
 * ended is answered from that poll for a few intervals without waiting for the next one: its
 * run's log follower asks once more after the end (slurm-backend.ts logs()), and waiting a
 * whole interval for an answer already known added up to a second to every run. While a job
 * asked about is in its first EARLY_WINDOW_MS, queries are EARLY_SPACING_MS apart instead.
 */
export class StatusPoller {
  private static readonly pollers = new Map<string, StatusPoller>();

  /** The poller of one backend (its SSH target and interval) in this process. */
  static for(key: string, intervalMs: number, run: RunOnCluster): StatusPoller {
    const full = `${intervalMs} ${key}`;
    let poller = StatusPoller.pollers.get(full);
    if (!poller) StatusPoller.pollers.set(full, (poller = new StatusPoller(run, intervalMs)));
    return poller;
  }

  private waiting = new Map<string, { job: PolledJob; callers: { resolve: (s: JobStatus) => void; reject: (e: unknown) => void }[] }>();
  private timer?: NodeJS.Timeout;
  private polling = false;
  private lastStart = -Infinity;
  /** Jobs the last polls saw ended, and when: an ended job stays ended (awaitJob stops at the first `exited`). */
  private readonly ended = new Map<string, { status: JobStatus; at: number }>();
  /** When each job not yet seen ended was first asked about (its early window), oldest first. */
  private readonly firstAsked = new Map<string, number>();
  /** How long an ended job is answered from memory. */
  private get endedTtlMs(): number {
    return 5 * this.intervalMs;
  }

  constructor(
    private readonly run: RunOnCluster,
    readonly intervalMs: number,
    private readonly now: () => number = Date.now,
    private readonly early = { windowMs: EARLY_WINDOW_MS, spacingMs: EARLY_SPACING_MS },
  ) {}

  status(job: PolledJob): Promise<JobStatus> {
    const ended = this.ended.get(job.jobId);
    if (ended && this.now() - ended.at < this.endedTtlMs) return Promise.resolve(ended.status);
    if (!this.firstAsked.has(job.jobId)) {
      this.firstAsked.set(job.jobId, this.now());
      // Jobs that vanish unseen (cancelled, lost) must not pile up: keep the newest ones.
      if (this.firstAsked.size > 10_000) this.firstAsked.delete(this.firstAsked.keys().next().value!);
    }
    return new Promise((resolve, reject) => {
      const entry = this.waiting.get(job.jobId) ?? { job, callers: [] };
      entry.callers.push({ resolve, reject });
      this.waiting.set(job.jobId, entry);
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.timer || this.polling || this.waiting.size === 0) return;
    this.timer = setTimeout(() => void this.poll(), Math.max(0, this.lastStart + this.spacing() - this.now()));
  }

  /** The interval, or the early spacing while a job asked about is in its first seconds. */
  private spacing(): number {
    const now = this.now();
    return Math.min(...[...this.waiting.keys()].map((id) => spacingAt(now - (this.firstAsked.get(id) ?? -Infinity), this.intervalMs, this.early)));
  }

  private async poll(): Promise<void> {
    this.timer = undefined;
    this.polling = true;
    this.lastStart = this.now();
    const batch = this.waiting;
    this.waiting = new Map();
    try {
      const ids = [...batch.keys()];
      const pairs = [...batch.values()].flatMap((e) => [e.job.jobId, e.job.runDir]);
      const sections = splitBatchStatus(await this.run(['sh', '-c', BATCH_STATUS_SCRIPT, 'sh', ids.join(','), ...pairs]), ids);
      const now = this.now();
      for (const [id, seen] of this.ended) if (now - seen.at >= this.endedTtlMs) this.ended.delete(id);
      for (const [id, e] of batch) {
        const status = jobStatusFrom(sections.get(id)!, id, e.job.timeSeconds);
        if (status.phase === 'exited') this.ended.set(id, { status, at: now });
        if (status.phase === 'exited') this.firstAsked.delete(id);
        for (const c of e.callers) c.resolve(status);
      }
    } catch (err) {
      for (const e of batch.values()) for (const c of e.callers) c.reject(err);
    } finally {
      this.polling = false;
      this.schedule();
    }
  }
}
