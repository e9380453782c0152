// Faults on the Docker backend: the worker SIGKILLed, the Temporal dev server restarted and
// dockerd restarted while a run's container runs (harness.ts says what each trial counts).
import { afterAll, beforeAll, describe, it } from 'vitest';
import { join } from 'node:path';
import { repoRoot } from '../helpers/cli.js';
import { useCliProject } from '../helpers/cli-project.js';
import { dockerJobs, FaultContext, killWorker, restartDaemon, restartTemporal, runInfra, skipRow, TRIALS, waitExclusive } from './harness.js';

const trialTimeout = TRIALS * 300_000 + 600_000;

describe('faults on Docker', () => {
  const p = useCliProject('faults-docker');
  let ctx: FaultContext;
  beforeAll(() => {
    ctx = new FaultContext(p.cli, p.root, 'local', 'docker', dockerJobs);
  });
  afterAll(async () => ctx?.close());

  it('the worker SIGKILLed while the job runs', () => ctx.trials('worker SIGKILL', () => killWorker(ctx)), trialTimeout);

  it('the Temporal dev server restarted while the job runs', () => ctx.trials('Temporal restart', () => restartTemporal(ctx)), trialTimeout);

  // Restarting dockerd stops every container on the machine (no live-restore): only when nobody else tests.
  it('dockerd restarted while the job runs', async () => {
    const busy = await waitExclusive();
    if (busy) return skipRow('dockerd restart', 'docker', busy);
    await ctx.trials('dockerd restart', () =>
      restartDaemon('/var/run/docker.pid', () => runInfra(['bash', join(repoRoot, 'scripts/docker-up.sh')]), 2000),
    );
  }, trialTimeout + 600_000);
});
