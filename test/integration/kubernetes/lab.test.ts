// `reprise lab --on k8s`: JupyterLab in the Job's pod, reached by port-forward through the API
// server; the forward's connection cut mid-session, the pod's command killed on the cluster.
import { execFileSync } from 'node:child_process';
import { describeClusterLab } from '../../helpers/lab.js';
import { loadClusterEnv } from './kubernetes-backend-env.js';

describeClusterLab('k8s', 'kubernetes', () => {
  const c = loadClusterEnv();
  return ['--kubeconfig', c.KUBECONFIG, '--context', c.K8S_CONTEXT, '--namespace', c.K8S_NAMESPACE, '--registry', `${c.K8S_REGISTRY}/reprise-lab-it`];
}, {
  cutPort: () => Number(new URL(execFileSync('kubectl', ['--kubeconfig', loadClusterEnv().KUBECONFIG, 'config', 'view', '--minify', '-o', 'jsonpath={.clusters[0].cluster.server}'], { encoding: 'utf8' })).port),
  kill: (labId) => {
    const c = loadClusterEnv();
    const kubectl = (...args: string[]) => execFileSync('kubectl', ['--kubeconfig', c.KUBECONFIG, '--context', c.K8S_CONTEXT, '-n', c.K8S_NAMESPACE, ...args], { encoding: 'utf8' });
    const pod = kubectl('get', 'pods', '-l', `batch.kubernetes.io/job-name=reprise-${labId}`, '-o', 'jsonpath={.items[0].metadata.name}').trim();
    // Jupyter killed in the pod, as an OOM kill or a crash would end it: the pod stays for the last copy.
    // (No pgrep in a slim image: /proc is read; the pattern is built so this script does not match itself.)
    kubectl('exec', pod, '-c', 'run', '--', 'sh', '-c', 'p=jupy; p="${p}terlab"; for d in /proc/[0-9]*; do tr "\\0" " " < $d/cmdline 2>/dev/null | grep -q "$p" && kill -9 "${d#/proc/}"; done; true');
  },
});
