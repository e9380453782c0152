// Least privilege on the REAL test cluster: run pods pass the `restricted` Pod Security Standard
// (a namespace of this file's own, labelled so), and a pod the API server refuses (here a
// ResourceQuota) fails the run at once with the API server's reason.
import type { CoreV1Api } from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerClient } from '../../../src/images/engine.js';
import { KubernetesBackend } from '../../../src/backends/kubernetes/kubernetes-backend.js';
import type { JobHandle, JobStatus } from '../../../src/backends/types.js';
import { adminClients, awaitedStatus, backendConfig, buildTestImage, loadClusterEnv, type ClusterEnv } from './kubernetes-backend-env.js';

const token = randomBytes(4).toString('hex');
const localTag = `reprise/k8s-psa-${token}:latest`;
const restricted = `reprise-psa-${token}`;
const quota = `reprise-quota-${token}`;
let env: ClusterEnv;
let core: CoreV1Api;
let imageId: string;
let work: string;
const cleanups: (() => Promise<unknown>)[] = [];

async function restrictedNamespace(name: string): Promise<void> {
  await core.createNamespace({ body: { metadata: { name, labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } } } });
  cleanups.push(() => core.deleteNamespace({ name }));
  // Pods are refused until the controller-manager made the namespace's default ServiceAccount.
  for (let i = 0; i < 120; i++) {
    if (await core.readNamespacedServiceAccount({ name: 'default', namespace: name }).then(() => true, () => false)) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`namespace ${name} never got its default ServiceAccount`);
}

async function submit(backend: KubernetesBackend, command: string[]): Promise<JobHandle> {
  const runId = `run-psa${token}${randomBytes(3).toString('hex')}`;
  const sourcesDir = join(await mkdtemp(join(work, 'run-')), 'src');
  await mkdir(join(sourcesDir, 'output'), { recursive: true });
  const staged = await backend.stage({ runId, image: { digest: imageId, tag: localTag }, sourcesDir });
  const handle = await backend.submit({ runId, command, env: {}, resources: {}, staged });
  cleanups.push(() => backend.cleanup(handle));
  return handle;
}

async function until(backend: KubernetesBackend, handle: JobHandle, done: (s: JobStatus) => boolean, ms: number): Promise<JobStatus> {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    const s = await awaitedStatus(backend, handle);
    if (done(s)) return s;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`job ${handle.jobId} did not get there within ${ms} ms`);
}

beforeAll(async () => {
  env = loadClusterEnv();
  ({ core } = adminClients(env));
  imageId = buildTestImage(localTag);
  work = await mkdtemp(join(tmpdir(), 'reprise-k8s-psa-'));
  await restrictedNamespace(restricted);
  await restrictedNamespace(quota);
  await core.createNamespacedResourceQuota({ namespace: quota, body: { metadata: { name: 'no-pods' }, spec: { hard: { pods: '0' } } } });
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  if (work) await rm(work, { recursive: true, force: true });
  execFileSync('docker', ['image', 'rm', '-f', localTag], { stdio: 'ignore' });
});

describe('run pods under the restricted Pod Security Standard', () => {
  it('a job from a root-based image runs as uid 1000 in a restricted namespace, writes its outputs, and its Job expires', async () => {
    const backend = new KubernetesBackend(backendConfig(env, { namespace: restricted }), dockerClient());
    const handle = await submit(backend, ['sh', '-c', 'id -u > output/uid; grep ^CapEff /proc/self/status > output/caps; echo "$HOME" > output/home; touch "$HOME/w"']);
    const ended = await until(backend, handle, (s) => s.phase === 'exited', 180_000);
    expect(ended, JSON.stringify(ended)).toMatchObject({ exitCode: 0 });
    const dest = join(work, `out-${handle.runId}`);
    await backend.collect(handle, dest);
    expect(await readFile(join(dest, 'uid'), 'utf8')).toBe('1000\n');
    expect(await readFile(join(dest, 'caps'), 'utf8')).toMatch(/^CapEff:\s+0+\n$/);
    const { batch } = adminClients(env);
    const job = await batch.readNamespacedJob({ name: handle.jobId, namespace: restricted });
    expect(job.spec?.ttlSecondsAfterFinished).toBeGreaterThan(0);
  });

  it('a pod the API server refuses (ResourceQuota) fails at once with its reason, not a silent wait', async () => {
    const backend = new KubernetesBackend(backendConfig(env, { namespace: quota }), dockerClient());
    const started = Date.now();
    const handle = await submit(backend, ['true']);
    const status = await until(backend, handle, (s) => Boolean(s.never), 60_000);
    expect(status).toMatchObject({ phase: 'pending', never: true, refused: true });
    expect(status.reason).toMatch(/exceeded quota: no-pods/);
    expect(Date.now() - started).toBeLessThan(60_000);
  });
});
