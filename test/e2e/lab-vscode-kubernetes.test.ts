// `reprise lab --app vscode --on k8s`: code-server in the Job's pod, reached by port-forward
// through the API server (the lab image pushed to the cluster's registry).
import { describeClusterVscode } from '../helpers/lab-vscode-cluster.js';
import { loadClusterEnv } from '../integration/kubernetes/kubernetes-backend-env.js';

describeClusterVscode('k8s', 'kubernetes', () => {
  const c = loadClusterEnv();
  return ['--kubeconfig', c.KUBECONFIG, '--context', c.K8S_CONTEXT, '--namespace', c.K8S_NAMESPACE, '--registry', `${c.K8S_REGISTRY}/reprise-lab-it`];
});
