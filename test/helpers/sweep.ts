// What the sweep suites share: a poller that watches a backend's running jobs from outside (docker
// ps, squeue, kubectl), and readers of a sweep's summary and its points' records.
import { execFileSync } from 'node:child_process';
import { expect, it } from 'vitest';
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

export interface SweepBackend {
  /** The backend's name in the CLI's config ('local' for the embedded Docker). */
  name: string;
  /** Run ids this backend shows as running, from outside Reprise (docker ps, squeue, kubectl). */
  running: () => string[];
  /** Make the running job of `runId` fail from outside (kill it, or make its command exit 3). */
  failJob: (runId: string) => void;
  /** Whether any job of these runs is still on the backend (after a cancel). */
  leftOver: (runIds: string[]) => string[];
}

/** Live run ids of a sweep's points, from `reprise runs`. */
async function livePoints(cli: Cli, root: string, sweepId: string): Promise<{ runId: string; state: string; command: string[] }[]> {
  const rows = await cli.json<{ runId: string; state: string; command: string[]; sweepId?: string }[]>(['runs', '-n', '200'], root);
  return rows.filter((r) => r.sweepId === sweepId);
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 180_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** The point whose command names `marker` once it runs on the backend. */
async function runningPoint(cli: Cli, root: string, sweepId: string, marker: string, b: SweepBackend): Promise<string> {
  return until(`the point with ${marker} to run`, async () => {
    const point = (await livePoints(cli, root, sweepId)).find((r) => r.command.join(' ').includes(marker));
    return point && b.running().includes(point.runId) ? point.runId : undefined;
  });
}

/** A sweep's proofs on one backend: the grid at --max-parallel 2 watched from outside, retry, cancel. */
export function sweepProofs(p: { cli: Cli; root: string }, b: SweepBackend, extra: string[] = []): void {
  it(`3×4 grid at --max-parallel 2 on ${b.name}: never more than two at once, twelve points recorded`, async () => {
    const watch = new ConcurrencyWatch(b.running, 500);
    const r = await p.cli.run(['sweep', '--on', b.name, ...extra, '--param', 'a=1..3', '--param', 'b=w,x,y,z', '--max-parallel', '2', '--', 'sh', '-c', 'echo {a}{b} > output/{a}-{b}.txt; sleep 2'], p.root);
    watch.stop();
    expect(r.code, r.stderr).toBe(0);
    const summary = await expectSweepRecorded(p.cli, p.root, sweepIdOf(r), 12);
    expect(summary.state).toBe('succeeded');
    for (const pt of summary.points) expect(pt.outputs?.map((o) => o.path)).toEqual([`output/${pt.params.a}-${pt.params.b}.txt`]);
    const max = watch.maxOf(summary.points.map((pt) => pt.runId));
    expect(max).toBeLessThanOrEqual(2);
    // Seen running at all (side by side depends on the shared cluster's free CPUs: the Docker suite checks that).
    expect(max, 'the watch saw the points run').toBeGreaterThanOrEqual(1);
  }, 600_000);

  it(`retry on ${b.name} reruns only the point that failed`, async () => {
    const child = p.cli.spawn(['sweep', '--on', b.name, ...extra, '--param', 'n=1..3', '--', 'sh', '-c', 'for i in 1 2 3 4 5 6 7 8 9 10; do sleep 1; [ -e /tmp/fail ] && exit 3; done; echo {n} > output/n{n}.txt'], p.root);
    const out = collectOutput(child);
    const sweepId = await until('the sweep id', async () => /(sweep-[a-z2-7]{12})/.exec(out.stderr)?.[1]);
    b.failJob(await runningPoint(p.cli, p.root, sweepId, 'output/n2.txt', b));
    const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 1)));
    expect(code, out.stderr).toBe(1);
    const first = readSummary(p.root, sweepId);
    expect(first.points.filter((pt) => pt.state !== 'succeeded').map((pt) => pt.params.n)).toEqual(['2']);
    const again = await p.cli.run(['sweep', 'retry', sweepId], p.root);
    expect(again.code, again.stderr).toBe(0);
    const retryId = sweepIdOf({ ...again, stderr: again.stderr.replaceAll(sweepId, '') });
    const second = readSummary(p.root, retryId);
    expect(second.state).toBe('succeeded');
    expect(second.points.filter((pt) => !pt.carried).map((pt) => pt.params.n)).toEqual(['2']);
    expect(await recordedPoints(p.cli, p.root, retryId)).toHaveLength(1);
  }, 600_000);

  it(`cancel on ${b.name} stops every point`, async () => {
    const start = await p.cli.run(['sweep', '--detach', '--on', b.name, ...extra, '--param', 'n=1..4', '--max-parallel', '2', '--', 'sh', '-c', 'sleep 6{n}'], p.root);
    expect(start.code, start.stderr).toBe(0);
    const sweepId = start.stdout.trim();
    await runningPoint(p.cli, p.root, sweepId, 'sleep 6', b);
    const c = await p.cli.run(['cancel', sweepId], p.root);
    expect(c.code, c.stderr).toBe(0);
    const summary = readSummary(p.root, sweepId);
    expect(summary.state).toBe('cancelled');
    expect(summary.points.filter((pt) => pt.state === 'succeeded')).toEqual([]);
    // Stopped jobs may take their grace period to go (a pod terminating).
    await until('the points\' jobs to go', async () => (b.leftOver(summary.points.map((pt) => pt.runId)).length === 0 ? true : undefined), 60_000);
  }, 600_000);
}

function collectOutput(child: import('node:child_process').ChildProcess): { stdout: string; stderr: string } {
  const out = { stdout: '', stderr: '' };
  child.stdout?.on('data', (d: Buffer) => (out.stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out.stderr += d.toString()));
  return out;
}
