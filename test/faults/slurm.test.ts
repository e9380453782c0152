// Faults on the SLURM backend (the test cluster over SSH): the worker SIGKILLed, the Temporal dev
// server restarted, the worker's SSH connection cut (`ss -K`), slurmctld restarted — each while
// the run's job runs (harness.ts says what each trial counts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { useCliProject } from '../helpers/cli-project.js';
import { clusterConfig, slurmAddArgs } from '../integration/slurm/slurm-backend-env.js';
import { cutWorkerSsh, FaultContext, infraDir, killWorker, restartDaemon, restartTemporal, runInfra, slurmJobs, TRIALS } from './harness.js';

const trialTimeout = TRIALS * 300_000 + 600_000;

describe('faults on SLURM', () => {
  const p = useCliProject('faults-slurm', () => slurmAddArgs('hpc', `~/reprise-faults/${process.pid}`));
  let ctx: FaultContext;
  beforeAll(() => {
    ctx = new FaultContext(p.cli, p.root, 'hpc', 'slurm', slurmJobs);
  });
  afterAll(async () => ctx?.close());

  it('the worker SIGKILLed while the job runs', () => ctx.trials('worker SIGKILL', () => killWorker(ctx)), trialTimeout);

  it('the Temporal dev server restarted while the job runs', () => ctx.trials('Temporal restart', () => restartTemporal(ctx)), trialTimeout);

  it('the SSH connection cut while the job runs (ss -K)', async () => {
    const port = clusterConfig('~').port!;
    await ctx.trials('SSH connection cut', async () => {
      expect(await cutWorkerSsh(ctx, port), 'the worker holds an SSH connection to cut').toBeGreaterThan(0);
    });
  }, trialTimeout);

  // slurmctld restarted through the infra script's own mechanism: stopped by its pid file, started again by `up`.
  it('slurmctld restarted while the job runs', () =>
    ctx.trials('slurmctld restart', () =>
      restartDaemon('/run/slurm/slurmctld.pid', () => runInfra([join(infraDir, 'slurm'), 'up'], { SLURM_SKIP_DOCKER: '1' })),
    ), trialTimeout);
});
