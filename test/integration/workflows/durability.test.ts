import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { RunInput, RunProgress, RunResult } from '../../../src/activities/types.js';
import { newRunId } from '../../../src/client/ids.js';
import { readFeed, readRecord, findRun } from '../../../src/project/history.js';
import { git, makeProject, tempDir } from '../../helpers/project.js';
import { startTemporal } from '../../helpers/temporal.js';
import { containersOf, requireDocker } from '../../helpers/docker.js';

const workerMain = fileURLToPath(new URL('../../helpers/worker-main.ts', import.meta.url));
const taskQueue = 'it-durability';
let env: TestWorkflowEnvironment;
let home: string;
const workers: ChildProcess[] = [];

/** A worker process of its own, ready once it polls. */
async function spawnWorker(): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', workerMain], {
    env: { ...process.env, TEMPORAL_ADDRESS: env.address, REPRISE_HOME: home, REPRISE_TASK_QUEUE: taskQueue, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  workers.push(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('worker ready') && resolve());
    child.on('exit', (code) => reject(new Error(`worker exited early (${code})`)));
  });
  return child;
}

beforeAll(async () => {
  requireDocker();
  env = await startTemporal();
  home = await tempDir('reprise-home-');
});

afterAll(async () => {
  for (const w of workers) w.kill('SIGKILL');
  await env?.teardown();
});

describe('durability', () => {
  it('a worker killed mid-run neither loses nor duplicates the run', async () => {
    const p = await makeProject();
    const first = await spawnWorker();
    const input: RunInput = {
      runId: newRunId(),
      projectRoot: p.root,
      backend: 'local',
      command: ['sh', '-c', 'echo before; sleep 4; echo after; echo done > output/done.txt'],
      resources: {},
    };
    const handle = await env.client.workflow.start('runProject', { workflowId: input.runId, taskQueue, args: [input] });
    for (let i = 0; i < 300 && (await handle.query<RunProgress>('progress')).state !== 'running'; i++) await new Promise((r) => setTimeout(r, 100));
    first.kill('SIGKILL'); // a crash: no graceful shutdown, the activity is mid-wait
    await new Promise((r) => first.once('exit', r));
    await spawnWorker();
    const result = (await handle.result()) as RunResult;
    expect(result.state).toBe('succeeded');
    const feed = await readFeed(p.root);
    expect(feed.map((e) => e.runId)).toEqual([input.runId]);
    const { record, log } = await readRecord(p.root, await findRun(p.root, input.runId));
    expect(log).toBe('before\nafter\n');
    expect(record.outputs.map((o) => o.path)).toEqual(['output/done.txt']);
    expect(containersOf(input.runId)).toEqual([]);
    expect(git(p.root, 'status', '--porcelain')).toBe('');
  }, 120_000);
});
