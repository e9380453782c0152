// One run end to end through the real runProject workflow (Temporal dev server, real worker and
// activities) on the slurm backend of the test cluster, configured in a temporary REPRISE_HOME.
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunInput, RunResult } from '../../../src/activities/types.js';
import { SlurmBackend } from '../../../src/backends/slurm/slurm-backend.js';
import { newRunId } from '../../../src/client/ids.js';
import { saveUserConfig } from '../../../src/backends/user-config.js';
import { findRun, readRecord } from '../../../src/project/history.js';
import { git, makeProject, tempDir } from '../../helpers/project.js';
import { requireDocker } from '../../helpers/docker.js';
import { startTemporal, startWorker, testActivities } from '../../helpers/temporal.js';
import { clusterConfig } from './slurm-backend-env.js';

const suite = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const config = clusterConfig(`~/reprise-it/${suite}`);
const taskQueue = 'it-run-project-slurm';
let env: TestWorkflowEnvironment;
let worker: Worker;
let running: Promise<void>;

beforeAll(async () => {
  requireDocker();
  env = await startTemporal();
  const home = await tempDir('reprise-home-');
  await saveUserConfig(home, { backends: { hpc: config } });
  ({ worker, running } = await startWorker(env, taskQueue, testActivities(home)));
});

afterAll(async () => {
  worker?.shutdown();
  await running;
  await env?.teardown();
  const backend = new SlurmBackend(config);
  await backend.ssh.exec(['sh', '-c', 'rm -rf "$HOME/reprise-it/$1"', 'sh', suite]).catch(() => undefined);
  backend.close();
});

describe('runProject on the slurm backend', () => {
  it('runs the command on the cluster and records one commit with its output and log', async () => {
    const p = await makeProject({ files: { 'code/run.sh': 'echo "hello from $REPRISE_RUN_ID"\necho 42 > output/answer.txt\n' } });
    const input: RunInput = { runId: newRunId(), projectRoot: p.root, backend: 'hpc', command: ['sh', 'code/run.sh'], resources: { cpus: 1, memoryBytes: 256 * 2 ** 20, timeSeconds: 300 } };
    const handle = await env.client.workflow.start('runProject', { workflowId: input.runId, taskQueue, args: [input] });
    const result = (await handle.result()) as RunResult;
    expect(result).toMatchObject({ runId: input.runId, state: 'succeeded', exitCode: 0 });
    expect(git(p.root, 'log', '-1', '--format=%(trailers:key=Reprise-Backend,valueonly)').trim()).toBe('hpc (slurm)');
    expect(git(p.root, 'show', `HEAD:output/answer.txt`)).toBe('42\n');
    const { record, log } = await readRecord(p.root, await findRun(p.root, input.runId));
    expect(log).toContain(`hello from ${input.runId}\n`);
    expect(record.backend).toMatchObject({ name: 'hpc', kind: 'slurm' });
    expect(record.backend.jobId).toMatch(/^\d+$/);
    expect(record.outputs.map((o) => o.path)).toEqual(['output/answer.txt']);
    expect(git(p.root, 'status', '--porcelain')).toBe('');
    // cleanup removed the run directory on the cluster, the image cache stays.
    const backend = new SlurmBackend(config);
    try {
      expect(await backend.ssh.run(['sh', '-c', 'ls -A "$HOME/reprise-it/$1/runs"', 'sh', suite])).toBe('');
      expect((await backend.ssh.run(['sh', '-c', 'ls -A "$HOME/reprise-it/$1/images"', 'sh', suite])).trim()).toMatch(/^[0-9a-f]{64}$/);
    } finally {
      backend.close();
    }
  }, 240_000);
});
