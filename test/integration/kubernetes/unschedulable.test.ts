import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { Cli, cliEnv } from '../../helpers/cli.js';
import { repoState, tempDir } from '../../helpers/project.js';
import { BUSYBOX, requireDocker } from '../../helpers/docker.js';
import { adminClients, loadClusterEnv } from './kubernetes-backend-env.js';

// A request no node of the cluster can ever hold (FailedScheduling "Insufficient …", no
// autoscaler): the run fails within seconds with the scheduler's reason, exit 2, nothing
// recorded, no Job left, the project as it was; instead of a pod Pending forever in silence.
const c = loadClusterEnv();
const { batch } = adminClients(c);

describe('the built CLI: a Kubernetes request no node can satisfy', () => {
  let cli: Cli;
  let root: string;

  beforeAll(async () => {
    requireDocker();
    cli = new Cli(await cliEnv(await tempDir('reprise-k8s-unsched-home-')));
    const add = ['backend', 'add', 'k8s', '--kind', 'kubernetes', '--kubeconfig', c.KUBECONFIG, '--context', c.K8S_CONTEXT, '--namespace', c.K8S_NAMESPACE, '--registry', `${c.K8S_REGISTRY}/reprise-unsched`];
    expect((await cli.run(add, '/')).code).toBe(0);
    const work = await tempDir('reprise-k8s-unsched-');
    expect((await cli.run(['init', 'big', '--name', 'big', '--base', BUSYBOX], work)).code).toBe(0);
    root = join(work, 'big');
  });

  afterAll(async () => {
    await cli?.run(['agent', 'stop'], root);
  });

  for (const [flag, value, resource] of [['--cpus', '64', 'cpu'], ['--memory', '500G', 'memory']] as const) {
    it(`${flag} ${value}: exit 2 within seconds with "Insufficient ${resource}", nothing recorded, no Job left`, async () => {
      const before = repoState(root);
      const t0 = Date.now();
      const r = await cli.run(['run', '--on', 'k8s', flag, value, '--', 'true'], root);
      expect(r.code, r.stderr).toBe(2);
      expect(Date.now() - t0).toBeLessThan(60_000);
      expect(r.stderr.trimEnd().split('\n').at(-1)).toMatch(
        new RegExp(`^Error: the kubernetes scheduler can never start this job: 0/\\d+ nodes are available: .*Insufficient ${resource}.*; ask for less \\(--cpus, --memory, --gpus, --time\\) or run elsewhere \\(--on\\)$`),
      );
      expect(repoState(root)).toEqual(before);
      expect(await cli.json<unknown[]>(['log'], root)).toEqual([]);
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
