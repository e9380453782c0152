// Job arrays on the real test cluster: staged runs submitted as ONE sbatch (--array=0-3%2), each
// element read, cancelled, collected and cleaned up through its own handle like a single job.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlurmBackend } from '../../../src/backends/slurm/slurm-backend.js';
import { SshClient } from '../../../src/backends/slurm/ssh-client.js';
import type { JobHandle, JobSpec, JobStatus } from '../../../src/backends/types.js';
import { RepriseError } from '../../../src/errors.js';
import { tempDir } from '../../helpers/project.js';
import { buildTestImage, clusterConfig, clusterTarget } from './slurm-backend-env.js';

const suite = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const workdir = `~/reprise-it/${suite}`;
const config = clusterConfig(workdir);
const tag = `reprise-slurm-array-it:${suite}`;
const backend = new SlurmBackend(config, { logPollMs: 300 });
// squeue watched from outside the backend, on a connection of its own.
const watcher = new SshClient(clusterTarget({ identityFiles: [config.identityFile] }));
const handles: JobHandle[] = [];
let digest: string;
let sourcesDir: string;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const runIdOf = (name: string) => `${suite}-${name}`;
const ended = (s: JobStatus) => s.phase === 'exited' || s.phase === 'lost';

async function until(handle: JobHandle, done: (s: JobStatus) => boolean, timeoutMs: number): Promise<JobStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await backend.status(handle);
    if (done(s)) return s;
    if (Date.now() > deadline) throw new Error(`job ${handle.jobId} still ${s.phase} after ${timeoutMs} ms`);
    await sleep(500);
  }
}

async function readAll(stream: Readable): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += String(chunk);
  return text;
}

/** Stage one run per command (its own run directory), as the sweep workflow does before submitArray. */
async function stageAll(prefix: string, commands: string[][], resources: JobSpec['resources'] = { cpus: 1, memoryBytes: 64 * 2 ** 20 }): Promise<JobSpec[]> {
  return Promise.all(
    commands.map(async (command, i) => {
      const runId = runIdOf(`${prefix}${i}`);
      const staged = await backend.stage({ runId, image: { digest, tag }, sourcesDir });
      return { runId, command, env: {}, resources, staged };
    }),
  );
}

beforeAll(async () => {
  digest = buildTestImage(tag);
  sourcesDir = await tempDir('reprise-slurm-array-src-');
  await mkdir(join(sourcesDir, 'code'), { recursive: true });
  await mkdir(join(sourcesDir, 'output'), { recursive: true });
  // $1 = element index, $2 = exit code; long enough to watch two at once and the rest wait.
  await writeFile(join(sourcesDir, 'code/point.sh'), 'echo "point $1 of $REPRISE_RUN_ID"\necho "$GREETING"\necho "$1" > output/point.txt\nsleep 6\nexit "$2"\n');
});

afterAll(async () => {
  for (const h of handles) await backend.cancel(h).catch(() => undefined);
  await backend.ssh.exec(['sh', '-c', 'rm -rf "$HOME/reprise-it/$1"', 'sh', suite]).catch(() => undefined);
  backend.close();
  watcher.close();
  try {
    execFileSync('docker', ['rmi', '-f', tag], { stdio: 'ignore' });
  } catch {
    /* already gone */
  }
});

describe('slurm job arrays on the test cluster', () => {
  it('4 staged runs at maxParallel 2: one sbatch, never more than 2 running, each element collected, cancelled and cleaned up through its own handle', async () => {
    // Element 2 fails with exit 3; element 3 is cancelled while its array holds it back.
    const jobs = await stageAll('p', [0, 1, 2, 3].map((i) => ['sh', 'code/point.sh', String(i), i === 2 ? '3' : '0']));
    const arrayId = `sweep-${suite}`;
    const submitted = await backend.submitArray(arrayId, jobs, { maxParallel: 2 });
    handles.push(...submitted);
    const arrayJobId = /^(\d+)_0$/.exec(submitted[0]!.jobId)?.[1];
    expect(arrayJobId).toBeDefined();
    expect(submitted.map((h) => h.jobId)).toEqual([0, 1, 2, 3].map((i) => `${arrayJobId}_${i}`));
    expect(submitted.map((h) => h.runId)).toEqual(jobs.map((j) => j.runId));

    // Watch squeue from outside until every element is gone from it: never more than 2 running.
    const watched = { maxRunning: 0, samples: 0, lines: new Set<string>() };
    let watching = true;
    const watch = (async () => {
      while (watching) {
        const out = await watcher.run(['squeue', '-h', '-r', '-j', arrayJobId!, '-o', '%i %T']);
        const rows = out.trim().split('\n').filter(Boolean);
        rows.forEach((r) => watched.lines.add(r));
        watched.maxRunning = Math.max(watched.maxRunning, rows.filter((r) => / RUNNING$/.test(r)).length);
        watched.samples++;
        await sleep(250);
      }
    })();

    // ONE sbatch: one array job id for the four, elements <id>_0..3 (-r lists pending ones one by one).
    const listed = await backend.ssh.run(['squeue', '-h', '-r', '-t', 'all', '-j', arrayJobId!, '-o', '%i']);
    expect(listed.trim().split('\n').sort()).toEqual([0, 1, 2, 3].map((i) => `${arrayJobId}_${i}`));
    const byName = await backend.ssh.run(['squeue', '-h', '-t', 'all', '-n', `reprise-array-${arrayId}`, '-o', '%F']);
    expect([...new Set(byName.trim().split('\n'))]).toEqual([arrayJobId]);
    expect(await backend.ssh.run(['scontrol', 'show', 'job', '-o', `${arrayJobId}_3`])).toMatch(/ArrayTaskThrottle=2 /);

    // Element 3 waits (squeue -j <id>_3 answers for an element still inside the pending array).
    expect((await backend.status(submitted[3]!)).phase).toBe('pending');
    await backend.cancel(submitted[3]!);
    const cancelled = await until(submitted[3]!, ended, 30_000);
    expect(cancelled).toEqual({ phase: 'exited', exitCode: 130, reason: `cancelled before it started (SLURM job ${arrayJobId}_3)` });
    await backend.cancel(submitted[3]!); // harmless again

    // A repeat (here from fresh backends at once, as after a worker restart) returns the same handles.
    const others = [new SlurmBackend(config), new SlurmBackend(config)];
    expect(await Promise.all(others.map((b) => b.submitArray(arrayId, jobs, { maxParallel: 2 })))).toEqual([submitted, submitted]);
    // ... and a single submit of an element's run finds its element, never a second job.
    expect((await others[0]!.submit(jobs[1]!)).jobId).toBe(`${arrayJobId}_1`);
    others.forEach((b) => b.close());
    // A repeat with other jobs is refused: one array id, one array.
    await expect(backend.submitArray(arrayId, jobs.slice(0, 3), { maxParallel: 2 })).rejects.toThrow(/submitted already with other elements/);

    // The others run on and end as their commands did, each through its own handle.
    const logs = submitted.slice(0, 3).map(async (h) => readAll(await backend.logs(h)));
    const statuses = await Promise.all(submitted.slice(0, 3).map((h) => until(h, ended, 150_000)));
    expect(statuses.map((s) => [s.phase, s.exitCode])).toEqual([['exited', 0], ['exited', 0], ['exited', 3]]);
    for (const s of statuses) expect(Date.parse(s.finishedAt!)).toBeGreaterThanOrEqual(Date.parse(s.startedAt!));
    const texts = await Promise.all(logs);
    texts.forEach((text, i) => expect(text).toBe(`point ${i} of ${jobs[i]!.runId}\nhi from the image env\n`));
    for (let i = 0; i < 3; i++) {
      const dest = await tempDir('reprise-array-collect-');
      await backend.collect(submitted[i]!, dest);
      expect(await readFile(join(dest, 'point.txt'), 'utf8')).toBe(`${i}\n`);
    }
    // Element 3 never ran: no log, no output.
    expect(await readAll(await backend.logs(submitted[3]!))).toBe('');

    watching = false;
    await watch;
    expect(watched.samples).toBeGreaterThan(5);
    expect(watched.maxRunning).toBeGreaterThanOrEqual(1);
    expect(watched.maxRunning).toBeLessThanOrEqual(2);
    console.log(`squeue -r -j ${arrayJobId}: at most ${watched.maxRunning} running in ${watched.samples} samples; rows seen: ${[...watched.lines].sort().join(', ')}`);

    // Accounting has the elements that ran, as elements of the one array job.
    const sacct = async () => (await backend.ssh.run(['sacct', '-X', '-n', '-P', '-j', arrayJobId!, '-o', 'JobID,State,ExitCode'])).trim().split('\n').sort();
    for (let i = 0; i < 20 && (await sacct()).length < 3; i++) await sleep(500);
    expect(await sacct()).toEqual([`${arrayJobId}_0|COMPLETED|0:0`, `${arrayJobId}_1|COMPLETED|0:0`, `${arrayJobId}_2|FAILED|3:0`]);

    // Cleanup of one element leaves the others' run directories; the last one takes the array directory.
    const arrayDir = String(submitted[0]!.arrayDir);
    const exists = async (path: string) => (await backend.ssh.exec(['test', '-e', path])).code === 0;
    for (let i = 0; i < 4; i++) {
      expect(await exists(arrayDir)).toBe(true);
      await backend.cleanup(submitted[i]!);
      expect(await exists(String(submitted[i]!.runDir))).toBe(false);
      for (const later of submitted.slice(i + 1)) expect(await exists(`${String(later.runDir)}/project/code/point.sh`)).toBe(true);
    }
    expect(await exists(arrayDir)).toBe(false);
    await backend.cleanup(submitted[3]!); // harmless twice
  }, 240_000);

  it('while the whole array is pending (squeue shows it as one line <id>_[0-2]), each element reads as pending and cancels alone', async () => {
    // Submitted held (sbatch --hold from the backend's own sbatch arguments): nothing starts until released.
    const held = new SlurmBackend({ ...config, sbatchArgs: ['--hold'] });
    try {
      const jobs = await stageAll('held', [0, 1, 2].map((i) => ['sh', '-c', 'echo "$1" > output/point.txt', 'sh', String(i)]));
      const submitted = await held.submitArray(`sweep-${suite}-held`, jobs, {});
      handles.push(...submitted);
      const id = submitted[0]!.jobId.split('_')[0]!;
      expect((await held.ssh.run(['squeue', '-h', '-j', id, '-o', '%i %T %r'])).trim()).toBe(`${id}_[0-2] PENDING JobHeldUser`);
      for (const h of submitted) expect(await held.status(h)).toEqual({ phase: 'pending', reason: 'JobHeldUser (squeue)' });

      await held.cancel(submitted[1]!);
      expect((await held.ssh.run(['squeue', '-h', '-j', id, '-o', '%i'])).trim()).toBe(`${id}_[0,2]`);
      expect(await held.status(submitted[1]!)).toEqual({ phase: 'exited', exitCode: 130, reason: `cancelled before it started (SLURM job ${id}_1)` });
      expect((await held.status(submitted[0]!)).phase).toBe('pending');

      await held.ssh.run(['scontrol', 'release', id]);
      for (const i of [0, 2]) {
        expect(await until(submitted[i]!, ended, 120_000)).toMatchObject({ phase: 'exited', exitCode: 0 });
        const dest = await tempDir('reprise-array-held-');
        await held.collect(submitted[i]!, dest);
        expect(await readFile(join(dest, 'point.txt'), 'utf8')).toBe(`${i}\n`);
      }
      expect((await held.status(submitted[1]!)).exitCode).toBe(130);
      for (const h of submitted) await held.cleanup(h);
    } finally {
      held.close();
    }
  }, 180_000);

  it('refuses what sbatch refuses for good (exit 2), and jobs that ask for different resources, before submitting anything', async () => {
    const [huge] = await stageAll('huge', [['true']], { memoryBytes: 2 ** 50 });
    const err = await backend.submitArray(`sweep-${suite}-huge`, [huge!], {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RepriseError);
    expect((err as RepriseError).exitCode).toBe(2);
    expect((err as Error).message).toMatch(/refuses the job array: .*Memory specification can not be satisfied/);

    const mixed = await stageAll('mixed', [['true'], ['true']]);
    mixed[1] = { ...mixed[1]!, resources: { cpus: 2 } };
    const differ = await backend.submitArray(`sweep-${suite}-mixed`, mixed, {}).catch((e: unknown) => e);
    expect((differ as RepriseError).exitCode).toBe(2);
    expect((differ as Error).message).toContain('must ask for the same resources');
    expect(await backend.ssh.run(['squeue', '-h', '-t', 'all', '-n', `reprise-array-sweep-${suite}-mixed`, '-o', '%i'])).toBe('');
  }, 120_000);
});
