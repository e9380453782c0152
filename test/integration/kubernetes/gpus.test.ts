import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunRecord } from '../../../src/project/run-record.js';
import { useCliProject } from '../../helpers/cli-project.js';
import { repoState } from '../../helpers/project.js';
import { adminClients, kubernetesAddArgs, loadClusterEnv } from './kubernetes-backend-env.js';

// GPUs by type on the real test cluster, without GPU hardware: the node advertises two
// nvidia.com/gpu and an A100 product label the way a device plugin and GPU feature discovery
// would (its status patched, a label set), and the scheduler's own accounting does the rest. The
// container does not see a GPU (no device plugin, no NVIDIA runtime): CUDA is not proven here.
const c = loadClusterEnv();
const { core } = adminClients(c);
const kubectl = (...args: string[]) => execFileSync('kubectl', ['--kubeconfig', c.KUBECONFIG, '--context', c.K8S_CONTEXT, ...args], { encoding: 'utf8' });
const PRODUCT = 'nvidia.com/gpu.product';
let node = '';

beforeAll(async () => {
  node = (await core.listNode()).items[0]!.metadata!.name!;
  const gpus = { op: 'add', value: '2' };
  kubectl('patch', 'node', node, '--subresource=status', '--type=json', '-p', JSON.stringify([{ ...gpus, path: '/status/capacity/nvidia.com~1gpu' }, { ...gpus, path: '/status/allocatable/nvidia.com~1gpu' }]));
  kubectl('label', 'node', node, '--overwrite', `${PRODUCT}=A100`);
  // The scheduler reads nodes from its informer: wait until the API shows both.
  for (let i = 0; i < 50; i++) {
    const n = await core.readNode({ name: node });
    if (n.status?.allocatable?.['nvidia.com/gpu'] === '2' && n.metadata?.labels?.[PRODUCT] === 'A100') return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`node ${node} never showed the patched GPUs`);
});

afterAll(() => {
  if (!node) return;
  kubectl('label', 'node', node, `${PRODUCT}-`);
  const remove = (path: string) => ({ op: 'remove', path });
  kubectl('patch', 'node', node, '--subresource=status', '--type=json', '-p', JSON.stringify([remove('/status/capacity/nvidia.com~1gpu'), remove('/status/allocatable/nvidia.com~1gpu')]));
});

// A run may wait for the node behind other suites' pods: minutes, not the 60 s default.
describe('the built CLI: Kubernetes GPUs by type (the node advertises 2 nvidia.com/gpu, product A100)', { timeout: 240_000 }, () => {
  const p = useCliProject('k8s-gpus', () => [...kubernetesAddArgs('k8s', 'reprise-gpus'), '--gpu-type', `a100=${PRODUCT}=A100`, '--gpu-type', `h100=${PRODUCT}=H100`]);

  it('--gpus a100:1 schedules on the A100 node and runs; the record keeps the pod\'s limits and its GPU-hours', async () => {
    const r = await p.cli.run(['run', '--on', 'k8s', '--gpus', 'a100:1', '--', 'sh', '-c', 'sleep 2; echo scheduled'], p.root);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('scheduled\n');
    const [entry] = await p.cli.json<{ runId: string }[]>(['log'], p.root);
    const record = await p.cli.json<RunRecord>(['show', entry!.runId], p.root);
    expect(record.resources).toEqual({ gpus: 1, gpuType: 'a100' });
    expect(record.granted).toEqual({ 'nvidia.com/gpu': '1' });
    expect((await p.cli.run(['show', entry!.runId], p.root)).stdout).toMatch(/^granted {4}nvidia\.com\/gpu=1$/m);
    // What it used: one GPU (the pod's limit) for the command's running time, as core-hours are counted.
    const used = record.used!;
    expect(used.source).toBe('pod requests');
    expect(used.wallSeconds).toBeGreaterThanOrEqual(2);
    expect(used.gpuHours).toBeCloseTo(used.wallSeconds / 3600, 6);
  });

  const refusals = [
    ['h100:1', 'a type whose label no node has', /0\/\d+ nodes are available: .*didn't match Pod's node affinity\/selector/],
    ['a100:5', 'more than any node has', /0\/\d+ nodes are available: .*Insufficient nvidia\.com\/gpu/],
  ] as const;
  for (const [gpus, what, reason] of refusals) {
    it(`--gpus ${gpus} (${what}) fails within seconds with the scheduler's reason: exit 2, nothing recorded`, async () => {
      const before = repoState(p.root);
      const logBefore = await p.cli.json<unknown[]>(['log'], p.root);
      const t0 = Date.now();
      const r = await p.cli.run(['run', '--on', 'k8s', '--gpus', gpus, '--', 'true'], p.root);
      const seconds = (Date.now() - t0) / 1000;
      expect(r.code, r.stderr).toBe(2);
      const last = r.stderr.trimEnd().split('\n').at(-1)!;
      expect(last).toMatch(/^Error: the kubernetes scheduler can never start this job: /);
      expect(last).toMatch(reason);
      expect(seconds).toBeLessThan(60);
      expect(repoState(p.root)).toEqual(before);
      expect(await p.cli.json<unknown[]>(['log'], p.root)).toEqual(logBefore);
      console.log(`--gpus ${gpus} refused in ${seconds.toFixed(1)} s`);
    });
  }

  it('--gpus v100:1 (a type the backend does not map) is refused in one line naming its types, before any Job is made', async () => {
    const r = await p.cli.run(['run', '--on', 'k8s', '--gpus', 'v100:1', '--', 'true'], p.root);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.trimEnd().split('\n').at(-1)).toMatch(/^Error: .*--gpus v100:1: this Kubernetes backend maps no GPU type "v100" to nodes \(its types: a100, h100\); ask for one of those or add the type with `reprise backend add … --gpu-type v100=LABEL=VALUE`$/);
    const runId = /run (run-[a-z2-7]+) on k8s/.exec(r.stderr)![1]!;
    expect(kubectl('get', 'jobs', '-n', c.K8S_NAMESPACE, '-o', 'name')).not.toContain(runId.slice(4));
  });
});
