// The slurm backend against the real single-node cluster of `test/infra/slurm up`, over SSH with
// host key verification, Charliecloud as the runtime and images exported from the local Docker.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlurmBackend, type StageStep } from '../../../src/backends/slurm/slurm-backend.js';
import type { JobHandle, JobSpec, JobStatus, StagedJob } from '../../../src/backends/types.js';
import { RepriseError } from '../../../src/errors.js';
import { tempDir } from '../../helpers/project.js';
import { buildTestImage, clusterConfig } from './slurm-backend-env.js';
import { foreignHostKey } from '../../helpers/host-key.js';

const suite = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const workdir = `~/reprise-it/${suite}`;
const config = clusterConfig(workdir);
const tag = `reprise-slurm-it:${suite}`;
const steps: StageStep[] = [];
const backend = new SlurmBackend(config, { onProgress: (s) => steps.push(s), logPollMs: 300 });
let digest: string;
let sourcesDir: string;
const handles: JobHandle[] = [];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const newRunId = (name: string) => `${suite}-${name}`;

async function until(handle: JobHandle, done: (s: JobStatus) => boolean, timeoutMs: number): Promise<JobStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await backend.status(handle);
    if (done(s)) return s;
    if (Date.now() > deadline) throw new Error(`job ${handle.jobId} still ${s.phase} after ${timeoutMs} ms`);
    await sleep(500);
  }
}
const ended = (s: JobStatus) => s.phase === 'exited' || s.phase === 'lost';

async function readAll(stream: Readable): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += String(chunk);
  return text;
}

async function stageAndSubmit(name: string, command: string[], resources: JobSpec['resources'] = {}, workdir?: string): Promise<{ handle: JobHandle; staged: StagedJob; runId: string }> {
  const runId = newRunId(name);
  const staged = await backend.stage({ runId, image: { digest, tag }, sourcesDir });
  const handle = await backend.submit({ runId, command, workdir, env: {}, resources, staged });
  handles.push(handle);
  return { handle, staged, runId };
}

beforeAll(async () => {
  digest = buildTestImage(tag);
  sourcesDir = await tempDir('reprise-slurm-src-');
  await mkdir(join(sourcesDir, 'code'), { recursive: true });
  await mkdir(join(sourcesDir, 'output'), { recursive: true });
  await writeFile(join(sourcesDir, 'code/run.sh'), 'echo "hello from $REPRISE_RUN_ID"\necho "$GREETING"\necho 42 > output/answer.txt\nmkdir -p output/sub && echo deep > output/sub/x.txt\n');
});

afterAll(async () => {
  for (const h of handles) await backend.cancel(h).catch(() => undefined);
  await backend.ssh.exec(['sh', '-c', 'rm -rf "$HOME/reprise-it/$1"', 'sh', suite]).catch(() => undefined);
  backend.close();
  try {
    execFileSync('docker', ['rmi', '-f', tag], { stdio: 'ignore' });
  } catch {
    /* already gone */
  }
});

describe('slurm backend on the test cluster', () => {
  it('check() reports the SLURM and Charliecloud versions', async () => {
    const c = await backend.check();
    expect(c.kind).toBe('slurm');
    expect(c.version).toMatch(/^slurm(-wlm)? \d+\.\d+/);
    expect(c.details.runtime).toMatch(/^charliecloud \d+\.\d+/);
    expect(c.details.host).toBe(`${config.user}@${config.host}:${config.port}`);
  });

  it('refuses a host whose key does not match known_hosts, or is not in it (BackendUnavailable)', async () => {
    const dir = await tempDir('reprise-kh-');
    const other = foreignHostKey();
    const wrong = join(dir, 'known_hosts');
    await writeFile(wrong, `[${config.host}]:${config.port} ssh-ed25519 ${other.getPublicSSH().toString('base64')}\n`);
    const err = await new SlurmBackend({ ...config, knownHostsFile: wrong }).check().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RepriseError);
    expect((err as RepriseError).kind).toBe('BackendUnavailable');
    expect((err as RepriseError).exitCode).toBe(3);
    expect((err as Error).message).toContain(`does not match known_hosts ${wrong}`);

    const empty = join(dir, 'empty');
    await writeFile(empty, '');
    const unknown = await new SlurmBackend({ ...config, knownHostsFile: empty }).check().catch((e: unknown) => e);
    expect((unknown as RepriseError).kind).toBe('BackendUnavailable');
    expect((unknown as Error).message).toContain(`is not in known_hosts ${empty}`);
  });

  it('stage() ships an image once per digest', async () => {
    steps.length = 0;
    const first = await backend.stage({ runId: newRunId('stage1'), image: { digest, tag }, sourcesDir });
    expect(steps).toEqual(['sources-upload', 'image-upload', 'image-convert']);
    const inode = await backend.ssh.run(['stat', '-c', '%i %Y', first.image]);
    steps.length = 0;
    const second = await backend.stage({ runId: newRunId('stage2'), image: { digest, tag }, sourcesDir });
    expect(steps).toEqual(['sources-upload', 'image-cached']);
    expect(second.image).toBe(first.image);
    expect(await backend.ssh.run(['stat', '-c', '%i %Y', first.image])).toBe(inode);
    // No temporary upload or conversion is left behind.
    expect(await backend.ssh.run(['sh', '-c', 'ls -A "$(dirname "$1")"', 'sh', first.image])).toBe(`${digest.slice(7)}\n`);
    expect(await backend.ssh.run(['cat', `${second.sources}/code/run.sh`])).toContain('hello from');
  }, 120_000);

  it('a run whose image the cluster has stages in one SSH round trip and submits in one, no SFTP', async () => {
    await backend.stage({ runId: newRunId('trips0'), image: { digest, tag }, sourcesDir }); // the image is there
    const ssh = backend.ssh;
    const calls: string[] = [];
    const spied = { execWithInput: ssh.execWithInput, writeFile: ssh.writeFile, upload: ssh.upload };
    ssh.execWithInput = (argv, ...rest) => (calls.push(`exec ${argv.slice(0, 2).join(' ').slice(0, 40)}`), spied.execWithInput.call(ssh, argv, ...rest));
    ssh.writeFile = (...args) => (calls.push('sftp writeFile'), spied.writeFile.apply(ssh, args));
    ssh.upload = (...args) => (calls.push('sftp upload'), spied.upload.apply(ssh, args));
    try {
      const runId = newRunId('trips');
      const staged = await backend.stage({ runId, image: { digest, tag }, sourcesDir });
      expect(calls).toHaveLength(1);
      const handle = await backend.submit({ runId, command: ['sh', 'code/run.sh'], env: {}, resources: {}, staged });
      handles.push(handle);
      expect(calls).toHaveLength(2);
      expect(calls.every((c) => c.startsWith('exec '))).toBe(true);
      expect(await until(handle, ended, 90_000)).toMatchObject({ phase: 'exited', exitCode: 0 });
      // job.sh was written whole, private to the account.
      expect(await ssh.run(['stat', '-c', '%a', `${(handle as unknown as { runDir: string }).runDir}/job.sh`])).toBe('700\n');
    } finally {
      Object.assign(ssh, spied);
    }
  }, 180_000);

  it('a stage the cluster cannot unpack fails with its reason, even while its sources are still being sent', async () => {
    const big = await tempDir('reprise-slurm-big-');
    await mkdir(join(big, 'code'), { recursive: true });
    await writeFile(join(big, 'code/blob.bin'), randomBytes(8 << 20));
    const runId = newRunId('unpack-fails');
    // The run directory's place is taken by a file: the script's first step fails.
    const runDir = (await backend.ssh.run(['sh', '-c', `printf %s "$HOME/reprise-it/$1/runs/$2"`, 'sh', suite, runId])).trim();
    await backend.ssh.run(['sh', '-c', 'mkdir -p "$(dirname "$1")" && : > "$1"', 'sh', runDir]);
    const err = await backend.stage({ runId, image: { digest, tag }, sourcesDir: big }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(new RegExp(`unpacking the sources in .*${runId} on .* failed \\(exit [1-9]`));
    await backend.ssh.run(['rm', '-f', runDir]);
  }, 120_000);

  it('submits once per run, runs the job, streams its log and collects output/', async () => {
    const { handle, staged, runId } = await stageAndSubmit('ok', ['sh', 'code/run.sh']);
    // A repeated submit (here from a fresh backend, as after a worker restart) finds the same job.
    const spec = { runId, command: ['sh', 'code/run.sh'], env: {}, resources: {}, staged };
    const others = [new SlurmBackend(config), new SlurmBackend(config)];
    expect(await Promise.all(others.map((b) => b.submit(spec)))).toEqual([handle, handle]);
    others.forEach((b) => b.close());
    // squeue -t all also lists jobs that already ended (slurmctld keeps them for MinJobAge).
    expect((await backend.ssh.run(['squeue', '-h', '-t', 'all', '-n', `reprise-${runId}`, '-o', '%i'])).trim()).toBe(handle.jobId);
    const log = readAll(await backend.logs(handle));
    const status = await until(handle, ended, 90_000);
    expect(status).toMatchObject({ phase: 'exited', exitCode: 0 });
    expect(Date.parse(status.finishedAt!)).toBeGreaterThanOrEqual(Date.parse(status.startedAt!));
    expect(await log).toContain(`hello from ${runId}\nhi from the image env\n`);
    const dest = await tempDir('reprise-collect-');
    await backend.collect(handle, dest);
    expect(await readFile(join(dest, 'answer.txt'), 'utf8')).toBe('42\n');
    expect(await readFile(join(dest, 'sub/x.txt'), 'utf8')).toBe('deep\n');
    await backend.cleanup(handle);
    expect((await backend.ssh.exec(['test', '-e', String(handle.runDir)])).code).toBe(1);
    await backend.cleanup(handle); // harmless twice
  }, 120_000);

  it("propagates the command's exit code", async () => {
    const { handle } = await stageAndSubmit('exit3', ['sh', '-c', 'echo failing >&2; exit 3']);
    expect(await until(handle, ended, 90_000)).toMatchObject({ phase: 'exited', exitCode: 3 });
    expect(await readAll(await backend.logs(handle))).toContain('failing');
    const dest = await tempDir('reprise-collect-');
    await backend.collect(handle, dest);
    expect(await readdir(dest)).toEqual([]);
  }, 120_000);

  it('a request the cluster can never satisfy is refused at once with sbatch\'s reason, as bad input, and nothing is queued', async () => {
    for (const [resources, reason] of [
      [{ memoryBytes: 500 * 2 ** 30 }, /refuses the job: Memory specification can not be satisfied; Batch job submission failed: Requested node configuration is not available; ask for less/],
      // The test node has two GPUs (gres gpu:a100:2): three is more than any node has.
      [{ gpus: 3 }, /refuses the job asking for --gpus 3: Batch job submission failed: Requested node configuration is not available; ask for less/],
    ] as const) {
      const runId = newRunId(`refused-${Object.keys(resources)[0]}`);
      const staged = await backend.stage({ runId, image: { digest, tag }, sourcesDir });
      const err = await backend.submit({ runId, command: ['true'], env: {}, resources, staged }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RepriseError);
      expect((err as RepriseError).kind).toBe('BadInput');
      expect((err as RepriseError).message).toMatch(reason);
      expect(await backend.ssh.run(['squeue', '-h', '-n', `reprise-${runId}`, '-o', '%i'])).toBe('');
    }
  });

  it('a command the image lacks exits 127, as on Docker and Kubernetes', async () => {
    const { handle } = await stageAndSubmit('missing', ['nosuchcommand', '--flag']);
    expect(await until(handle, ended, 90_000)).toMatchObject({ phase: 'exited', exitCode: 127 });
    expect(await readAll(await backend.logs(handle))).toMatch(/nosuchcommand: not found/);
  }, 120_000);

  it("starts the command in the run's working directory", async () => {
    const { handle } = await stageAndSubmit('workdir', ['sh', '-c', 'pwd; ls'], {}, 'code');
    expect(await until(handle, ended, 90_000)).toMatchObject({ phase: 'exited', exitCode: 0 });
    expect(await readAll(await backend.logs(handle))).toBe('/project/code\nrun.sh\n');
  }, 120_000);

  it('cancel() ends a running job as exited with a cancelled reason; repeating it is harmless', async () => {
    const { handle } = await stageAndSubmit('cancel', ['sh', '-c', 'echo started; sleep 600']);
    await until(handle, (s) => s.phase === 'running', 60_000);
    await backend.cancel(handle);
    const s = await until(handle, ended, 60_000);
    expect(s.phase).toBe('exited');
    expect(s.reason).toMatch(/^cancelled/);
    await backend.cancel(handle);
  }, 120_000);

  it('survives a dropped SSH connection during logs and status', async () => {
    const { handle } = await stageAndSubmit('drop', ['sh', '-c', 'for i in 1 2 3 4 5 6; do echo line $i; sleep 1; done']);
    const log = readAll(await backend.logs(handle));
    await until(handle, (s) => s.phase === 'running', 60_000);
    (await backend.ssh.rawClient()).end();
    await sleep(1500);
    (await backend.ssh.rawClient()).end();
    expect(await until(handle, ended, 90_000)).toMatchObject({ phase: 'exited', exitCode: 0 });
    expect(await log).toContain('line 1\nline 2\nline 3\nline 4\nline 5\nline 6\n');
  }, 120_000);

  it('a job over its time limit ends with exit code 124', async () => {
    // SLURM limits are whole minutes and checked periodically: this takes 60-90 s.
    const { handle } = await stageAndSubmit('timeout', ['sleep', '600'], { timeSeconds: 60 });
    const s = await until(handle, ended, 170_000);
    expect(s).toMatchObject({ phase: 'exited', exitCode: 124, reason: 'time limit 0:01:00 exceeded' });
  }, 180_000);
});
