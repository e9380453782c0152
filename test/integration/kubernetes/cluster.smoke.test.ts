// Smoke test of the real single-node cluster started by `test/infra/kubernetes up`
// (real kube-apiserver, controller-manager, scheduler and a real kubelet on containerd).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { BatchV1Api, CoreV1Api, KubeConfig, type V1Job } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminClients, loadClusterEnv, type ClusterEnv } from './kubernetes-backend-env.js';

const run = promisify(execFile);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('kubernetes test cluster (real kubelet on containerd): smoke', () => {
  let env: ClusterEnv;
  let kc: KubeConfig;
  let batch: BatchV1Api;
  let core: CoreV1Api;
  const token = randomBytes(6).toString('hex');
  const jobName = `reprise-smoke-${token}`;
  let image = '';

  beforeAll(() => {
    env = loadClusterEnv();
    ({ kc, batch, core } = adminClients(env));
    image = `${env.K8S_REGISTRY}/reprise-smoke/hello:${token}`;
  });

  afterAll(async () => {
    if (!batch) return;
    await batch
      .deleteNamespacedJob({ name: jobName, namespace: env.K8S_NAMESPACE, propagationPolicy: 'Background' })
      .catch(() => undefined);
    if (image) await run('docker', ['image', 'rm', '-f', image]).catch(() => undefined);
  });

  it('refuses a request without a client certificate (401/403)', async () => {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    const url = new URL(cluster.server);
    const ca = cluster.caData ? Buffer.from(cluster.caData, 'base64') : readFileSync(cluster.caFile!);
    const status = await new Promise<number>((resolveStatus, reject) => {
      const req = request(
        { host: url.hostname, port: url.port, path: '/api/v1/namespaces', method: 'GET', ca },
        (res) => {
          res.resume();
          resolveStatus(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect([401, 403]).toContain(status);
  });

  it('runs a Job from an image pushed to the local registry and reads its log', async () => {
    // 1. build and push a tiny image
    const ctx = mkdtempSync(join(tmpdir(), 'reprise-k8s-smoke-'));
    try {
      writeFileSync(
        join(ctx, 'Dockerfile'),
        `FROM local/busybox:latest\nRUN echo "greetings-${token}" > /greeting.txt\n`,
      );
      await run('docker', ['build', '-q', '-t', image, ctx]);
      await run('docker', ['push', image]);
    } finally {
      rmSync(ctx, { recursive: true, force: true });
    }

    // 2. a Job whose pod runs that image
    const job: V1Job = {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: jobName, labels: { app: 'reprise-smoke' } },
      spec: {
        backoffLimit: 0,
        ttlSecondsAfterFinished: 600,
        template: {
          metadata: { labels: { app: 'reprise-smoke', 'reprise-smoke': token } },
          spec: {
            restartPolicy: 'Never',
            // The runs namespace enforces the restricted Pod Security Standard.
            securityContext: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } },
            containers: [
              {
                name: 'hello',
                image,
                imagePullPolicy: 'Always',
                command: ['sh', '-c', 'echo "reprise-smoke says $(cat /greeting.txt)"'],
                securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
              },
            ],
          },
        },
      },
    };
    await batch.createNamespacedJob({ namespace: env.K8S_NAMESPACE, body: job });

    // 3. wait for completion
    const deadline = Date.now() + 150_000;
    let done = false;
    while (!done) {
      const j = await batch.readNamespacedJob({ name: jobName, namespace: env.K8S_NAMESPACE });
      if ((j.status?.succeeded ?? 0) >= 1) done = true;
      else if ((j.status?.failed ?? 0) >= 1 || Date.now() > deadline) {
        const pods = await core.listNamespacedPod({ namespace: env.K8S_NAMESPACE, labelSelector: `reprise-smoke=${token}` });
        const events = await core.listNamespacedEvent({ namespace: env.K8S_NAMESPACE });
        throw new Error(
          `Job ${jobName} did not succeed: ${JSON.stringify(j.status)}\npods: ${JSON.stringify(pods.items.map((p) => p.status))}\n` +
            `events: ${events.items.map((e) => `${e.involvedObject.name}: ${e.reason}: ${e.message}`).join('\n')}\n` +
            'node logs: test/infra/.state/kubernetes/logs/kubelet.log, containerd.log',
        );
      } else await sleep(1000);
    }

    // 4. its pod's log, through the API server (which asks the kubelet)
    const pods = await core.listNamespacedPod({ namespace: env.K8S_NAMESPACE, labelSelector: `reprise-smoke=${token}` });
    expect(pods.items).toHaveLength(1);
    const pod = pods.items[0]!;
    expect(pod.status?.phase).toBe('Succeeded');
    expect(pod.spec?.nodeName).toBeTruthy();
    const logText = await core.readNamespacedPodLog({ name: pod.metadata!.name!, namespace: env.K8S_NAMESPACE });
    expect(logText.trim()).toBe(`reprise-smoke says greetings-${token}`);

    // 5. delete it
    await batch.deleteNamespacedJob({ name: jobName, namespace: env.K8S_NAMESPACE, propagationPolicy: 'Background' });
    const goneBy = Date.now() + 30_000;
    for (;;) {
      const left = await batch.listNamespacedJob({ namespace: env.K8S_NAMESPACE, fieldSelector: `metadata.name=${jobName}` });
      if (left.items.length === 0) break;
      if (Date.now() > goneBy) throw new Error(`Job ${jobName} still present 30s after deletion`);
      await sleep(500);
    }
  }, 240_000);
});
