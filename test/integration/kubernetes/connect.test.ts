// connect() and collect(…, { paths, final: false }) of the kubernetes backend against the REAL
// test cluster (`test/infra/kubernetes up`): a real pod, the API server's real port-forward.
import { CoreV1Api, KubeConfig, RbacAuthorizationV1Api, type V1PolicyRule } from '@kubernetes/client-node';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { KubernetesBackend } from '../../../src/backends/kubernetes/kubernetes-backend.js';
import type { JobHandle, JobSpec, JobStatus } from '../../../src/backends/types.js';
import { dockerClient } from '../../../src/images/engine.js';
import { adminClients, awaitedStatus, backendConfig, buildTestImage, leastPrivilegeKubeconfig, loadClusterEnv, type ClusterEnv } from './kubernetes-backend-env.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const token = randomBytes(4).toString('hex');
const pythonTag = `reprise/k8s-connect-py-${token}:latest`;
const busyboxTag = `reprise/k8s-connect-bb-${token}:latest`;
const PORT = 8888;

let env: ClusterEnv;
let kc: KubeConfig;
let core: CoreV1Api;
let backend: KubernetesBackend;
let pythonImage: string;
let busyboxImage: string;
let work: string;
const handles: JobHandle[] = [];

beforeAll(async () => {
  env = loadClusterEnv();
  ({ kc, core } = adminClients(env));
  backend = new KubernetesBackend(backendConfig(env), dockerClient());
  execFileSync('docker', ['tag', 'local/debian-python:bookworm', pythonTag]);
  pythonImage = execFileSync('docker', ['image', 'inspect', '--format', '{{.Id}}', pythonTag], { encoding: 'utf8' }).trim();
  busyboxImage = buildTestImage(busyboxTag);
  work = await mkdtemp(join(tmpdir(), 'reprise-k8s-connect-'));
});

afterAll(async () => {
  for (const h of handles) await backend?.cleanup(h).catch(() => undefined);
  if (work) await rm(work, { recursive: true, force: true });
  const pushed = ['py', 'bb'].flatMap((k) =>
    execFileSync('docker', ['image', 'ls', '--format', '{{.Repository}}:{{.Tag}}', `${env.K8S_REGISTRY}/reprise-it/k8s-connect-${k}-${token}`], { encoding: 'utf8' }).split('\n'),
  );
  execFileSync('docker', ['image', 'rm', '-f', pythonTag, busyboxTag, ...pushed.filter(Boolean)], { stdio: 'ignore' });
});

const runId = (what: string) => `run-cx${token}${what}${randomBytes(3).toString('hex')}`;

async function submitted(b: KubernetesBackend, image: { digest: string; tag: string }, command: string[], files: Record<string, string> = {}, over: Partial<JobSpec> = {}): Promise<JobHandle> {
  const id = runId('x');
  const src = join(await mkdtemp(join(work, 'run-')), 'src');
  await mkdir(join(src, 'output'), { recursive: true });
  for (const [path, body] of Object.entries(files)) {
    await mkdir(dirname(join(src, path)), { recursive: true });
    await writeFile(join(src, path), body);
  }
  const staged = await b.stage({ runId: id, image, sourcesDir: src });
  const handle = await b.submit({ runId: id, command, env: {}, resources: {}, staged, ...over });
  handles.push(handle);
  return handle;
}

async function waitPhase(h: JobHandle, phases: JobStatus['phase'][], ms = 180_000): Promise<JobStatus> {
  for (const until = Date.now() + ms; Date.now() < until; ) {
    const s = await awaitedStatus(backend, h);
    if (phases.includes(s.phase)) return s;
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`job ${h.jobId} not ${phases.join('/')} within ${ms} ms`);
}

/** Everything a stream delivers until its end; rejects with its error. */
function drain(stream: Duplex): Promise<string> {
  const chunks: Buffer[] = [];
  return new Promise((resolve, reject) => {
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    stream.on('error', reject);
  });
}

/** A raw HTTP/1.0 GET over one connect() stream (the server closes the connection after answering). */
async function httpGet(b: KubernetesBackend, h: JobHandle, path: string, port = PORT): Promise<string> {
  const stream = await b.connect(h, port);
  const answer = drain(stream);
  stream.write(`GET ${path} HTTP/1.0\r\nHost: localhost\r\n\r\n`);
  return answer;
}

async function tree(dir: string, prefix = ''): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.isDirectory()) Object.assign(out, await tree(join(dir, e.name), `${prefix}${e.name}/`));
    else out[`${prefix}${e.name}`] = await readFile(join(dir, e.name), 'utf8');
  }
  return out;
}

describe('kubernetes backend connect() on the real test cluster', () => {
  let server: JobHandle;

  it('connects to an HTTP server in the running pod: raw GET answers 200', async () => {
    server = await submitted(backend, { digest: pythonImage, tag: pythonTag }, ['python3', '-m', 'http.server', String(PORT), '--bind', '0.0.0.0'], {
      'code/hello.txt': `hello ${token}\n`,
    });
    await waitPhase(server, ['running']);
    // The server binds a moment after the command starts: until then the forward is refused.
    let answer = '';
    for (const until = Date.now() + 30_000; ; ) {
      try {
        answer = await httpGet(backend, server, '/code/hello.txt');
        break;
      } catch (err) {
        if (Date.now() > until) throw err;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    expect(answer).toMatch(/^HTTP\/1\.0 200 OK\r\n/);
    expect(answer.endsWith(`\r\n\r\nhello ${token}\n`)).toBe(true);
  }, 300_000);

  it('serves two concurrent streams', async () => {
    const a = await backend.connect(server, PORT);
    const b = await backend.connect(server, PORT);
    const [ra, rb] = [drain(a), drain(b)];
    // Both open before either asks: they really are two connections at once.
    b.write('GET /code/hello.txt HTTP/1.0\r\n\r\n');
    a.write('GET /missing HTTP/1.0\r\n\r\n');
    expect(await rb).toMatch(/^HTTP\/1\.0 200 OK\r\n[\s\S]*hello /);
    expect(await ra).toMatch(/^HTTP\/1\.0 404 /);
  }, 60_000);

  it('a stream to a port nothing listens on errors cleanly; the right port still works after', async () => {
    const dead = await backend.connect(server, PORT + 1);
    const err = await drain(dead).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(Error);
    expect(err!.message).toMatch(new RegExp(`port-forward to port ${PORT + 1} of pod reprise-.* failed: .*${PORT + 1}`));
    expect(err!.message).toMatch(/refused/i);
    expect(dead.destroyed).toBe(true);
    expect(await httpGet(backend, server, '/code/hello.txt')).toMatch(/^HTTP\/1\.0 200 OK\r\n/);
  }, 60_000);

  it('refuses a port that is no port, before touching the cluster', async () => {
    await expect(backend.connect(server, 0)).rejects.toThrow(/a port is a whole number from 1 to 65535/);
    await expect(backend.connect(server, 70000)).rejects.toThrow(/a port is a whole number from 1 to 65535/);
  });

  it('connects with ONLY the rights in deploy/kubernetes/rbac.yaml (ServiceAccount token)', async () => {
    const ns = env.K8S_NAMESPACE;
    const name = `reprise-cx-lp-${token}`;
    const rbacApi = kc.makeApiClient(RbacAuthorizationV1Api);
    const role = parseAllDocuments(await readFile(join(repoRoot, 'deploy/kubernetes/rbac.yaml'), 'utf8'))
      .map((d) => d.toJS() as { kind: string; rules?: V1PolicyRule[] })
      .find((d) => d.kind === 'Role')!;
    expect(role.rules).toContainEqual({ apiGroups: [''], resources: ['pods/portforward'], verbs: ['create', 'get'] });
    const withoutForward = role.rules!.filter((r) => !r.resources?.includes('pods/portforward'));
    const kubeconfig = join(work, 'least-privilege.kubeconfig');
    try {
      // First without pods/portforward: the rest of the Role works, the forward is refused by name.
      await leastPrivilegeKubeconfig(kc, ns, name, withoutForward, kubeconfig);
      const limited = new KubernetesBackend(backendConfig(env, { kubeconfig, context: 'lp' }), dockerClient());
      // RBAC bindings take a moment to reach the authorizer.
      for (let i = 0; ; i++) {
        try {
          await limited.check();
          break;
        } catch (err) {
          if (i > 40) throw err;
          await new Promise((r) => setTimeout(r, 250));
        }
      }
      await expect(limited.connect(server, PORT)).rejects.toThrow(/^access denied \(HTTP 403\) forwarding port 8888 of pod .*: the identity needs "create" and "get" on pods\/portforward/);
      // Then the Role exactly as deploy/kubernetes/rbac.yaml has it.
      await rbacApi.replaceNamespacedRole({ name, namespace: ns, body: { metadata: { name }, rules: role.rules } });
      for (let i = 0; ; i++) {
        try {
          expect(await httpGet(limited, server, '/code/hello.txt')).toMatch(/^HTTP\/1\.0 200 OK\r\n/);
          break;
        } catch (err) {
          if (i > 40) throw err;
          await new Promise((r) => setTimeout(r, 250));
        }
      }
    } finally {
      await rbacApi.deleteNamespacedRoleBinding({ name, namespace: ns }).catch(() => undefined);
      await rbacApi.deleteNamespacedRole({ name, namespace: ns }).catch(() => undefined);
      await core.deleteNamespacedServiceAccount({ name, namespace: ns }).catch(() => undefined);
    }
  }, 60_000);

  it('on a job whose command ended: a clear error', async () => {
    await backend.cancel(server);
    expect(await waitPhase(server, ['exited'], 60_000)).toMatchObject({ phase: 'exited' });
    await expect(backend.connect(server, PORT)).rejects.toThrow(new RegExp(`cannot connect to port ${PORT} of run ${server.runId} .*: its command has ended \\(exit code \\d+\\)$`));
    await backend.collect(server, join(work, 'server-out'));
    await backend.cleanup(server);
    await expect(backend.connect(server, PORT)).rejects.toThrow(/the Job no longer exists/);
  }, 120_000);

  it('on a pending job: one line with the scheduler’s reason', async () => {
    const h = await submitted(backend, { digest: busyboxImage, tag: busyboxTag }, ['true'], {}, { resources: { cpus: 1000 } }); // never schedulable
    await waitPhase(h, ['pending']);
    let message = '';
    for (let i = 0; i < 40 && !/Insufficient cpu/.test(message); i++) {
      message = await backend.connect(h, PORT).then(
        () => 'connected',
        (e: unknown) => (e as Error).message,
      );
      if (!/Insufficient cpu/.test(message)) await new Promise((r) => setTimeout(r, 250));
    }
    expect(message).toMatch(/^cannot connect to port 8888 of run .*: it is not running yet \(pending: 0\/\d+ nodes are available: .*Insufficient cpu.*\)$/);
    expect(message).not.toContain('\n');
    await backend.cancel(h);
  }, 120_000);
});

describe('kubernetes backend collect() with paths and final: false', () => {
  it('copies code/ and output/ while the job goes on; the final collect after cancel still returns output/', async () => {
    const h = await submitted(backend, { digest: busyboxImage, tag: busyboxTag }, ['sh', '-c', 'mkdir -p output; echo a > output/a; echo b > code/b; sleep 60'], {
      'code/x.txt': 'x\n',
    });
    await waitPhase(h, ['running']);
    let copy: Record<string, string> = {};
    for (let i = 0; i < 40 && !(copy['code/b'] && copy['output/a']); i++) {
      const dest = join(work, `checkpoint-${i}`);
      const result = await backend.collect(h, dest, { paths: ['code', 'output'], final: false });
      expect(result.skipped).toEqual([]);
      copy = await tree(dest);
      if (!copy['code/b']) await new Promise((r) => setTimeout(r, 250));
    }
    expect(copy).toEqual({ 'code/b': 'b\n', 'code/x.txt': 'x\n', 'output/a': 'a\n' });
    // The hand-over file was not touched: the job goes on, and another checkpoint works.
    expect((await backend.status(h)).phase).toBe('running');
    const again = join(work, 'checkpoint-again');
    await backend.collect(h, again, { paths: ['output'], final: false });
    expect(await tree(again)).toEqual({ 'output/a': 'a\n' });
    expect((await backend.status(h)).phase).toBe('running');

    await backend.cancel(h);
    const ended = await waitPhase(h, ['exited'], 60_000);
    expect(ended.exitCode).not.toBe(0);
    const final = join(work, 'final');
    expect(await backend.collect(h, final)).toEqual({ skipped: [] });
    expect(await tree(final)).toEqual({ a: 'a\n' });
  }, 300_000);

  it('refuses names that are not top-level directories', async () => {
    const h = { kind: 'kubernetes', runId: 'r', jobId: 'reprise-none', namespace: env.K8S_NAMESPACE, sources: '/nonexistent', timeSeconds: null };
    for (const bad of ['../etc', 'code/sub', '-x', '..', 'a b', '$(id)']) {
      await expect(backend.collect(h, join(work, 'never'), { paths: [bad] })).rejects.toThrow(/only top-level directories/);
    }
  });
});
