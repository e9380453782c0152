// Faults on the Kubernetes backend (the test cluster): the worker SIGKILLed, the Temporal dev
// server restarted, the kubelet restarted, the API server restarted — each while the run's pod
// runs (harness.ts says what each trial counts).
import { afterAll, beforeAll, describe, it } from 'vitest';
import { join } from 'node:path';
import { useCliProject } from '../helpers/cli-project.js';
import { kubernetesAddArgs, loadClusterEnv } from '../integration/kubernetes/kubernetes-backend-env.js';
import { FaultContext, infraDir, killWorker, kubernetesJobs, restartDaemon, restartTemporal, runInfra, skipRow, TRIALS, waitExclusive } from './harness.js';

const trialTimeout = TRIALS * 300_000 + 600_000;
const pids = join(infraDir, '.state/kubernetes/pids');
const up = () => runInfra([join(infraDir, 'kubernetes'), 'up']);

describe('faults on Kubernetes', () => {
  const p = useCliProject('faults-k8s', () => kubernetesAddArgs('k8s', 'reprise-faults'));
  let ctx: FaultContext;
  beforeAll(() => {
    const c = loadClusterEnv();
    ctx = new FaultContext(p.cli, p.root, 'k8s', 'kubernetes', kubernetesJobs(c.KUBECONFIG, c.K8S_NAMESPACE));
  });
  afterAll(async () => ctx?.close());

  it('the worker SIGKILLed while the job runs', () => ctx.trials('worker SIGKILL', () => killWorker(ctx)), trialTimeout);

  it('the Temporal dev server restarted while the job runs', () => ctx.trials('Temporal restart', () => restartTemporal(ctx)), trialTimeout);

  it('the kubelet restarted while the job runs', () => ctx.trials('kubelet restart', () => restartDaemon(join(pids, 'kubelet.pid'), up)), trialTimeout);

  // Every cluster test on the machine talks to this API server: only when nobody else tests.
  it('the API server restarted while the job runs', async () => {
    const busy = await waitExclusive();
    if (busy) return skipRow('kube-apiserver restart', 'kubernetes', busy);
    await ctx.trials('kube-apiserver restart', () => restartDaemon(join(pids, 'kube-apiserver.pid'), up));
  }, trialTimeout + 600_000);
});
