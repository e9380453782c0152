// Sweeps on the Kubernetes test cluster through the built CLI, watched from outside with kubectl:
// a 3×4 grid at --max-parallel 2, retry of a point made to fail, cancel of a whole sweep.
import { execFileSync } from 'node:child_process';
import { describe } from 'vitest';
import { useCliProject } from '../../helpers/cli-project.js';
import { sweepProofs } from '../../helpers/sweep.js';
import { kubernetesAddArgs, loadClusterEnv } from './kubernetes-backend-env.js';

const c = loadClusterEnv();
const kubectl = (...args: string[]) => execFileSync('kubectl', ['--kubeconfig', c.KUBECONFIG, '--context', c.K8S_CONTEXT, '-n', c.K8S_NAMESPACE, ...args], { encoding: 'utf8' });
const pods = (selector: string, phase?: string) =>
  kubectl('get', 'pods', '-l', selector, ...(phase ? [`--field-selector=status.phase=${phase}`] : []), '-o', 'jsonpath={range .items[*]}{.metadata.labels.reprise\\.run/id} {.metadata.name}{"\\n"}{end}')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' ') as [string, string]);

describe('reprise sweep on Kubernetes', () => {
  const p = useCliProject('k8s-sweep', () => kubernetesAddArgs('k8s', 'reprise-sweep'));
  sweepProofs(p, {
    name: 'k8s',
    running: () => pods('reprise.run/id', 'Running').map(([run]) => run),
    failJob: (runId) => {
      const [, pod] = pods(`reprise.run/id=${runId}`, 'Running')[0]!;
      kubectl('exec', pod, '--', 'touch', '/tmp/fail');
    },
    leftOver: (runIds) => pods('reprise.run/id').map(([run]) => run).filter((run) => runIds.includes(run)),
  });
});
