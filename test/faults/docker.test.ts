// Faults on the Docker backend: the worker SIGKILLed, the Temporal dev server restarted and
// dockerd restarted while a run's container runs, and the user's own commits on the run's branch
// while it is recorded (harness.ts says what each trial counts, user-commits.ts what that row checks).
import { afterAll, beforeAll, describe, it } from 'vitest';
import { join } from 'node:path';
import { repoRoot } from '../helpers/cli.js';
import { useCliProject } from '../helpers/cli-project.js';
import { dockerJobs, FaultContext, killWorker, restartDaemon, restartTemporal, runInfra, skipRow, TRIALS, waitExclusive } from './harness.js';
import { userCommitsDuringRecord } from './user-commits.js';

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

  // The record's compare-and-swap racing the user's `git commit` on the same branch and working
  // tree, from the job's start to past the run's end. Restarts nothing: no need to be alone.
  it("the user's own git commits on the run's branch while it is recorded", () =>
    ctx.trials('user commits during the record', (runId) => userCommitsDuringRecord(ctx, runId)), trialTimeout);

  // Restarting dockerd stops every container on the machine (no live-restore): only when nobody else tests.
  it('dockerd restarted while the job runs', async () => {
    const busy = await waitExclusive();
    if (busy) return skipRow('dockerd restart', 'docker', busy);
    await ctx.trials('dockerd restart', () =>
      restartDaemon('/var/run/docker.pid', () => runInfra(['bash', join(repoRoot, 'scripts/docker-up.sh')]), 2000),
    );
  }, trialTimeout + 600_000);
});
