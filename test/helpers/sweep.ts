// What the sweep suites share: a poller that watches a backend's running jobs from outside (docker
// ps, squeue, kubectl), and readers of a sweep's summary and its points' records.
import { execFileSync } from 'node:child_process';
import { expect } from 'vitest';
import type { Cli, CliResult } from './cli.js';

/**
 * Polls `running()` (the run ids the backend shows as running, seen from outside Reprise) until
 * stopped; `maxOf(ids)` is how many of `ids` were ever seen running at once.
 */
export class ConcurrencyWatch {
  private readonly samples: string[][] = [];
  private timer?: NodeJS.Timeout;
  private busy = false;

  constructor(private readonly running: () => string[], intervalMs = 250) {
    this.timer = setInterval(() => {
      if (this.busy) return;
      this.busy = true;
      try {
        this.samples.push(this.running());
      } catch {
        /* a sample lost to a busy engine is not a failure */
      } finally {
        this.busy = false;
      }
    }, intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  maxOf(ids: Iterable<string>): number {
    const wanted = new Set(ids);
    return Math.max(0, ...this.samples.map((s) => s.filter((id) => wanted.has(id)).length));
  }

  get sampleCount(): number {
    return this.samples.length;
  }
}

/** Run ids of running Docker containers made by Reprise. */
export const dockerRunning = () =>
  execFileSync('docker', ['ps', '--filter', 'label=org.reprise.run', '--format', '{{.Label "org.reprise.run"}}'], { encoding: 'utf8' }).split('\n').filter(Boolean);

export interface SweepSummary {
  sweepId: string;
  state: string;
  retryOf?: string;
  points: { index: number; params: Record<string, string>; runId: string; state: string; exitCode?: number; commit?: string; carried?: boolean; outputs?: { path: string }[] }[];
}

/** The sweep id a sweep printed on stderr ("sweep sweep-…: N points …"). */
export function sweepIdOf(r: CliResult): string {
  const m = /(sweep-[a-z2-7]{12})/.exec(r.stderr + r.stdout);
  if (!m) throw new Error(`no sweep id in the output: ${r.stderr}${r.stdout}`);
  return m[1]!;
}

export function readSummary(root: string, sweepId: string): SweepSummary {
  return JSON.parse(execFileSync('git', ['show', `HEAD:.reprise/activity/${sweepId}.json`], { cwd: root, encoding: 'utf8' })) as SweepSummary;
}

/** The recorded runs (commits with Reprise-Run) of one sweep on HEAD's branch. */
export async function recordedPoints(cli: Cli, root: string, sweepId: string): Promise<{ runId: string; state: string; exitCode: number; sweep?: string }[]> {
  const feed = await cli.json<{ runId: string; state: string; exitCode: number; sweep?: string }[]>(['log'], root);
  return feed.filter((e) => e.sweep === sweepId);
}

/** Every point recorded once, each a commit of its own, the summary listing them all. */
export async function expectSweepRecorded(cli: Cli, root: string, sweepId: string, points: number): Promise<SweepSummary> {
  const summary = readSummary(root, sweepId);
  expect(summary.points).toHaveLength(points);
  const recorded = await recordedPoints(cli, root, sweepId);
  expect(recorded).toHaveLength(points);
  expect(new Set(recorded.map((r) => r.runId))).toEqual(new Set(summary.points.map((p) => p.runId)));
  return summary;
}
