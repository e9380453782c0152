// The dashboard's NetworkPolicy (deploy/kubernetes/dashboard.yaml), enforced on the REAL test
// cluster (kube-router, as networkpolicy.test.ts explains), applied as written with only its
// namespaces changed to this file's own: the dashboard's (for `reprise`) and a Temporal one (for
// `temporal`). A pod labelled as the dashboard's pods are, listening on the dashboard's port 8484
// and on another, first (the control: every target is up, so nothing passes vacuously) reaches
// Temporal on 7233 and on another port, a git daemon's port 9418 and another port on a pod
// elsewhere, and takes connections on both its ports; with the policy it reaches Temporal on 7233
// and git on 9418 only, and takes connections on 8484 only. DNS is allowed by the same rule as
// networkpolicy.yaml's (proven there), not checked again here.
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../helpers/cli.js';
import { BUSYBOX, requireDocker } from '../../helpers/docker.js';
import { readInfraEnv } from '../../helpers/infra.js';
import { loadClusterEnv } from './kubernetes-backend-env.js';

const token = randomBytes(4).toString('hex');
const dashNs = `reprise-dnp-${token}`;
const temporalNs = `reprise-dnp-temporal-${token}`;
const elsewhereNs = `reprise-dnp-elsewhere-${token}`;
const env = loadClusterEnv();
readInfraEnv('kubernetes', ['K8S_NETWORK_POLICY']);
const busybox = `${env.K8S_REGISTRY}/reprise-it/dnp-busybox:${token}`;
const OTHER = 8080;

const kubectl = (args: string[], input?: string) =>
  execFileSync('kubectl', ['--kubeconfig', env.KUBECONFIG, '--context', env.K8S_CONTEXT, ...args], { encoding: 'utf8', input, timeout: 180_000 });
const apply = (obj: object) => kubectl(['apply', '-f', '-'], JSON.stringify(obj));
const sh = async (ns: string, pod: string, script: string) =>
  (await promisify(execFile)('kubectl', ['--kubeconfig', env.KUBECONFIG, '--context', env.K8S_CONTEXT, 'exec', '-n', ns, pod, '--', 'sh', '-c', script], { encoding: 'utf8', timeout: 60_000 })).stdout;
/** busybox nc runs `true` once connected (exit 0), exits 1 if refused or timed out. */
const connects = async (ns: string, pod: string, host: string, port: number) => (await sh(ns, pod, `nc -w 3 ${host} ${port} -e true </dev/null >/dev/null 2>&1; echo $?`)).trim() === '0';

/** A restricted pod serving HTTP on each of `ports` (busybox httpd). */
const listener = (ns: string, name: string, labels: Record<string, string>, ports: number[]) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: ns, labels },
  spec: {
    terminationGracePeriodSeconds: 1,
    containers: [
      {
        name: 'main',
        image: busybox,
        command: ['sh', '-c', `${ports.slice(1).map((p) => `httpd -p ${p} -h /tmp && `).join('')}exec httpd -f -p ${ports[0]} -h /tmp`],
        securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } },
      },
    ],
  },
});
const ips = { dashboard: '', temporal: '', elsewhere: '' };

async function until(what: string, ok: () => Promise<boolean>, ms: number): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error(`${what} within ${ms} ms`);
}

beforeAll(async () => {
  requireDocker();
  execFileSync('docker', ['tag', BUSYBOX, busybox]);
  await promisify(execFile)('docker', ['push', '-q', busybox]);
  for (const ns of [dashNs, temporalNs, elsewhereNs]) apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } } });
  for (const ns of [dashNs, temporalNs, elsewhereNs]) {
    await until(`no default ServiceAccount in ${ns}`, async () => {
      try {
        kubectl(['get', 'serviceaccount', '-n', ns, 'default']);
        return true;
      } catch {
        return false;
      }
    }, 60_000);
  }
  apply(listener(dashNs, 'dashboard', { 'app.kubernetes.io/name': 'reprise-dashboard' }, [8484, OTHER]));
  apply(listener(temporalNs, 'temporal', { app: 'temporal' }, [7233, OTHER]));
  apply(listener(elsewhereNs, 'elsewhere', { app: 'git' }, [9418, OTHER]));
  for (const [ns, pod] of [[dashNs, 'dashboard'], [temporalNs, 'temporal'], [elsewhereNs, 'elsewhere']] as const) {
    kubectl(['wait', '--for=condition=Ready', '-n', ns, `pod/${pod}`, '--timeout=180s']);
    ips[pod] = kubectl(['get', 'pod', '-n', ns, pod, '-o', 'jsonpath={.status.podIP}']).trim();
  }
}, 400_000);

afterAll(() => {
  try {
    kubectl(['delete', 'namespace', dashNs, temporalNs, elsewhereNs, '--ignore-not-found', '--wait=false']);
  } catch {
    // best effort
  }
  execFileSync('docker', ['image', 'rm', '-f', busybox], { stdio: 'ignore' });
});

async function reach() {
  return {
    temporal: await connects(dashNs, 'dashboard', ips.temporal, 7233),
    temporalOther: await connects(dashNs, 'dashboard', ips.temporal, OTHER),
    git: await connects(dashNs, 'dashboard', ips.elsewhere, 9418),
    elsewhereOther: await connects(dashNs, 'dashboard', ips.elsewhere, OTHER),
    ingressDashboard: await connects(elsewhereNs, 'elsewhere', ips.dashboard, 8484),
    ingressOther: await connects(elsewhereNs, 'elsewhere', ips.dashboard, OTHER),
  };
}

describe("deploy/kubernetes/dashboard.yaml's NetworkPolicy on a cluster that enforces NetworkPolicy", () => {
  it('without the policy (control) the dashboard pod reaches every port and takes connections on both of its own', { timeout: 120_000 }, async () => {
    expect(await reach()).toEqual({ temporal: true, temporalOther: true, git: true, elsewhereOther: true, ingressDashboard: true, ingressOther: true });
  });

  it('with it: out only to Temporal (7233, its namespace) and git (9418), in only on 8484', { timeout: 180_000 }, async () => {
    const manifests = readFileSync(join(repoRoot, 'deploy/kubernetes/dashboard.yaml'), 'utf8').split(/^---$/m);
    const policy = manifests.find((m) => /^kind: NetworkPolicy$/m.test(m))!;
    expect(policy.match(/^ {2}namespace: reprise$/gm)).toHaveLength(1);
    expect(policy.match(/kubernetes\.io\/metadata\.name: temporal$/gm)).toHaveLength(1);
    kubectl(['apply', '-f', '-'], policy.replace(/^ {2}namespace: reprise$/m, `  namespace: ${dashNs}`).replace(/(kubernetes\.io\/metadata\.name:) temporal$/m, `$1 ${temporalNs}`));
    await until('the policy was not enforced', async () => !(await connects(dashNs, 'dashboard', ips.temporal, OTHER)), 60_000);
    expect(await reach()).toEqual({ temporal: true, temporalOther: false, git: true, elsewhereOther: false, ingressDashboard: true, ingressOther: false });
  });
});
