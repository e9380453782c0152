// deploy/kubernetes/networkpolicy.yaml, enforced on the REAL test cluster: test/infra/kubernetes
// runs kube-router in firewall-only mode (iptables + ipset on top of the CNI bridge plugin), so
// the policy is applied exactly as written, only its namespace changed to one of this file's own.
//
// A pod labelled as run pods are (`app.kubernetes.io/managed-by: reprise`) first reaches, without
// the policy (the control: every target is up and reachable, so nothing passes vacuously):
//   - a Temporal-like service (a TCP listener on 7233) in another namespace, by pod IP;
//   - the API server at the node's address (the bridge's gateway, as pods see the host) and at the
//     `kubernetes` Service's ClusterIP. This one-machine cluster's API server listens on 127.0.0.1
//     only and there is no kube-proxy, so the test stands in for both: a TCP forwarder on the
//     gateway address to the real API server, and a DNAT of the ClusterIP to it for these two
//     pods only (the rule kube-proxy would make; NetworkPolicy is evaluated after that DNAT, as on
//     a real cluster);
//   - DNS, at a kube-dns stand-in in kube-system (this cluster runs no CoreDNS);
// and takes a connection from the other namespace. With the policy applied it reaches neither
// Temporal nor the API server by either address and takes no connection, while DNS still
// resolves; a pod in the same namespace without the label reaches all of them at the same time.
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MANAGED_BY, RUN_ID_LABEL } from '../../../src/backends/kubernetes/job-manifest.js';
import { repoRoot } from '../../helpers/cli.js';
import { BUSYBOX, requireDocker } from '../../helpers/docker.js';
import { readInfraEnv } from '../../helpers/infra.js';
import { loadClusterEnv } from './kubernetes-backend-env.js';

const token = randomBytes(4).toString('hex');
const runsNs = `reprise-np-runs-${token}`;
const temporalNs = `reprise-np-temporal-${token}`;
const dnsPod = `reprise-np-dns-${token}`; // in kube-system, labelled as the cluster DNS is
const env = loadClusterEnv();
// `test/infra/kubernetes up` writes this once kube-router enforces NetworkPolicy.
readInfraEnv('kubernetes', ['K8S_NETWORK_POLICY']);
const busybox = `${env.K8S_REGISTRY}/reprise-it/netpol-busybox:${token}`;
const dnsImage = `${env.K8S_REGISTRY}/reprise-it/netpol-dns:${token}`;
const TEMPORAL_PORT = 7233;
const POD_PORT = 8080;

const kubectl = (args: string[], input?: string) =>
  execFileSync('kubectl', ['--kubeconfig', env.KUBECONFIG, '--context', env.K8S_CONTEXT, ...args], { encoding: 'utf8', input, timeout: 180_000 });
const apply = (obj: object) => kubectl(['apply', '-f', '-'], JSON.stringify(obj));
// Asynchronously: the forwarder below (in this process) must take connections meanwhile.
const sh = async (ns: string, pod: string, script: string) =>
  (await promisify(execFile)('kubectl', ['--kubeconfig', env.KUBECONFIG, '--context', env.K8S_CONTEXT, 'exec', '-n', ns, pod, '--', 'sh', '-c', script], { encoding: 'utf8', timeout: 60_000 })).stdout;
/** A TCP connection from the pod: busybox nc runs `true` once connected (exit 0), exits 1 if refused or timed out. */
const connects = async (ns: string, pod: string, host: string, port: number) => (await sh(ns, pod, `nc -w 3 ${host} ${port} -e true </dev/null >/dev/null 2>&1; echo $?`)).trim() === '0';
const resolves = async (ns: string, pod: string, server: string) => /Address:\s*192\.0\.2\.53/.test(await sh(ns, pod, `timeout 10 nslookup -type=a temporal.reprise.test ${server} 2>&1 || true`));

const restricted = {
  allowPrivilegeEscalation: false,
  capabilities: { drop: ['ALL'] },
  runAsNonRoot: true,
  runAsUser: 1000,
  seccompProfile: { type: 'RuntimeDefault' },
};
const listener = (ns: string, name: string, labels: Record<string, string>, port: number) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: ns, labels },
  spec: {
    terminationGracePeriodSeconds: 1,
    containers: [{ name: 'main', image: busybox, command: ['httpd', '-f', '-p', String(port), '-h', '/tmp'], securityContext: restricted }],
  },
});
const podIP = (ns: string, pod: string) => kubectl(['get', 'pod', '-n', ns, pod, '-o', 'jsonpath={.status.podIP}']).trim();

let forwarder: Server;
let forwarded = 0; // connections the forwarder took: a connect counts only if it got there
let gateway: string; // the host as pods see it
let forwardPort: number;
let clusterIP: string;
const ips: Record<'probe' | 'bystander' | 'temporal' | 'dns', string> = { probe: '', bystander: '', temporal: '', dns: '' };
const natRules: string[][] = [];
let ctx: string;

function isPrivate(ip: string): boolean {
  const [a, b] = ip.split('.').map(Number) as [number, number];
  return a === 10 || a === 127 || (a === 172 && b >= 16 && b < 32) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b < 128) || (a === 169 && b === 254);
}

async function until(what: string, ok: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error(`${what} within ${ms} ms`);
}

beforeAll(async () => {
  requireDocker();
  if (process.getuid?.() !== 0) throw new Error('networkpolicy.test.ts stands in for kube-proxy with an iptables rule: run it as root, as test/infra/kubernetes runs');
  // Images: busybox (listeners and probes) and the DNS stand-in, pushed to the cluster's registry.
  ctx = mkdtempSync(join(tmpdir(), 'reprise-netpol-'));
  // The Go toolchain test/infra/kubernetes builds the cluster with (GO, PATH, or /usr/local/go).
  const go = process.env.GO || (spawnSync('go', ['version']).status === 0 || !existsSync('/usr/local/go/bin/go') ? 'go' : '/usr/local/go/bin/go');
  await promisify(execFile)(go, ['build', '-trimpath', '-ldflags', '-s -w', '-o', join(ctx, 'dns-stub'), join(repoRoot, 'test/integration/kubernetes/fixtures/dns-stub.go')], {
    env: { ...process.env, CGO_ENABLED: '0', GOTOOLCHAIN: 'local', GOFLAGS: '' },
  });
  writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY dns-stub /dns-stub\nENTRYPOINT ["/dns-stub"]\n');
  execFileSync('docker', ['build', '-q', '-t', dnsImage, ctx], { stdio: 'ignore' });
  execFileSync('docker', ['tag', BUSYBOX, busybox]);
  for (const image of [busybox, dnsImage]) await promisify(execFile)('docker', ['push', '-q', image]);

  // The runs namespace as deploy/kubernetes makes it (restricted Pod Security), another for "Temporal".
  apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: runsNs, labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } } });
  apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: temporalNs } });
  for (const ns of [runsNs, temporalNs]) {
    await until(`no default ServiceAccount in ${ns}`, () => {
      try {
        kubectl(['get', 'serviceaccount', '-n', ns, 'default']);
        return true;
      } catch {
        return false;
      }
    }, 60_000);
  }
  apply(listener(runsNs, 'probe', { 'app.kubernetes.io/managed-by': MANAGED_BY, [RUN_ID_LABEL]: `np${token}` }, POD_PORT));
  apply(listener(runsNs, 'bystander', { app: 'bystander' }, POD_PORT));
  apply(listener(temporalNs, 'temporal', { 'app.kubernetes.io/name': 'temporal' }, TEMPORAL_PORT));
  apply({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: dnsPod, namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns' } },
    spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'dns', image: dnsImage }] },
  });
  for (const [ns, pod] of [[runsNs, 'probe'], [runsNs, 'bystander'], [temporalNs, 'temporal'], ['kube-system', dnsPod]] as const) {
    kubectl(['wait', '--for=condition=Ready', '-n', ns, `pod/${pod}`, '--timeout=180s']);
  }
  ips.probe = podIP(runsNs, 'probe');
  ips.bystander = podIP(runsNs, 'bystander');
  ips.temporal = podIP(temporalNs, 'temporal');
  ips.dns = podIP('kube-system', dnsPod);

  // The API server at the host's address as pods see it, and at the `kubernetes` ClusterIP.
  gateway = /default via (\S+)/.exec(await sh(runsNs, 'probe', 'ip route'))![1]!;
  const api = new URL(/server: (\S+)/.exec(readFileSync(env.KUBECONFIG, 'utf8'))![1]!);
  forwarder = createServer((c) => {
    forwarded++;
    const upstream = connect(Number(api.port), api.hostname);
    c.pipe(upstream).pipe(c);
    upstream.on('error', () => c.destroy());
    c.on('error', () => upstream.destroy());
  });
  await new Promise<void>((resolve, reject) => forwarder.once('error', reject).listen(0, gateway, resolve));
  forwardPort = (forwarder.address() as { port: number }).port;
  clusterIP = kubectl(['get', 'service', '-n', 'default', 'kubernetes', '-o', 'jsonpath={.spec.clusterIP}']).trim();
  for (const src of [ips.probe, ips.bystander]) {
    const rule = ['PREROUTING', '-s', `${src}/32`, '-d', `${clusterIP}/32`, '-p', 'tcp', '--dport', '443', '-m', 'comment', '--comment', `reprise-netpol-test-${token}`, '-j', 'DNAT', '--to-destination', `${gateway}:${forwardPort}`];
    execFileSync('iptables', ['-w', '-t', 'nat', '-I', ...rule]);
    natRules.push(rule);
  }
}, 600_000);

afterAll(async () => {
  for (const rule of natRules) execFileSync('iptables', ['-w', '-t', 'nat', '-D', ...rule], { stdio: 'ignore' });
  forwarder?.close();
  for (const args of [
    ['delete', 'pod', '-n', 'kube-system', dnsPod, '--ignore-not-found', '--wait=false'],
    ['delete', 'namespace', runsNs, temporalNs, '--ignore-not-found', '--wait=false'],
  ]) {
    try {
      kubectl(args);
    } catch {
      // best effort
    }
  }
  if (ctx) rmSync(ctx, { recursive: true, force: true });
  execFileSync('docker', ['image', 'rm', '-f', busybox, dnsImage], { stdio: 'ignore' });
});

/** What `pod` in the runs namespace reaches, and whether the Temporal pod reaches it. */
async function reach(pod: 'probe' | 'bystander') {
  const toApi = async (host: string, port: number) => {
    const before = forwarded;
    const ok = await connects(runsNs, pod, host, port);
    await new Promise((r) => setTimeout(r, 200)); // the forwarder's accept, on this event loop
    return ok && forwarded > before;
  };
  return {
    temporal: await connects(runsNs, pod, ips.temporal, TEMPORAL_PORT),
    apiAtNode: await toApi(gateway, forwardPort),
    apiAtClusterIP: await toApi(clusterIP, 443),
    dns: await resolves(runsNs, pod, ips.dns),
    ingressFromOtherNamespace: await connects(temporalNs, 'temporal', ips[pod], POD_PORT),
  };
}
const open = { temporal: true, apiAtNode: true, apiAtClusterIP: true, dns: true, ingressFromOtherNamespace: true };

describe('deploy/kubernetes/networkpolicy.yaml on a cluster that enforces NetworkPolicy', () => {
  it('without the policy (control) a run pod reaches Temporal, the API server and DNS, and takes connections', async () => {
    expect(await reach('probe')).toEqual(open);
    expect(await reach('bystander')).toEqual(open);
  });

  it('with the policy a run pod reaches neither Temporal nor the API server, takes no connection, and DNS still resolves', async () => {
    const policy = readFileSync(join(repoRoot, 'deploy/kubernetes/networkpolicy.yaml'), 'utf8');
    expect(policy.match(/^ {2}namespace: reprise-runs$/gm)).toHaveLength(1);
    kubectl(['apply', '-f', '-'], policy.replace(/^ {2}namespace: reprise-runs$/m, `  namespace: ${runsNs}`));
    // kube-router applies it on the NetworkPolicy event (a full sync of iptables and ipsets).
    await until('the policy was not enforced', async () => !(await connects(runsNs, 'probe', ips.temporal, TEMPORAL_PORT)), 60_000);
    expect(await reach('probe')).toEqual({ temporal: false, apiAtNode: false, apiAtClusterIP: false, dns: true, ingressFromOtherNamespace: false });
    // The same namespace, at the same moment, without the run pods' label: the policy selects by it.
    expect(await reach('bystander')).toEqual(open);
  });

  it('with the policy a run pod still reaches addresses outside the private ranges: the node InternalIP when it is one', async () => {
    const nodeIP = kubectl(['get', 'node', '-o', 'jsonpath={.items[0].status.addresses[?(@.type=="InternalIP")].address}']).trim();
    const server = createServer((c) => c.end());
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, nodeIP, resolve));
    try {
      const port = (server.address() as { port: number }).port;
      // What the policy's ipBlock (0.0.0.0/0 except the private ranges) says for this address:
      // where the API server or Temporal listen on such an address, add it to `except`.
      expect(await connects(runsNs, 'probe', nodeIP, port)).toBe(!isPrivate(nodeIP));
      expect(await connects(runsNs, 'bystander', nodeIP, port)).toBe(true);
    } finally {
      server.close();
    }
  });
});
