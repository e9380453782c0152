// A run recorded on Docker, reused with --on a Kubernetes backend: the namespace's events name no
// Job of the reused run (the control run's Job has its SuccessfulCreate event).
import { execFileSync } from 'node:child_process';
import { describeReuseElsewhere } from '../../helpers/reuse-elsewhere.js';
import { jobName } from '../../../src/backends/kubernetes/job-manifest.js';
import { kubernetesAddArgs, loadClusterEnv } from './kubernetes-backend-env.js';

const c = loadClusterEnv();

describeReuseElsewhere(
  'k8s',
  'kubernetes',
  () => kubernetesAddArgs('k8s', 'reprise-reuse-it').slice(3),
  () => undefined,
  (runId) =>
    execFileSync('kubectl', ['--kubeconfig', c.KUBECONFIG, '--context', c.K8S_CONTEXT, '-n', c.K8S_NAMESPACE, 'get', 'events', '--field-selector', `involvedObject.kind=Job,involvedObject.name=${jobName(runId)}`, '-o', 'name'], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean).length,
);
