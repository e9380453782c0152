// deploy/kubernetes really runs: the worker image is built from deploy/ (deploy/build-image.sh,
// no public registry: its base is made from Debian's packages) and pushed to the test registry;
// two worker replicas (deploy/kubernetes-single-host: the base manifests on the host's network,
// because this one-machine cluster's services listen on loopback) poll a Temporal server and run
// Alice's team-mode runs from a git remote on the Kubernetes backend (in-cluster credentials of
// the least-privilege Role) and on the SLURM cluster. A worker pod deleted mid-run is replaced by
// the Deployment while the other replica finishes the run, recorded once. The dashboard of the same
// manifests serves a clone of the remote behind its login: the Team view shows those runs with the
// worker pod of each (API and Chromium), and a session outlives the dashboard pod (key from a Secret).
// Needs both test clusters up (test-all.sh brings SLURM up first and keeps it up).
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SESSION_COOKIE } from '../../../src/dashboard/auth.js';
import { TeamView } from '../../../src/dashboard/schemas.js';
import { artifactPath, launchChromium } from '../../helpers/browser.js';
import { freePort, repoRoot } from '../../helpers/cli.js';
import { axeViolations } from '../../helpers/dashboard.js';
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
let dashboardPort: number;
/** The runs the worker pods executed, with the pod that recorded each. */
const executed: { runId: string; worker: string }[] = [];
let forward: ChildProcess | undefined;
let browser: Browser | undefined;

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

const dashboardPods = () =>
  kubectl('-n', 'reprise', 'get', 'pods', '-l', 'app.kubernetes.io/name=reprise-dashboard', '-o', 'jsonpath={range .items[*]}{.metadata.name} {.status.conditions[?(@.type=="Ready")].status} {.metadata.deletionTimestamp}{"\\n"}{end}')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' '))
    .filter(([, ready, deleting]) => ready === 'True' && !deleting)
    .map(([name]) => name!);

/** `kubectl port-forward` to the dashboard pod, as a user reaches it; resolves to the local base URL. */
async function forwardDashboard(): Promise<string> {
  forward?.kill();
  const local = await freePort();
  forward = spawn('kubectl', ['--kubeconfig', clusterEnv.KUBECONFIG, '--context', clusterEnv.K8S_CONTEXT, '-n', 'reprise', 'port-forward', 'deploy/reprise-dashboard', `${local}:${dashboardPort}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    forward!.stdout!.on('data', (d: Buffer) => ((out += d), out.includes('Forwarding from') && resolve()));
    forward!.stderr!.on('data', (d: Buffer) => (out += d));
    forward!.on('exit', (code) => reject(new Error(`kubectl port-forward exited ${code}: ${out}`)));
  });
  return `http://127.0.0.1:${local}`;
}

/** The one-time login URL the dashboard pod printed (what `kubectl logs deploy/reprise-dashboard` shows). */
const printedLogin = () => /dashboard for deployed: (http:\/\/\S+)/.exec(kubectl('-n', 'reprise', 'logs', 'deploy/reprise-dashboard'))?.[1];

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
  // On the host's network (single-host overlay): a free port, not 8484, so runs of this suite do not collide.
  dashboardPort = await freePort();
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
            `REPRISE_DASHBOARD_REMOTE=${git.url('team')}`,
            'REPRISE_DASHBOARD_FETCH_SECONDS=3',
            'LOG_LEVEL=info',
          ],
        },
      ],
      secretGenerator: [
        { name: 'reprise-worker-config', namespace: 'reprise', files: ['config.yaml', 'config.json', 'id_cluster', 'known_hosts', 'temporal-ca.crt', 'temporal-client.crt', 'temporal-client.key'] },
        // The dashboard's session key, as deploy/README.md has the operator make it.
        { name: 'reprise-dashboard', namespace: 'reprise', literals: [`dashboard.key=${randomBytes(32).toString('hex')}`] },
      ],
      patches: [
        {
          target: { kind: 'Deployment', name: 'reprise-worker' },
          // The API server's in-cluster address on this cluster without kube-proxy.
          patch: JSON.stringify([
            { op: 'add', path: '/spec/template/spec/containers/0/env/-', value: { name: 'KUBERNETES_SERVICE_HOST', value: '127.0.0.1' } },
            { op: 'add', path: '/spec/template/spec/containers/0/env/-', value: { name: 'KUBERNETES_SERVICE_PORT', value: apiPort } },
          ]),
        },
        {
          target: { kind: 'Deployment', name: 'reprise-dashboard' },
          patch: JSON.stringify([
            { op: 'replace', path: '/spec/template/spec/containers/0/args', value: ['dashboard', '--host', '0.0.0.0', '--port', String(dashboardPort)] },
            { op: 'replace', path: '/spec/template/spec/containers/0/ports/0/containerPort', value: dashboardPort },
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
  await browser?.close();
  forward?.kill();
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
      // An edit of Alice's before each run: its source commit is hers, which is how the Team view knows the person.
      writeOwned(alice.account, join(project, 'code/target.txt'), `${backend}\n`, 0o644);
      const r = await alice.run(['run', '--on', backend, '--', 'sh', 'code/tick.sh', backend], project);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe('tick 1\ntick 2\ntick 3\n');
      const runId = /run (run-[a-z2-7]+) on /.exec(r.stderr)![1]!;
      const [record] = await recordOf(runId, 10_000);
      expect(record?.state).toBe('succeeded');
      expect(workerPods()).toContain(record?.worker);
      executed.push({ runId, worker: record!.worker! });
      expect(git.git('team', 'show', 'main:output/result.txt')).toBe(`${backend}\n`);
    }
  }, 300_000);

  it('a worker pod deleted mid-run: another replica finishes it, recorded once; the Deployment replaces the pod', async () => {
    expect((await alice.run(['registry', 'set', k8sRegistry], project)).code).toBe(0);
    const before = workerPods();
    writeOwned(alice.account, join(project, 'code/target.txt'), 'k8s, a pod deleted\n', 0o644);
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
    executed.push({ runId, worker: record!.worker! });
    expect(git.git('team', 'show', 'main:output/slow.txt')).toBe('survived\n');
    kubectl('-n', 'reprise', 'rollout', 'status', 'deployment/reprise-worker', '--timeout=180s');
    const after = workerPods();
    expect(after).toHaveLength(2);
    expect(after).not.toContain(victim);
  }, 400_000);

  describe('the dashboard of deploy/kubernetes', () => {
    let base: string;
    let cookie: string;
    const get = (path: string, session?: string) => fetch(`${base}${path}`, session ? { headers: { cookie: `${SESSION_COOKIE}=${session}` } } : {});

    it('becomes ready, refuses reading without a session, and the login URL in its log gives one', { timeout: 400_000 }, async () => {
      kubectl('-n', 'reprise', 'rollout', 'status', 'deployment/reprise-dashboard', '--timeout=300s');
      expect(dashboardPods()).toHaveLength(1);
      // Least privilege: no Kubernetes API credentials in the pod at all.
      const spec = JSON.parse(kubectl('-n', 'reprise', 'get', 'deploy/reprise-dashboard', '-o', 'json')) as { spec: { template: { spec: { automountServiceAccountToken: boolean; serviceAccountName: string } } } };
      expect(spec.spec.template.spec).toMatchObject({ automountServiceAccountToken: false, serviceAccountName: 'reprise-dashboard' });
      expect(kubectl('-n', 'reprise', 'exec', 'deploy/reprise-dashboard', '-c', 'dashboard', '--', 'sh', '-c', 'ls /var/run/secrets/kubernetes.io 2>&1 || true')).toMatch(/No such file/);

      base = await forwardDashboard();
      for (const path of ['/', '/api/team', '/api/feed']) expect((await get(path)).status, path).toBe(401);

      const login = printedLogin();
      // Printed under the address of the port-forward the README tells people to open (REPRISE_DASHBOARD_URL).
      expect(login).toMatch(/^http:\/\/127\.0\.0\.1:8484\/login\?token=[A-Za-z0-9_-]+$/);
      const res = await fetch(`${base}${new URL(login!).pathname}${new URL(login!).search}`, { redirect: 'manual' });
      expect(res.status).toBe(303);
      cookie = new RegExp(`${SESSION_COOKIE}=([^;]+)`).exec(res.headers.get('set-cookie') ?? '')![1]!;
      expect(await (await get('/api/session', cookie)).json()).toMatchObject({ loggedIn: true, loginRequiredToRead: true });
      // One-time: the same link again is refused.
      expect((await fetch(`${base}${new URL(login!).pathname}${new URL(login!).search}`, { redirect: 'manual' })).status).toBe(401);
    });

    it('another person gets a login URL of their own from `reprise dashboard login` in the pod, usable once', { timeout: 120_000 }, async () => {
      const printed = kubectl('-n', 'reprise', 'exec', 'deploy/reprise-dashboard', '-c', 'dashboard', '--', 'node', '/opt/reprise/bin/run.js', 'dashboard', 'login').trim();
      expect(printed).toMatch(/^http:\/\/127\.0\.0\.1:8484\/login\?token=[A-Za-z0-9_.-]+$/);
      const path = `${new URL(printed).pathname}${new URL(printed).search}`;
      const res = await fetch(`${base}${path}`, { redirect: 'manual' });
      expect(res.status).toBe(303);
      const second = new RegExp(`${SESSION_COOKIE}=([^;]+)`).exec(res.headers.get('set-cookie') ?? '')![1]!;
      expect(second).not.toBe(cookie);
      expect((await get('/api/team', second)).status).toBe(200);
      expect((await fetch(`${base}${path}`, { redirect: 'manual' })).status).toBe(401);
    });

    it("the Team view's API lists the runs of the worker pods, each with its pod and its person", { timeout: 120_000 }, async () => {
      expect(executed).toHaveLength(3);
      let view: TeamView | undefined;
      // The dashboard's clone fetches the remote every REPRISE_DASHBOARD_FETCH_SECONDS (3 here).
      for (let i = 0; i < 60; i++) {
        const res = await get('/api/team', cookie);
        expect(res.status).toBe(200);
        view = TeamView.parse(await res.json());
        if (executed.every((e) => view!.runs.some((r) => r.runId === e.runId))) break;
        await new Promise((r) => setTimeout(r, 1000));
      }
      expect(view).toMatchObject({ team: true, temporalAddress: temporal.address });
      for (const { runId, worker } of executed) {
        expect(worker).toMatch(/^reprise-worker-[a-z0-9]+-[a-z0-9]+$/);
        expect(view!.runs.find((r) => r.runId === runId), runId).toMatchObject({ recorded: true, state: 'succeeded', worker, person: 'reprise-alice' });
      }
      expect(view!.people).toEqual(['reprise-alice']);
      expect(view!.workers).toEqual(expect.arrayContaining([...new Set(executed.map((e) => e.worker))]));
    });

    it('shows them in Chromium, axe-clean; a write without the CSRF token is refused', { timeout: 120_000 }, async () => {
      browser = await launchChromium();
      const context = await browser.newContext({ viewport: { width: 1100, height: 560 }, bypassCSP: true });
      await context.addCookies([{ name: SESSION_COOKIE, value: cookie, url: base }]);
      const page = await context.newPage();
      await page.goto(`${base}/#/team`);
      for (const { runId, worker } of executed) {
        const row = page.locator('#team-runs tbody tr', { hasText: runId });
        await row.waitFor({ timeout: 30_000 });
        expect(await row.locator('td').allTextContents()).toEqual(expect.arrayContaining([runId, 'reprise-alice', worker, 'succeeded']));
      }
      expect(await axeViolations(page)).toEqual([]);
      await page.screenshot({ path: artifactPath('dashboard-team-kubernetes.png') });
      await context.close();

      const cancel = (headers: Record<string, string>) => fetch(`${base}/api/runs/${executed[0]!.runId}/cancel`, { method: 'POST', headers: { origin: base, ...headers } });
      expect((await cancel({})).status).toBe(401);
      const refused = await cancel({ cookie: `${SESSION_COOKIE}=${cookie}` });
      expect(refused.status).toBe(403);
      expect(((await refused.json()) as { error: string }).error).toMatch(/x-csrf-token/);
    });

    it('the pod deleted: its replacement accepts the old session (the key is the Secret\'s) and prints a new login URL', { timeout: 300_000 }, async () => {
      const [old] = dashboardPods();
      const oldLogin = printedLogin();
      forward?.kill();
      kubectl('-n', 'reprise', 'delete', 'pod', old!, '--wait=true', '--timeout=120s');
      let now: string[] = [];
      for (let i = 0; i < 240 && !(now = dashboardPods().filter((p) => p !== old)).length; i++) await new Promise((r) => setTimeout(r, 1000));
      expect(now).toHaveLength(1);
      base = await forwardDashboard();
      expect((await get('/api/team')).status).toBe(401);
      const res = await get('/api/team', cookie);
      expect(res.status).toBe(200);
      expect(TeamView.parse(await res.json()).runs.map((r) => r.runId)).toEqual(expect.arrayContaining(executed.map((e) => e.runId)));
      let fresh: string | undefined;
      for (let i = 0; i < 30 && !(fresh = printedLogin()); i++) await new Promise((r) => setTimeout(r, 500));
      expect(fresh).toMatch(/\/login\?token=/);
      expect(fresh).not.toBe(oldLogin);
    });
  });
});
