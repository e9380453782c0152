// `reprise sweep --array` on the SLURM test cluster: a 3×4 grid at --max-parallel 2 is one sbatch
// (every point's job is an element <id>_<i> of one array), never more than two elements run at
// once (squeue -r from outside), and every point is recorded as its own run with the summary.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { useCliProject } from '../../helpers/cli-project.js';
import { ConcurrencyWatch, expectSweepRecorded, sweepIdOf } from '../../helpers/sweep.js';
import { slurmAddArgs } from './slurm-backend-env.js';

const runningJobIds = () => execFileSync('squeue', ['-r', '-h', '-t', 'RUNNING', '-o', '%i'], { encoding: 'utf8' }).split('\n').filter(Boolean);

describe('reprise sweep --array on SLURM', () => {
  const p = useCliProject('slurm-array', () => slurmAddArgs('hpc', `~/reprise-it/array-${process.pid}`));

  it('a 3×4 grid at --max-parallel 2 is one job array, two elements at most at once, twelve runs recorded', async () => {
    const watch = new ConcurrencyWatch(runningJobIds, 500);
    const r = await p.cli.run(['sweep', '--on', 'hpc', '--array', '--max-parallel', '2', '--param', 'a=1..3', '--param', 'b=w,x,y,z', '--', 'sh', '-c', 'echo {a}{b} > output/{a}-{b}.txt; sleep 2'], p.root);
    watch.stop();
    expect(r.code, r.stderr).toBe(0);
    const summary = await expectSweepRecorded(p.cli, p.root, sweepIdOf(r), 12);
    expect(summary.state).toBe('succeeded');
    const jobIds = await Promise.all(summary.points.map(async (pt) => (await p.cli.json<{ backend: { jobId: string } }>(['show', pt.runId], p.root)).backend.jobId));
    const arrays = new Set(jobIds.map((id) => id.split('_')[0]));
    expect(arrays.size, `one sbatch: ${jobIds.join(' ')}`).toBe(1);
    expect(jobIds.map((id) => id.split('_')[1]).sort((a, b) => Number(a) - Number(b))).toEqual(Array.from({ length: 12 }, (_, i) => String(i)));
    const max = watch.maxOf(jobIds);
    expect(max).toBeLessThanOrEqual(2);
    expect(max).toBeGreaterThanOrEqual(1);
    for (const pt of summary.points) expect(pt.outputs?.map((o) => o.path)).toEqual([`output/${pt.params.a}-${pt.params.b}.txt`]);
  }, 600_000);
});
