import { describe, expect, it } from 'vitest';
import { useCliProject } from '../../helpers/cli-project.js';
import { repoState } from '../../helpers/project.js';
import { adminClients, kubernetesAddArgs, loadClusterEnv } from './kubernetes-backend-env.js';

// A request no node of the cluster can ever hold (FailedScheduling "Insufficient …", no
// autoscaler): the run fails within seconds with the scheduler's reason, exit 2, nothing
// recorded, no Job left, the project as it was; instead of a pod Pending forever in silence.
const c = loadClusterEnv();
const { batch } = adminClients(c);

describe('the built CLI: a Kubernetes request no node can satisfy', () => {
  const p = useCliProject('big', () => kubernetesAddArgs('k8s', 'reprise-unsched'));

  for (const [flag, value, resource] of [['--cpus', '64', 'cpu'], ['--memory', '500G', 'memory']] as const) {
    it(`${flag} ${value}: exit 2 within seconds with "Insufficient ${resource}", nothing recorded, no Job left`, async () => {
      const before = repoState(p.root);
      const t0 = Date.now();
      const r = await p.cli.run(['run', '--on', 'k8s', flag, value, '--', 'true'], p.root);
      expect(r.code, r.stderr).toBe(2);
      expect(Date.now() - t0).toBeLessThan(60_000);
      expect(r.stderr.trimEnd().split('\n').at(-1)).toMatch(
        new RegExp(`^Error: the kubernetes scheduler can never start this job: 0/\\d+ nodes are available: .*Insufficient ${resource}.*; ask for less \\(--cpus, --memory, --gpus, --time\\) or run elsewhere \\(--on\\)$`),
      );
      expect(repoState(p.root)).toEqual(before);
      expect(await p.cli.json<unknown[]>(['log'], p.root)).toEqual([]);
      const runId = /run (run-[a-z2-7]+) on k8s/.exec(r.stderr)![1]!;
      for (let i = 0; i < 30; i++) {
        const left = (await batch.listNamespacedJob({ namespace: c.K8S_NAMESPACE })).items.filter((j) => j.metadata?.name?.includes(runId.slice(4)));
        if (left.length === 0) break;
        await new Promise((res) => setTimeout(res, 1000));
        if (i === 29) throw new Error(`Job of ${runId} left behind`);
      }
    });
  }
});
