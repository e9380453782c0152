// deploy/kubernetes really runs: the worker image is built from deploy/ (deploy/build-image.sh,
// no public registry: its base is made from Debian's packages) and pushed to the test registry;
// two worker replicas (deploy/kubernetes-single-host: the base manifests on the host's network,
// because this one-machine cluster's services listen on loopback) poll a Temporal server and run
// Alice's team-mode runs from a git remote on the Kubernetes backend (in-cluster credentials of
// the least-privilege Role) and on the SLURM cluster. A worker pod deleted mid-run is replaced by
// the Deployment while the other replica finishes the run, recorded once.
// Needs both test clusters up (test-all.sh brings SLURM up first and keeps it up).
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../helpers/cli.js';
import { requireDocker } from '../../helpers/docker.js';
import { readInfraEnv } from '../../helpers/infra.js';
import { account, GitServer, personEnv, TeamTemporal, UserCli, writeOwned, waitForRecord } from '../../helpers/team.js';
import { clusterConfig } from '../slurm/slurm-backend-env.js';
import { loadClusterEnv } from './kubernetes-backend-env.js';

const suite = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const clusterEnv = loadClusterEnv();
const slurm = clusterConfig(`~/reprise-it/deploy-${suite}`);
const site = readInfraEnv('slurm', ['SLURM_REGISTRY', 'SLURM_REGISTRY_DOCKER_CONFIG']);
const k8sRegistry = `${clusterEnv.K8S_REGISTRY}/reprise-deploy`;
const kubectl = (...args: string[]) => execFileSync('kubectl', ['--kubeconfig', clusterEnv.KUBECONFIG, '--context', clusterEnv.K8S_CONTEXT, ...args], { encoding: 'utf8' });

let temporal: TeamTemporal;
let git: GitServer;
let alice: UserCli;
let project: string;
let overlay: string;

const workerPods = () =>
  kubectl('-n', 'reprise', 'get', 'pods', '-l', 'app.kubernetes.io/name=reprise-worker', '-o', 'jsonpath={range .items[*]}{.metadata.name} {.status.phase} {.metadata.deletionTimestamp}{"\\n"}{end}')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' '))
    .filter(([, phase, deleting]) => phase === 'Running' && !deleting)
    .map(([name]) => name!);

async function pollers(queue: string): Promise<number> {
  const connection = await temporal.connect();
  try {
    const res = await connection.workflowService.describeTaskQueue({ namespace: 'default', taskQueue: { name: queue }, taskQueueType: 1 });
    return new Set((res.pollers ?? []).map((p) => p.identity)).size;
  } finally {
    await connection.close();
  }
}

const recordOf = (runId: string, timeoutMs: number) => waitForRecord(git, 'team', runId, timeoutMs, () => `pods: ${kubectl('-n', 'reprise', 'get', 'pods')}`);

beforeAll(async () => {
  requireDocker();
  // Asynchronously: a cold build takes over a minute, and a blocked test process misses vitest's RPC deadline.
  const built = await promisify(execFile)('bash', ['deploy/build-image.sh', '--push', `${clusterEnv.K8S_REGISTRY}/reprise-worker:${suite}`], { cwd: repoRoot, encoding: 'utf8', maxBuffer: 64 << 20 });
  const image = built.stdout.trim();
  expect(image).toMatch(/^127\.0\.0\.1:\d+\/reprise-worker@sha256:[0-9a-f]{64}$/);
  temporal = await TeamTemporal.start();
  git = await GitServer.start(account('reprise-git'));
  await git.create('team');

  // The worker's configuration and credentials: one Secret, as deploy/README.md describes.
  overlay = mkdtempSync(join(tmpdir(), 'reprise-deploy-'));
  const workerConfig = {
    backends: {
      // No kubeconfig: in the pod the backend uses its service account (deploy/kubernetes/rbac.yaml).
      k8s: { kind: 'kubernetes', namespace: 'reprise-runs', registry: k8sRegistry },
      hpc: { ...slurm, identityFile: '/etc/reprise/id_cluster', knownHostsFile: '/etc/reprise/known_hosts' },
    },
    worker: { allowedRemotes: [git.url('*')] },
  };
  writeFileSync(join(overlay, 'config.yaml'), JSON.stringify(workerConfig));
  copyFileSync(join(site.SLURM_REGISTRY_DOCKER_CONFIG, 'config.json'), join(overlay, 'config.json'));
  copyFileSync(slurm.identityFile, join(overlay, 'id_cluster'));
  copyFileSync(slurm.knownHostsFile, join(overlay, 'known_hosts'));
  // The team's Temporal takes mTLS only: its CA and a client pair travel in the same Secret,
  // named to the worker with Temporal's own variables (deploy/kubernetes/configmap.yaml).
  const tls = temporal.clientEnv;
  copyFileSync(tls.TEMPORAL_TLS_SERVER_CA_CERT_PATH!, join(overlay, 'temporal-ca.crt'));
  copyFileSync(tls.TEMPORAL_TLS_CLIENT_CERT_PATH!, join(overlay, 'temporal-client.crt'));
  copyFileSync(tls.TEMPORAL_TLS_CLIENT_KEY_PATH!, join(overlay, 'temporal-client.key'));
  const apiPort = new URL(readFileSync(clusterEnv.KUBECONFIG, 'utf8').match(/server: (\S+)/)![1]!).port;
  const [name, digest] = image.split('@') as [string, string];
  writeFileSync(
    join(overlay, 'kustomization.yaml'),
    JSON.stringify({
      apiVersion: 'kustomize.config.k8s.io/v1beta1',
      kind: 'Kustomization',
      resources: [relative(overlay, join(repoRoot, 'deploy/kubernetes-single-host'))],
      images: [{ name: 'reprise-worker', newName: name, digest }],
      configMapGenerator: [
        { name: 'reprise-worker', namespace: 'reprise', behavior: 'merge', literals: [
            `TEMPORAL_ADDRESS=${temporal.address}`,
            'TEMPORAL_TLS_SERVER_CA_CERT_PATH=/etc/reprise/temporal-ca.crt',
            'TEMPORAL_TLS_CLIENT_CERT_PATH=/etc/reprise/temporal-client.crt',
            'TEMPORAL_TLS_CLIENT_KEY_PATH=/etc/reprise/temporal-client.key',
            `TEMPORAL_TLS_SERVER_NAME=${tls.TEMPORAL_TLS_SERVER_NAME}`,
            'REPRISE_WORKER_BACKENDS=k8s,hpc',
            'LOG_LEVEL=info',
          ],
        },
      ],
      secretGenerator: [{ name: 'reprise-worker-config', namespace: 'reprise', files: ['config.yaml', 'config.json', 'id_cluster', 'known_hosts', 'temporal-ca.crt', 'temporal-client.crt', 'temporal-client.key'] }],
      patches: [
        {
          target: { kind: 'Deployment', name: 'reprise-worker' },
          // The API server's in-cluster address on this cluster without kube-proxy.
          patch: JSON.stringify([
            { op: 'add', path: '/spec/template/spec/containers/0/env/-', value: { name: 'KUBERNETES_SERVICE_HOST', value: '127.0.0.1' } },
            { op: 'add', path: '/spec/template/spec/containers/0/env/-', value: { name: 'KUBERNETES_SERVICE_PORT', value: apiPort } },
          ]),
        },
      ],
    }),
  );
  kubectl('apply', '-k', overlay);
  kubectl('-n', 'reprise', 'rollout', 'status', 'deployment/reprise-worker', '--timeout=300s');
  for (let i = 0; i < 120 && ((await pollers('reprise.k8s')) < 2 || (await pollers('reprise.hpc')) < 2); i++) await new Promise((r) => setTimeout(r, 1000));

  const people = account('reprise-alice', ['docker']);
  alice = new UserCli(people, personEnv(people, temporal, { REPRISE_TEAM: '1' }));
  writeOwned(people, '.docker/config.json', readFileSync(join(site.SLURM_REGISTRY_DOCKER_CONFIG, 'config.json')));
  project = join(people.home, `deploy-${suite}`);
  expect((await alice.run(['init', project, '--name', 'deployed', '--base', 'local/busybox:latest'])).code).toBe(0);
  writeOwned(people, join(project, 'code/tick.sh'), 'for i in 1 2 3; do echo "tick $i"; sleep 1; done\necho "$1" > output/result.txt\n', 0o644);
  expect((await alice.run(['remote', 'add', 'origin', git.url('team')], project)).code).toBe(0);
}, 900_000);

afterAll(async () => {
  if (overlay) {
    try {
      kubectl('delete', '-k', overlay, '--wait=false');
    } catch {
      // already gone
    }
    rmSync(overlay, { recursive: true, force: true });
  }
  temporal?.stop();
  git?.stop();
});

describe('deploy/kubernetes on the test cluster', () => {
  it('two worker pods poll the Temporal server, one task queue per backend', async () => {
    expect(workerPods()).toHaveLength(2);
    expect(await pollers('reprise.k8s')).toBe(2);
    expect(await pollers('reprise.hpc')).toBe(2);
  });

  it('run a project from the git remote on Kubernetes and on SLURM through the worker pods', async () => {
    for (const [backend, registry] of [['k8s', k8sRegistry], ['hpc', `${site.SLURM_REGISTRY}/reprise-deploy`]] as const) {
      expect((await alice.run(['registry', 'set', registry], project)).code).toBe(0);
      const r = await alice.run(['run', '--on', backend, '--', 'sh', 'code/tick.sh', backend], project);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe('tick 1\ntick 2\ntick 3\n');
      const runId = /run (run-[a-z2-7]+) on /.exec(r.stderr)![1]!;
      const [record] = await recordOf(runId, 10_000);
      expect(record?.state).toBe('succeeded');
      expect(workerPods()).toContain(record?.worker);
      expect(git.git('team', 'show', 'main:output/result.txt')).toBe(`${backend}\n`);
    }
  }, 300_000);

  it('a worker pod deleted mid-run: another replica finishes it, recorded once; the Deployment replaces the pod', async () => {
    expect((await alice.run(['registry', 'set', k8sRegistry], project)).code).toBe(0);
    const before = workerPods();
    const started = await alice.run(['run', '--on', 'k8s', '--detach', '--', 'sh', '-c', 'echo start; sleep 25; echo survived > output/slow.txt'], project);
    expect(started.code, started.stderr).toBe(0);
    const runId = started.stdout.trim();
    let victim: string | undefined;
    for (let i = 0; i < 300 && !victim; i++) {
      victim = before.find((pod) => kubectl('-n', 'reprise', 'logs', pod).split('\n').some((l) => l.includes(runId) && l.includes('job submitted')));
      if (!victim) await new Promise((r) => setTimeout(r, 500));
    }
    expect(victim, 'no worker pod submitted the job').toBeDefined();
    kubectl('-n', 'reprise', 'delete', 'pod', victim!, '--wait=false');
    const [record, ...more] = await recordOf(runId, 240_000);
    expect(more).toEqual([]);
    expect(record?.state).toBe('succeeded');
    expect(record?.worker).not.toBe(victim);
    expect(git.git('team', 'show', 'main:output/slow.txt')).toBe('survived\n');
    kubectl('-n', 'reprise', 'rollout', 'status', 'deployment/reprise-worker', '--timeout=180s');
    const after = workerPods();
    expect(after).toHaveLength(2);
    expect(after).not.toContain(victim);
  }, 400_000);
});
