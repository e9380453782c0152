// Project secrets and a lab's token on the real Kubernetes test cluster, with ONLY the rights of
// deploy/kubernetes/rbac.yaml: a Secret made for the run (owned by its Job), mounted read-only at
// /run/secrets in the command's container; never a value in the pod spec; gone after cleanup.
import { CoreV1Api, KubeConfig, RbacAuthorizationV1Api, type V1PolicyRule } from '@kubernetes/client-node';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { KubernetesBackend } from '../../../src/backends/kubernetes/kubernetes-backend.js';
import { secretsName } from '../../../src/backends/kubernetes/job-manifest.js';
import type { JobHandle, JobStatus } from '../../../src/backends/types.js';
import { dockerClient } from '../../../src/images/engine.js';
import { adminClients, awaitedStatus, backendConfig, buildTestImage, leastPrivilegeKubeconfig, loadClusterEnv, type ClusterEnv } from './kubernetes-backend-env.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const suite = randomBytes(4).toString('hex');
const localTag = `reprise/k8s-secrets-${suite}:latest`;
const account = `reprise-it-secrets-${suite}`;

let env: ClusterEnv;
let kc: KubeConfig;
let core: CoreV1Api;
let backend: KubernetesBackend;
let imageId: string;
let work: string;

beforeAll(async () => {
  env = loadClusterEnv();
  ({ kc, core } = adminClients(env));
  imageId = buildTestImage(localTag);
  work = await mkdtemp(join(tmpdir(), 'reprise-k8s-secrets-'));
  const role = parseAllDocuments(await readFile(join(repoRoot, 'deploy/kubernetes/rbac.yaml'), 'utf8'))
    .map((d) => d.toJS() as { kind: string; rules?: V1PolicyRule[] })
    .find((d) => d.kind === 'Role')!;
  const kubeconfig = join(work, 'least-privilege.kubeconfig');
  await leastPrivilegeKubeconfig(kc, env.K8S_NAMESPACE, account, role.rules!, kubeconfig);
  backend = new KubernetesBackend(backendConfig(env, { kubeconfig, context: 'lp' }), dockerClient());
  // RBAC bindings take a moment to reach the authorizer.
  for (let i = 0; ; i++) {
    try {
      await backend.check();
      break;
    } catch (err) {
      if (i > 40) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}, 300_000);

afterAll(async () => {
  const rbacApi = kc.makeApiClient(RbacAuthorizationV1Api);
  await rbacApi.deleteNamespacedRoleBinding({ name: account, namespace: env.K8S_NAMESPACE }).catch(() => undefined);
  await rbacApi.deleteNamespacedRole({ name: account, namespace: env.K8S_NAMESPACE }).catch(() => undefined);
  await core.deleteNamespacedServiceAccount({ name: account, namespace: env.K8S_NAMESPACE }).catch(() => undefined);
  if (work) await rm(work, { recursive: true, force: true });
  execFileSync('docker', ['image', 'rm', '-f', localTag], { stdio: 'ignore' });
});

async function waitEnd(handle: JobHandle, ms = 120_000): Promise<JobStatus> {
  for (const until = Date.now() + ms; Date.now() < until; ) {
    const s = await awaitedStatus(backend, handle);
    if (s.phase === 'exited' || s.phase === 'lost') return s;
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`job ${handle.jobId} did not end within ${ms} ms`);
}

const secretExists = async (jobName: string) =>
  core.readNamespacedSecret({ name: secretsName(jobName), namespace: env.K8S_NAMESPACE }).then(
    () => true,
    (err: { code?: number }) => (err.code === 404 ? false : Promise.reject(err as Error)),
  );

describe('kubernetes secrets', () => {
  it('the job reads them read-only; the pod spec holds no value of theirs; the Secret is owned by the Job and gone after cleanup', async () => {
    const value = `s3cr3t-${randomBytes(12).toString('hex')}`;
    const token = randomBytes(24).toString('hex');
    const runId = `run-sec${suite}${randomBytes(3).toString('hex')}`;
    const src = join(work, runId, 'src');
    await mkdir(join(src, 'output'), { recursive: true });
    const staged = await backend.stage({ runId, image: { digest: imageId, tag: localTag }, sourcesDir: src });
    const handle = await backend.submit({
      runId,
      command: [
        'sh',
        '-c',
        'sha256sum /run/secrets/API_KEY | cut -c1-64 > output/hash; cat "$REPRISE_LAB_TOKEN_FILE" > output/token; ' +
          '{ echo x > /run/secrets/API_KEY && echo written; rm -f /run/secrets/API_KEY && echo removed; touch /run/secrets/NEW && echo created; } > output/writes 2>/dev/null; true',
      ],
      env: { REPRISE_LAB_TOKEN_FILE: '/run/secrets/reprise-lab-token' },
      resources: {},
      staged,
      secrets: [
        { name: 'API_KEY', content: Buffer.from(value) },
        { name: 'reprise-lab-token', content: Buffer.from(token) },
      ],
    });
    try {
      expect(await waitEnd(handle)).toMatchObject({ phase: 'exited', exitCode: 0 });
      const secret = await core.readNamespacedSecret({ name: secretsName(handle.jobId), namespace: env.K8S_NAMESPACE });
      expect(secret.metadata?.ownerReferences).toEqual([expect.objectContaining({ kind: 'Job', name: handle.jobId })]);
      const pods = await core.listNamespacedPod({ namespace: env.K8S_NAMESPACE, labelSelector: `batch.kubernetes.io/job-name=${handle.jobId}` });
      const spec = execFileSync('kubectl', ['--kubeconfig', env.KUBECONFIG, '--context', env.K8S_CONTEXT, '-n', env.K8S_NAMESPACE, 'get', 'pod', pods.items[0]!.metadata!.name!, '-o', 'yaml'], { encoding: 'utf8' });
      expect(spec).toContain(secretsName(handle.jobId));
      expect(spec).not.toContain(value);
      expect(spec).not.toContain(token);
      expect(spec).not.toContain(Buffer.from(token).toString('base64'));
      const dest = join(work, `out-${runId}`);
      await backend.collect(handle, dest);
      expect(await readFile(join(dest, 'hash'), 'utf8')).toBe(`${createHash('sha256').update(value).digest('hex')}\n`);
      expect(await readFile(join(dest, 'token'), 'utf8')).toBe(token);
      expect(await readFile(join(dest, 'writes'), 'utf8')).toBe('');
    } finally {
      await backend.cleanup(handle);
    }
    expect(await secretExists(handle.jobId)).toBe(false);
  }, 300_000);
});
