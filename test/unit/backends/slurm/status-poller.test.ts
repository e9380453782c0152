import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BATCH_STATUS_SCRIPT, splitBatchStatus } from '../../../../src/backends/slurm/scheduler.js';
import { EARLY_SPACING_MS, EARLY_WINDOW_MS, StatusPoller, type RunOnCluster } from '../../../../src/backends/slurm/status-poller.js';

/** A cluster that knows job 41 running and job 42 completed, and counts the status round trips. */
function fakeCluster() {
  const calls: string[][] = [];
  const run = vi.fn(async (argv: string[]) => {
    calls.push(argv);
    const ids = argv[4]!.split(',');
    const lines = ['@tz', '+0000', '@squeue', ...ids.filter((id) => id === '41').map((id) => `${id} RUNNING None`)];
    if (ids.includes('42')) lines.push('@sacct', '42|COMPLETED|0:0|2026-11-27T05:30:00|2026-11-27T05:30:03');
    for (const id of ids) lines.push(`@exit_code ${id}`, ...(id === '42' ? ['0'] : []));
    return lines.join('\n') + '\n';
  });
  return { run, calls };
}

const job = (jobId: string) => ({ jobId, runDir: `/w/runs/r${jobId}`, timeSeconds: null });
/** A poller at one query per second with no early window (the early window has its own test). */
const steady = (run: RunOnCluster) => new StatusPoller(run, 1000, () => Date.now(), { windowMs: 0, spacingMs: 250 });

describe('StatusPoller', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('status callers within one interval share one query for all their job ids', async () => {
    const { run, calls } = fakeCluster();
    const poller = steady(run);
    const all = Promise.all([poller.status(job('41')), poller.status(job('42')), poller.status(job('41'))]);
    await vi.advanceTimersByTimeAsync(0);
    expect(await all).toMatchObject([{ phase: 'running' }, { phase: 'exited', exitCode: 0 }, { phase: 'running' }]);
    expect(run).toHaveBeenCalledTimes(1);
    expect(calls[0]!.slice(0, 3)).toEqual(['sh', '-c', BATCH_STATUS_SCRIPT]);
    expect(calls[0]!.slice(4)).toEqual(['41,42', '41', '/w/runs/r41', '42', '/w/runs/r42']);
  });

  it('at most one query per interval, however many runs ask how often', async () => {
    const { run } = fakeCluster();
    const poller = steady(run);
    // 20 runs, each asking again 100 ms after every answer, 50 times: 1,000 status() calls.
    const askers = Array.from({ length: 20 }, async (_, i) => {
      for (let t = 0; t < 50; t++) {
        await poller.status(job(String(100 + i)));
        await new Promise((r) => setTimeout(r, 100));
      }
    });
    const done = Promise.all(askers);
    await vi.advanceTimersByTimeAsync(60_000);
    await done;
    // One query per interval: at 0 s, 1 s, 2 s, … until the last answer (about 50 s).
    expect(run.mock.calls.length).toBe(50);
    expect(run.mock.calls.every(([argv]) => argv[4]!.split(',').length <= 20)).toBe(true);
  });

  it('the first query after a quiet interval goes at once; a caller during a query waits for the next one', async () => {
    const { run } = fakeCluster();
    const poller = steady(run);
    void poller.status(job('41'));
    await vi.advanceTimersByTimeAsync(0);
    expect(run).toHaveBeenCalledTimes(1);
    const second = poller.status(job('42'));
    await vi.advanceTimersByTimeAsync(999);
    expect(run).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(await second).toMatchObject({ phase: 'exited' });
    expect(run).toHaveBeenCalledTimes(2);
    await vi.advanceTimersByTimeAsync(5000);
    void poller.status(job('41'));
    await vi.advanceTimersByTimeAsync(0);
    expect(run).toHaveBeenCalledTimes(3);
  });

  it('a job seen ended is answered at once for a few intervals, then asked again', async () => {
    const { run } = fakeCluster();
    const poller = steady(run);
    const first = poller.status(job('42'));
    await vi.advanceTimersByTimeAsync(0);
    expect(await first).toMatchObject({ phase: 'exited', exitCode: 0 });
    expect(run).toHaveBeenCalledTimes(1);
    // Within the interval: no wait for the next query, and no query at all.
    await vi.advanceTimersByTimeAsync(200);
    expect(await poller.status(job('42'))).toMatchObject({ phase: 'exited', exitCode: 0 });
    expect(run).toHaveBeenCalledTimes(1);
    // A running job still waits for the next query.
    const running = poller.status(job('41'));
    await vi.advanceTimersByTimeAsync(799);
    expect(run).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(await running).toMatchObject({ phase: 'running' });
    expect(run).toHaveBeenCalledTimes(2);
    // Long after: asked again.
    await vi.advanceTimersByTimeAsync(10_000);
    const later = poller.status(job('42'));
    await vi.advanceTimersByTimeAsync(0);
    expect(await later).toMatchObject({ phase: 'exited' });
    expect(run).toHaveBeenCalledTimes(3);
  });

  it('a failed query fails every caller of that round; the next round tries again', async () => {
    let fail = true;
    const run = vi.fn(async () => {
      if (fail) throw new Error('connection lost');
      return '@tz\n+0000\n@squeue\n41 RUNNING None\n@exit_code 41\n';
    });
    const poller = steady(run);
    const failed = Promise.allSettled([poller.status(job('41')), poller.status(job('41'))]);
    await vi.advanceTimersByTimeAsync(0);
    expect((await failed).map((r) => r.status)).toEqual(['rejected', 'rejected']);
    fail = false;
    const ok = poller.status(job('41'));
    await vi.advanceTimersByTimeAsync(1000);
    expect(await ok).toMatchObject({ phase: 'running' });
  });

  it("a job's first seconds are polled at the early spacing, still one query for all jobs; then once per interval", async () => {
    const { run } = fakeCluster();
    const poller = new StatusPoller(run, 1000);
    // Job 41 (running) asked about every 10 ms, as awaitJob and the log follower do together.
    let stop = false;
    const asker = (async () => {
      while (!stop) {
        await poller.status(job('41'));
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    await vi.advanceTimersByTimeAsync(EARLY_WINDOW_MS - 1);
    // One query at once, then one per early spacing: never more, whoever asks.
    const early = run.mock.calls.length;
    expect(early).toBeGreaterThanOrEqual(Math.floor(EARLY_WINDOW_MS / EARLY_SPACING_MS) - 1);
    expect(early).toBeLessThanOrEqual(Math.ceil(EARLY_WINDOW_MS / EARLY_SPACING_MS) + 1);
    // A second job arriving late has its own early window; both go in the same queries.
    void poller.status(job('43'));
    await vi.advanceTimersByTimeAsync(EARLY_WINDOW_MS + 10_000);
    const after = run.mock.calls.slice(early);
    expect(after.every(([argv]) => argv[4]!.split(',').includes('41'))).toBe(true);
    // Past both windows: one query per second.
    const before = run.mock.calls.length;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(run.mock.calls.length - before).toBe(10);
    stop = true;
    await vi.advanceTimersByTimeAsync(1000);
    await asker;
  });

  it('one poller per backend key and interval in the process', () => {
    const run = vi.fn();
    expect(StatusPoller.for('hpc', 1000, run)).toBe(StatusPoller.for('hpc', 1000, run));
    expect(StatusPoller.for('hpc', 1000, run)).not.toBe(StatusPoller.for('hpc', 5000, run));
    expect(StatusPoller.for('hpc', 1000, run)).not.toBe(StatusPoller.for('other', 1000, run));
  });
});

describe('the batch status script, with stand-in squeue/sacct/scontrol', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'reprise-status-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A stand-in command that logs its argv and prints `out`. */
  async function command(name: string, out: string): Promise<void> {
    await writeFile(join(dir, 'bin', name), `#!/bin/sh\necho "${name} $*" >> "${dir}/calls"\ncat <<'EOF'\n${out}EOF\n`);
    await chmod(join(dir, 'bin', name), 0o755);
  }

  it('one squeue for all jobs, one sacct for those squeue lost, scontrol only for jobs sacct lacks', async () => {
    await mkdir(join(dir, 'bin'));
    await command('squeue', '41 RUNNING None\n43 PENDING Priority\n');
    await command('sacct', '42|COMPLETED|0:0|2026-11-27T05:30:00|2026-11-27T05:30:03\n');
    await command('scontrol', 'JobId=44 JobState=TIMEOUT Reason=TimeLimit ExitCode=0:15\n');
    await mkdir(join(dir, 'r42'));
    await writeFile(join(dir, 'r42', 'exit_code'), '0\n');
    const ids = ['41', '42', '43', '44'];
    const args = ids.flatMap((id) => [id, join(dir, `r${id}`)]);
    const { stdout } = await promisify(execFile)('sh', ['-c', BATCH_STATUS_SCRIPT, 'sh', ids.join(','), ...args], { env: { PATH: `${dir}/bin:/usr/bin:/bin` } });
    expect((await readFile(join(dir, 'calls'), 'utf8')).trim().split('\n')).toEqual([
      'squeue -h -r -j 41,42,43,44 -o %i %T %r',
      'sacct -X -n -P -o JobID,State,ExitCode,Start,End,AllocTRES -j 42,44',
      'scontrol show job -o 44',
    ]);
    const s = splitBatchStatus(stdout, ids);
    expect(s.get('41')).toMatchObject({ squeue: 'RUNNING None' });
    expect(s.get('42')).toMatchObject({ squeue: '', sacct: '42|COMPLETED|0:0|2026-11-27T05:30:00|2026-11-27T05:30:03', exit_code: '0' });
    expect(s.get('43')).toMatchObject({ squeue: 'PENDING Priority' });
    expect(s.get('44')).toMatchObject({ scontrol: 'JobId=44 JobState=TIMEOUT Reason=TimeLimit ExitCode=0:15' });
    expect(s.get('44')!.tz).toMatch(/^[+-]\d{4}$/);
  });

  it('no sacct and no scontrol when squeue lists every job', async () => {
    await mkdir(join(dir, 'bin'));
    await command('squeue', '41 RUNNING None\n');
    await command('sacct', '');
    await command('scontrol', '');
    await promisify(execFile)('sh', ['-c', BATCH_STATUS_SCRIPT, 'sh', '41', '41', join(dir, 'r41')], { env: { PATH: `${dir}/bin:/usr/bin:/bin` } });
    expect((await readFile(join(dir, 'calls'), 'utf8')).trim().split('\n')).toEqual(['squeue -h -r -j 41 -o %i %T %r']);
  });
});
