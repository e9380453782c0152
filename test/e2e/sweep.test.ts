// Sweeps on local Docker, driven through the built CLI: a 3×4 grid at --max-parallel 2 never has
// more than two of its containers running (seen with `docker ps`), every point is recorded once
// and the summary lists them; retry reruns only the failed point; cancel stops every point; bad
// grids are refused before anything is submitted.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useCliProject } from '../helpers/cli-project.js';
import { repoState } from '../helpers/project.js';
import { ConcurrencyWatch, dockerRunning, expectSweepRecorded, readSummary, recordedPoints, sweepIdOf } from '../helpers/sweep.js';

const p = useCliProject('sweeps');

describe('reprise sweep on local Docker', () => {
  it('3×4 grid at --max-parallel 2: at most two at once, twelve points recorded, one summary', async () => {
    const watch = new ConcurrencyWatch(dockerRunning);
    const r = await p.cli.run(['sweep', '--param', 'a=1..3', '--param', 'b=w,x,y,z', '--max-parallel', '2', '--', 'sh', '-c', 'echo {a}{b} > output/{a}-{b}.txt; sleep 1'], p.root);
    watch.stop();
    expect(r.code, r.stderr).toBe(0);
    const sweepId = sweepIdOf(r);
    const summary = await expectSweepRecorded(p.cli, p.root, sweepId, 12);
    expect(summary.state).toBe('succeeded');
    expect(summary.points.map((pt) => pt.params)).toContainEqual({ a: '2', b: 'y' });
    for (const pt of summary.points) {
      expect(pt.outputs?.map((o) => o.path)).toEqual([`output/${pt.params.a}-${pt.params.b}.txt`]);
      expect(readFileSync(join(p.root, 'output', `${pt.params.a}-${pt.params.b}.txt`), 'utf8')).toBe(`${pt.params.a}${pt.params.b}\n`);
    }
    const max = watch.maxOf(summary.points.map((pt) => pt.runId));
    expect(max).toBeLessThanOrEqual(2);
    expect(max, 'the sweep ran points side by side').toBe(2);
    // The summary commit comes after every point's commit, and log groups the points under it.
    const log = await p.cli.run(['log'], p.root);
    expect(log.stdout).toContain(`${sweepId}  succeeded`);
    expect(log.stdout).toContain('points: 12 (12 succeeded)');
  });

  it('retry reruns only the point that failed, with the recorded source and image', async () => {
    // Point n=2 is killed from outside while it runs; the others succeed.
    const sweep = p.cli.run(['sweep', '--param', 'n=1..4', '--', 'sh', '-c', 'sleep 4; echo {n} > output/n{n}.txt'], p.root);
    let victim: string | undefined;
    for (let i = 0; i < 200 && !victim; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const ids = execFileSync('docker', ['ps', '--no-trunc', '--filter', 'label=org.reprise.run', '--format', '{{.ID}} {{.Command}}'], { encoding: 'utf8' });
      victim = ids.split('\n').find((l) => l.includes('output/n2.txt'))?.split(' ')[0];
    }
    expect(victim, 'point n=2 started').toBeDefined();
    execFileSync('docker', ['kill', victim!], { stdio: 'ignore' });
    const r = await sweep;
    expect(r.code, r.stderr).toBe(1);
    const sweepId = sweepIdOf(r);
    const first = readSummary(p.root, sweepId);
    expect(first.state).toBe('failed');
    expect(first.points.filter((pt) => pt.state === 'failed').map((pt) => pt.params.n)).toEqual(['2']);

    const again = await p.cli.run(['sweep', 'retry', sweepId.slice(0, 12)], p.root);
    expect(again.code, again.stderr).toBe(0);
    const retryId = sweepIdOf({ ...again, stderr: again.stderr.replace(sweepId, '') });
    const second = readSummary(p.root, retryId);
    expect(second.retryOf).toBe(sweepId);
    expect(second.state).toBe('succeeded');
    expect(second.points).toHaveLength(4);
    const rerun = second.points.filter((pt) => !pt.carried);
    expect(rerun.map((pt) => pt.params.n)).toEqual(['2']);
    expect(second.points.filter((pt) => pt.carried).map((pt) => pt.runId).sort()).toEqual(first.points.filter((pt) => pt.params.n !== '2').map((pt) => pt.runId).sort());
    expect(await recordedPoints(p.cli, p.root, retryId)).toHaveLength(1);
    expect(readFileSync(join(p.root, 'output/n2.txt'), 'utf8')).toBe('2\n');

    const nothing = await p.cli.run(['sweep', 'retry', retryId], p.root);
    expect(nothing.code).toBe(0);
    expect(nothing.stdout).toContain('nothing to retry');
  });

  it('cancel SWEEP stops every running point and records the sweep as cancelled', async () => {
    const start = await p.cli.run(['sweep', '--detach', '--param', 'n=1..4', '--max-parallel', '2', '--', 'sleep', '3{n}'], p.root);
    expect(start.code, start.stderr).toBe(0);
    const sweepId = start.stdout.trim();
    expect(sweepId).toMatch(/^sweep-[a-z2-7]{12}$/);
    for (let i = 0; i < 300; i++) {
      if (execFileSync('docker', ['ps', '--no-trunc', '--filter', 'label=org.reprise.run', '--format', '{{.Command}}'], { encoding: 'utf8' }).includes('sleep 3')) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const c = await p.cli.run(['cancel', sweepId], p.root);
    expect(c.code, c.stderr).toBe(0);
    const summary = readSummary(p.root, sweepId);
    expect(summary.state).toBe('cancelled');
    expect(summary.points.map((pt) => pt.state).sort()).toEqual(['cancelled', 'cancelled', 'not-started', 'not-started']);
    expect(execFileSync('docker', ['ps', '-a', '--no-trunc', '--filter', 'label=org.reprise.run', '--format', '{{.Command}}'], { encoding: 'utf8' })).not.toContain('sleep 3');
    const again = await p.cli.run(['cancel', sweepId], p.root);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/is not running/);
  });
});

describe("a backend's maxParallel holds across sweeps", () => {
  it('two sweeps at once on a backend limited to 2: never more than two of their six points run', async () => {
    expect((await p.cli.run(['backend', 'add', 'capped', '--kind', 'docker', '--max-parallel', '2'], p.root)).code).toBe(0);
    const watch = new ConcurrencyWatch(dockerRunning);
    const sweep = (tag: string) => p.cli.run(['sweep', '--on', 'capped', '--param', 'n=1..3', '--', 'sh', '-c', `sleep 2; echo {n} > output/${tag}{n}.txt`], p.root);
    const [a, b] = await Promise.all([sweep('a'), sweep('b')]);
    watch.stop();
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    const runs = [...readSummary(p.root, sweepIdOf(a)).points, ...readSummary(p.root, sweepIdOf(b)).points].map((pt) => pt.runId);
    expect(runs).toHaveLength(6);
    expect(watch.maxOf(runs)).toBe(2);
  });
});

describe('bad grids: one line, exit 2, nothing submitted', () => {
  const cases: [string, string[], RegExp][] = [
    ['an empty grid', ['sweep', '--', 'echo', 'hi'], /no --param given/],
    ['a parameter with no values', ['sweep', '--param', 'lr=', '--', 'echo', '{lr}'], /--param lr has no values/],
    ['a placeholder with no parameter', ['sweep', '--param', 'lr=1,2', '--', 'echo', '{lr}', '{seed}'], /uses \{seed\} but no --param seed/],
    ['a parameter no placeholder uses', ['sweep', '--param', 'lr=1,2', '--param', 'seed=1..3', '--', 'echo', '{lr}'], /--param seed is not used by the command/],
    ['a backwards range', ['sweep', '--param', 'n=5..1', '--', 'echo', '{n}'], /counts up/],
    ['a grid too big', ['sweep', '--param', 'a=1..200', '--param', 'b=1..200', '--', 'echo', '{a}{b}'], /more than 10000/],
    ['an unknown backend', ['sweep', '--on', 'nowhere', '--param', 'n=1,2', '--', 'echo', '{n}'], /unknown backend "nowhere"/],
    ['no command', ['sweep', '--param', 'n=1,2'], /no command given/],
    ['a job array on Docker', ['sweep', '--array', '--param', 'n=1,2', '--', 'echo', '{n}'], /--array needs a slurm backend, and local is docker/],
    ['retry of an unknown sweep', ['sweep', 'retry', 'sweep-zzzzzzzzzzzz'], /no recorded sweep/],
  ];
  for (const [what, args, message] of cases) {
    it(what, async () => {
      const before = repoState(p.root);
      const r = await p.cli.run(args, p.root);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(message);
      expect(repoState(p.root)).toEqual(before);
    });
  }
});
