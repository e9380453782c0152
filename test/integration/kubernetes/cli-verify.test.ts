import { describeCrossBackendVerify } from '../../helpers/cross-backend.js';
import { loadClusterEnv } from './kubernetes-backend-env.js';

describeCrossBackendVerify('k8s', 'kubernetes', () => {
  const c = loadClusterEnv();
  return ['--kubeconfig', c.KUBECONFIG, '--context', c.K8S_CONTEXT, '--namespace', c.K8S_NAMESPACE, '--registry', `${c.K8S_REGISTRY}/reprise-cli-it`];
});
