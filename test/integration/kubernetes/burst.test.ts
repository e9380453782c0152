// Cloud burst through the built CLI: the pool [hpc, k8s] with a 20 s maximum wait. With the SLURM
// test cluster made busy (a job holding its node), a run lands on Kubernetes; its record shows
// both placements with their reasons and squeue has nothing of it left. With the cluster free, a
// sweep on the pool spreads its points over both members. Needs both test clusters up.
import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { useCliProject } from '../../helpers/cli-project.js';
import { readSummary, sweepIdOf } from '../../helpers/sweep.js';
import { slurmAddArgs } from '../slurm/slurm-backend-env.js';
import { kubernetesAddArgs } from './kubernetes-backend-env.js';

const squeue = (...args: string[]) => execFileSync('squeue', ['-h', ...args], { encoding: 'utf8' });
let hold: string | undefined;

async function holdTheCluster(): Promise<void> {
  // Every CPU of the node, for longer than the test needs; cancelled after.
  hold = execFileSync('sbatch', ['--parsable', '--exclusive', '-J', 'reprise-test-busy', '-o', '/dev/null', '--wrap', 'sleep 600'], { encoding: 'utf8' }).trim().split(';')[0];
  for (let i = 0; i < 240; i++) {
    if (squeue('-j', hold!, '-o', '%T').trim() === 'RUNNING') return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`the holding job ${hold} did not start: ${squeue('-o', '%i %j %T %r')}`);
}

afterAll(() => {
  if (hold) execFileSync('scancel', [hold]);
});

describe('a pool [hpc, k8s] with --max-queue-wait 20s', () => {
  const p = useCliProject('burst', () => slurmAddArgs('hpc', `~/reprise-it/burst-${process.pid}`));

  it('is added with both clusters as members', async () => {
    expect((await p.cli.run(['backend', 'add', ...kubernetesAddArgs('k8s', 'reprise-burst')], '/')).code).toBe(0);
    const add = await p.cli.run(['backend', 'add', 'burst', '--kind', 'pool', '--member', 'hpc', '--member', 'k8s', '--max-queue-wait', '20s'], '/');
    expect(add.code, add.stderr).toBe(0);
    // The same members, waiting long on SLURM: the SLURM suite runs beside this one and may hold
    // the node for more than 20 s, which would (rightly) move every point to Kubernetes.
    const spread = await p.cli.run(['backend', 'add', 'spread', '--kind', 'pool', '--member', 'hpc', '--member', 'k8s', '--max-queue-wait', '8m'], '/');
    expect(spread.code, spread.stderr).toBe(0);
  });

  it('a sweep on a pool spreads its points over both members', async () => {
    const r = await p.cli.run(['sweep', '--on', 'spread', '--param', 'n=1..4', '--', 'sh', '-c', 'echo {n} > output/s{n}.txt'], p.root);
    expect(r.code, r.stderr).toBe(0);
    const summary = readSummary(p.root, sweepIdOf(r));
    expect(summary.points.map((pt) => (pt as { backend?: string }).backend)).toEqual(['hpc', 'k8s', 'hpc', 'k8s']);
  }, 600_000);

  it('with the SLURM cluster busy, a run waits 20 s there, is withdrawn and runs on Kubernetes', async () => {
    await holdTheCluster();
    const r = await p.cli.run(['run', '--on', 'burst', '--json', '--', 'sh', '-c', 'echo burst > output/where.txt'], p.root);
    expect(r.code, r.stderr).toBe(0);
    const { runId } = JSON.parse(r.stdout) as { runId: string };
    const record = await p.cli.json<{ backend: { name: string; kind: string }; placement: { pool: string; trail: { backend: string; outcome: string; reason?: string; jobId?: string }[] } }>(['show', runId], p.root);
    expect(record.backend).toMatchObject({ name: 'k8s', kind: 'kubernetes' });
    expect(record.placement.pool).toBe('burst');
    expect(record.placement.trail.map((t) => [t.backend, t.outcome])).toEqual([
      ['hpc', 'withdrawn'],
      ['k8s', 'ran'],
    ]);
    expect(record.placement.trail[0]!.reason).toMatch(/^pending 20s/);
    const trailer = execFileSync('git', ['log', '-1', '--format=%(trailers:key=Reprise-Placement,valueonly)', '--grep', `Reprise-Run: ${runId}`], { cwd: p.root, encoding: 'utf8' }).trim();
    expect(trailer).toMatch(/^burst: hpc withdrawn \(pending 20s.*\) → k8s ran$/);
    // Nothing of it is left on SLURM, and it never ran there.
    const slurmJob = record.placement.trail[0]!.jobId!;
    expect(squeue('-t', 'PENDING,RUNNING,COMPLETING,SUSPENDED', '-o', '%i').split('\n')).not.toContain(slurmJob);
    const accounted = execFileSync('sacct', ['-n', '-X', '-P', '-j', slurmJob, '-o', 'State,Start'], { encoding: 'utf8' }).trim();
    expect(accounted).toMatch(/^CANCELLED.*\|(Unknown|None)$/);
  }, 600_000);
});
