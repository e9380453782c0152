// End to end through the real runProject workflow (real Temporal dev server, real worker, real
// activities) on the kubernetes backend of the REAL test cluster.
import { BatchV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { execFileSync } from 'node:child_process';
import type { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunInput, RunResult } from '../../../src/activities/types.js';
import { jobName } from '../../../src/backends/kubernetes/job-manifest.js';
import { newRunId } from '../../../src/client/ids.js';
import { saveUserConfig } from '../../../src/backends/user-config.js';
import { findRun, readRecord } from '../../../src/project/history.js';
import { requireDocker } from '../../helpers/docker.js';
import { git, makeProject, tempDir } from '../../helpers/project.js';
import { startTemporal, startWorker, testActivities } from '../../helpers/temporal.js';
import { backendConfig, loadClusterEnv, type ClusterEnv } from './kubernetes-backend-env.js';

let env: TestWorkflowEnvironment;
let cluster: ClusterEnv;
let worker: Worker;
let running: Promise<void>;
const taskQueue = 'it-run-project-k8s';

beforeAll(async () => {
  cluster = loadClusterEnv();
  requireDocker();
  env = await startTemporal();
  const home = await tempDir('reprise-home-k8s-');
  await saveUserConfig(home, { backends: { k8s: backendConfig(cluster) } });
  ({ worker, running } = await startWorker(env, taskQueue, testActivities(home)));
});

afterAll(async () => {
  worker?.shutdown();
  await running;
  await env?.teardown();
  // The registry tag stage() added to the local image (the registry keeps its copy).
  if (cluster) {
    const pushed = execFileSync('docker', ['image', 'ls', '--format', '{{.Repository}}:{{.Tag}}', `${cluster.K8S_REGISTRY}/reprise-it/k8sflow`], { encoding: 'utf8' });
    for (const ref of pushed.split('\n').filter(Boolean)) execFileSync('docker', ['image', 'rm', ref], { stdio: 'ignore' });
  }
});

describe('runProject on the kubernetes backend (real cluster)', () => {
  it('runs the command in a pod, collects output/, records the run with its log, and removes the Job', async () => {
    const p = await makeProject({ name: 'k8sflow', files: { 'code/run.sh': 'echo "hello from $REPRISE_RUN_ID"\necho 42 > output/answer.txt\n' } });
    const head = git(p.root, 'rev-parse', 'HEAD').trim();
    const input: RunInput = { runId: newRunId(), projectRoot: p.root, backend: 'k8s', command: ['sh', 'code/run.sh'], resources: { cpus: 0.5, memoryBytes: 64 * 2 ** 20 } };
    const handle = await env.client.workflow.start('runProject', { workflowId: input.runId, taskQueue, args: [input] });
    const result = (await handle.result()) as RunResult;
    expect(result).toMatchObject({ runId: input.runId, state: 'succeeded', exitCode: 0 });

    expect(git(p.root, 'rev-parse', 'HEAD').trim()).toBe(result.commit);
    expect(git(p.root, 'log', '-1', '--format=%(trailers:key=Reprise-Backend,valueonly)').trim()).toBe('k8s (kubernetes)');
    expect(git(p.root, 'show', `${result.commit}:output/answer.txt`)).toBe('42\n');
    const { record, log } = await readRecord(p.root, await findRun(p.root, input.runId));
    expect(log).toBe(`hello from ${input.runId}\n`);
    expect(record).toMatchObject({ sourceCommit: head, state: 'succeeded', backend: { name: 'k8s', kind: 'kubernetes', jobId: jobName(input.runId) } });
    expect(record.outputs.map((o) => o.path)).toEqual(['output/answer.txt']);

    const kc = new KubeConfig();
    kc.loadFromFile(cluster.KUBECONFIG);
    kc.setCurrentContext(cluster.K8S_CONTEXT);
    const name = jobName(input.runId);
    let left = 1;
    for (let i = 0; i < 60 && left; i++) {
      const jobs = await kc.makeApiClient(BatchV1Api).listNamespacedJob({ namespace: cluster.K8S_NAMESPACE, fieldSelector: `metadata.name=${name}` });
      const pods = await kc.makeApiClient(CoreV1Api).listNamespacedPod({ namespace: cluster.K8S_NAMESPACE, labelSelector: `batch.kubernetes.io/job-name=${name}` });
      left = jobs.items.length + pods.items.length;
      if (left) await new Promise((r) => setTimeout(r, 500));
    }
    expect(left).toBe(0);
  }, 180_000);

  it('stops a command past its time limit: failed, exit code 124 and the reason, what it wrote recorded', async () => {
    const p = await makeProject({ name: 'k8sflow', files: { 'code/run.sh': 'echo started > output/partial.txt\nsleep 60\n' } });
    const input: RunInput = { runId: newRunId(), projectRoot: p.root, backend: 'k8s', command: ['sh', 'code/run.sh'], resources: { cpus: 0.5, memoryBytes: 64 * 2 ** 20, timeSeconds: 3 } };
    const started = Date.now();
    const result = (await (await env.client.workflow.start('runProject', { workflowId: input.runId, taskQueue, args: [input] })).result()) as RunResult;
    expect(result).toMatchObject({ state: 'failed', exitCode: 124, reason: 'time limit 0:00:03 exceeded' });
    // Stopped by awaitJob at the limit, not by the Job's deadline (the limit plus 900 s of slack).
    expect(Date.now() - started).toBeLessThan(150_000);
    expect(git(p.root, 'show', `${result.commit}:output/partial.txt`)).toBe('started\n');
  }, 180_000);
});
