// Smoke test of the real single-node SLURM cluster started by `test/infra/slurm up`
// (real munged, slurmctld, slurmd and a loopback-only sshd). Everything goes through SSH as the
// unprivileged cluster user, with the host key checked against the generated known_hosts file,
// exactly as the SLURM backend talks to a real cluster.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import ssh2, { type ConnectConfig, type SFTPWrapper } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { readInfraEnv } from '../../helpers/infra.js';
import { SLURM_ENV_KEYS } from './slurm-backend-env.js';
import { foreignHostKey } from '../../helpers/host-key.js';

const { Client } = ssh2;
type SshClient = InstanceType<typeof Client>;

const run = promisify(execFile);

type ClusterEnv = Record<(typeof SLURM_ENV_KEYS)[number], string>;

function loadClusterEnv(): ClusterEnv {
  return readInfraEnv('slurm', SLURM_ENV_KEYS, ['SLURM_SSH_IDENTITY', 'SLURM_SSH_KNOWN_HOSTS']);
}

/** Host keys (SSH wire format) that known_hosts lists for host:port, in OpenSSH's `[host]:port` form. */
function knownHostKeys(knownHostsFile: string, host: string, port: number): Buffer[] {
  const wanted = port === 22 ? host : `[${host}]:${port}`;
  const keys: Buffer[] = [];
  for (const raw of readFileSync(knownHostsFile, 'utf8').split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith('@')) continue;
    const [hosts, , blob] = line.split(/\s+/);
    if (hosts && blob && hosts.split(',').includes(wanted)) keys.push(Buffer.from(blob, 'base64'));
  }
  return keys;
}

/** POSIX shell single-quoting. */
const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

function connect(env: ClusterEnv, trustedKeys: Buffer[]): Promise<SshClient> {
  if (trustedKeys.length === 0) throw new Error('no trusted host key: refusing to connect');
  const config: ConnectConfig = {
    host: env.SLURM_SSH_HOST,
    port: Number(env.SLURM_SSH_PORT),
    username: env.SLURM_SSH_USER,
    privateKey: readFileSync(env.SLURM_SSH_IDENTITY),
    readyTimeout: 20_000,
    keepaliveInterval: 10_000,
    // ssh2 passes the raw host key (no hostHash set): accept only a key known_hosts lists.
    hostVerifier: (key: Buffer) => trustedKeys.some((k) => k.equals(key)),
  };
  return new Promise((resolvePromise, reject) => {
    const client = new Client();
    client.once('ready', () => resolvePromise(client));
    client.once('error', reject);
    client.connect(config);
  });
}

interface ExecResult {
  code: number | null;
  signal: string | undefined;
  stdout: string;
  stderr: string;
}

function exec(client: SshClient, command: string): Promise<ExecResult> {
  return new Promise((resolvePromise, reject) => {
    client.exec(command, (err, stream) => {
      if (err) return reject(err);
      let stdout = '';
      let stderr = '';
      stream.on('data', (d: Buffer) => (stdout += d.toString()));
      stream.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      stream.on('close', (code: number | null, signal?: string) => resolvePromise({ code, signal, stdout, stderr }));
    });
  });
}

/** Runs a command that must succeed; returns its stdout. */
async function sh(client: SshClient, command: string): Promise<string> {
  const r = await exec(client, command);
  if (r.code !== 0) {
    throw new Error(`remote command failed (exit ${r.code ?? r.signal}): ${command}\n${r.stderr}${r.stdout}`);
  }
  return r.stdout;
}

function sftpOf(client: SshClient): Promise<SFTPWrapper> {
  return new Promise((res, rej) => client.sftp((err, sftp) => (err ? rej(err) : res(sftp))));
}
const sftpPut = (sftp: SFTPWrapper, local: string, remote: string): Promise<void> =>
  new Promise((res, rej) => sftp.fastPut(local, remote, (err) => (err ? rej(err) : res())));
const sftpWrite = (sftp: SFTPWrapper, remote: string, data: string, mode: number): Promise<void> =>
  new Promise((res, rej) => sftp.writeFile(remote, data, { mode }, (err) => (err ? rej(err) : res())));
const sftpRead = (sftp: SFTPWrapper, remote: string): Promise<string> =>
  new Promise((res, rej) => sftp.readFile(remote, (err, buf) => (err ? rej(err) : res(buf.toString('utf8')))));

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `sbatch --parsable` prints `ID` or `ID;cluster`. */
function parseJobId(out: string): string {
  const m = /^(\d+)/.exec(out.trim());
  if (!m?.[1]) throw new Error(`unexpected sbatch output: ${out}`);
  return m[1];
}

/** JobState from `scontrol show job` (kept for MinJobAge=3600 s after the job ends). */
async function jobState(client: SshClient, jobId: string): Promise<{ state: string; reason: string; raw: string }> {
  const raw = await sh(client, `scontrol show job -o ${q(jobId)}`);
  return {
    state: /\bJobState=(\S+)/.exec(raw)?.[1] ?? 'UNKNOWN',
    reason: /\bReason=(\S+)/.exec(raw)?.[1] ?? '',
    raw,
  };
}

/** Polls `squeue -h -j ID` until the job has left the queue (squeue hides finished jobs). */
async function waitUntilGone(client: SshClient, jobId: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await exec(client, `squeue -h -j ${q(jobId)} -o %T`);
    // A job slurmctld has already purged makes squeue fail with "Invalid job id specified".
    if ((r.code === 0 && r.stdout.trim() === '') || /Invalid job id/i.test(r.stderr)) return;
    if (r.code !== 0) throw new Error(`squeue failed (exit ${r.code}): ${r.stderr}`);
    if (Date.now() > deadline) throw new Error(`job ${jobId} still queued after ${timeoutMs} ms: ${r.stdout.trim()}`);
    await sleep(1000);
  }
}

async function waitForState(client: SshClient, jobId: string, wanted: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { state } = await jobState(client, jobId);
    if (state === wanted) return;
    if (Date.now() > deadline) throw new Error(`job ${jobId} is ${state}, not ${wanted}, after ${timeoutMs} ms`);
    await sleep(500);
  }
}

describe('SLURM test cluster (over SSH)', () => {
  const env = loadClusterEnv();
  const port = Number(env.SLURM_SSH_PORT);
  const trusted = knownHostKeys(env.SLURM_SSH_KNOWN_HOSTS, env.SLURM_SSH_HOST, port);
  const runId = `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
  const jobIds: string[] = [];
  /** Final state each finished job must have in sacct (filled by the tests that ran it). */
  const expectedFinal = new Map<string, string>();
  let client: SshClient;
  let sftp: SFTPWrapper;
  let runBase: string; // absolute, in the cluster user's home

  beforeAll(async () => {
    if (trusted.length === 0) {
      throw new Error(
        `${env.SLURM_SSH_KNOWN_HOSTS} has no key for [${env.SLURM_SSH_HOST}]:${port}: rerun \`test/infra/slurm up\``,
      );
    }
    try {
      client = await connect(env, trusted);
    } catch (err) {
      throw new Error(
        `cannot log in to the test cluster as ${env.SLURM_SSH_USER}@${env.SLURM_SSH_HOST}:${port} ` +
          `(${(err as Error).message}): check \`test/infra/slurm status\`, then \`test/infra/slurm up\``,
      );
    }
    sftp = await sftpOf(client);
    const home = (await sh(client, 'printf %s "$HOME"')).trim();
    runBase = `${home}/reprise-smoke/${runId}`;
    await sh(client, `mkdir -p ${q(runBase)}`);
  });

  afterAll(async () => {
    if (!client) return;
    if (jobIds.length > 0) await exec(client, `scancel ${jobIds.map(q).join(' ')}`);
    if (runBase) await exec(client, `rm -rf ${q(runBase)}`);
    client.end();
  });

  it('rejects a server whose host key is not the known one', async () => {
    // Sanity: the known key is an ed25519 key and the connection in beforeAll succeeded with it.
    expect(trusted[0]?.subarray(4, 15).toString()).toBe('ssh-ed25519');
    const other = foreignHostKey();
    const wrongKey = other.getPublicSSH();
    expect(wrongKey.equals(trusted[0]!)).toBe(false);
    await expect(connect(env, [wrongKey])).rejects.toThrow(/verification failed/i);
  }, 30_000);

  it('runs a Charliecloud container from an uploaded image in a batch job', async () => {
    // The cluster has no Docker: build and export the image here, ship a tarball over SFTP.
    const image = `reprise-slurm-smoke:${runId}`;
    const ctx = mkdtempSync(join(tmpdir(), 'reprise-slurm-smoke-'));
    let containerId = '';
    try {
      try {
        await run('docker', ['image', 'inspect', 'local/busybox:latest']);
      } catch {
        throw new Error('Docker image local/busybox:latest is missing: run `bash scripts/docker-up.sh` first');
      }
      writeFileSync(
        join(ctx, 'Dockerfile'),
        [
          'FROM local/busybox:latest',
          'RUN mkdir -p /out && echo "hello from charliecloud" > /hello.txt',
          'ENV GREETING="hi from the image env"',
          '',
        ].join('\n'),
      );
      await run('docker', ['build', '-q', '-t', image, ctx]);
      // `ch-convert -i tar` wants a flattened filesystem tarball, not `docker save`'s layered
      // archive: export a created container, plus the image's ENV as ch/environment, which is
      // exactly what `ch-convert -i docker` does on a machine that has Docker.
      containerId = (await run('docker', ['create', image, '/bin/true'])).stdout.trim();
      const tarball = join(ctx, 'image.tar');
      await run('docker', ['export', '-o', tarball, containerId]);
      const envLines = (
        await run('docker', ['image', 'inspect', '--format', '{{range .Config.Env}}{{println .}}{{end}}', image])
      ).stdout;
      const chDir = join(ctx, 'ch');
      await run('mkdir', ['-p', chDir]);
      writeFileSync(join(chDir, 'environment'), envLines);
      await run('tar', ['-rf', tarball, '-C', ctx, 'ch/environment']);

      const remoteTar = `${runBase}/image.tar`;
      const imageDir = `${runBase}/image`;
      const runDir = `${runBase}/ch-job`;
      await sftpPut(sftp, tarball, remoteTar);
      await sh(client, `ch-convert -i tar -o dir ${q(remoteTar)} ${q(imageDir)} && rm -f ${q(remoteTar)}`);
      await sh(client, `mkdir -p ${q(`${runDir}/out`)}`);

      // No accounting daemon: the job records its own exit status next to its outputs.
      const inner = 'cat /hello.txt > /out/result.txt && printf "%s\\n" "$GREETING" "user=$(id -un)" >> /out/result.txt';
      const script = [
        '#!/bin/bash',
        `#SBATCH --job-name=reprise-smoke-ch`,
        `#SBATCH --output=${runDir}/slurm-%j.out`,
        '#SBATCH --time=0:05:00',
        '#SBATCH --ntasks=1',
        '#SBATCH --mem=256M',
        `ch-run --set-env -b ${q(`${runDir}/out`)}:/out ${q(imageDir)} -- /bin/sh -c ${q(inner)}`,
        'rc=$?',
        `echo "$rc" > ${q(`${runDir}/exit_code`)}`,
        'exit "$rc"',
        '',
      ].join('\n');
      await sftpWrite(sftp, `${runDir}/job.sh`, script, 0o755);
      const jobId = parseJobId(
        await sh(client, `sbatch --parsable -p ${q(env.SLURM_PARTITION)} --chdir ${q(runDir)} ${q(`${runDir}/job.sh`)}`),
      );
      jobIds.push(jobId);
      await waitUntilGone(client, jobId, 90_000);

      const exitCode = (await sftpRead(sftp, `${runDir}/exit_code`).catch(() => 'missing')).trim();
      const jobLog = await sftpRead(sftp, `${runDir}/slurm-${jobId}.out`).catch(() => '');
      expect(exitCode, `job log:\n${jobLog}`).toBe('0');
      expect(await sftpRead(sftp, `${runDir}/out/result.txt`)).toBe(
        `hello from charliecloud\nhi from the image env\nuser=${env.SLURM_SSH_USER}\n`,
      );
      expect((await jobState(client, jobId)).state).toBe('COMPLETED');
      expectedFinal.set(jobId, 'COMPLETED');
    } finally {
      if (containerId) await run('docker', ['rm', '-f', containerId]).catch(() => undefined);
      await run('docker', ['rmi', '-f', image]).catch(() => undefined);
      rmSync(ctx, { recursive: true, force: true });
    }
  }, 180_000);

  it('ends a job that exceeds its --time limit as TIMEOUT', async () => {
    // SLURM's smallest limit is one minute; OverTimeLimit=0 means no grace, so this takes ~60-90 s.
    const jobId = parseJobId(
      await sh(
        client,
        `sbatch --parsable -p ${q(env.SLURM_PARTITION)} --job-name=reprise-smoke-timeout --time=0:01:00 ` +
          `--mem=64M --chdir ${q(runBase)} --output=/dev/null --wrap ${q('sleep 600')}`,
      ),
    );
    jobIds.push(jobId);
    await waitForState(client, jobId, 'RUNNING', 30_000);
    await waitUntilGone(client, jobId, 150_000);
    const { state, reason, raw } = await jobState(client, jobId);
    expect(state, raw).toBe('TIMEOUT');
    expect(reason).toBe('TimeLimit');
    expectedFinal.set(jobId, 'TIMEOUT');
  }, 200_000);

  it('ends a running job cancelled with scancel as CANCELLED', async () => {
    const marker = `${runBase}/cancel-started`;
    const jobId = parseJobId(
      await sh(
        client,
        `sbatch --parsable -p ${q(env.SLURM_PARTITION)} --job-name=reprise-smoke-cancel --time=0:10:00 ` +
          `--mem=64M --chdir ${q(runBase)} --output=/dev/null --wrap ${q(`touch ${q(marker)}; sleep 600`)}`,
      ),
    );
    jobIds.push(jobId);
    // The one test node may be busy with other suites' jobs: pending a while is normal.
    await waitForState(client, jobId, 'RUNNING', 240_000);
    // Cancel only once the batch script is really running (it touched its marker).
    const deadline = Date.now() + 30_000;
    while ((await exec(client, `test -e ${q(marker)}`)).code !== 0) {
      if (Date.now() > deadline) throw new Error(`job ${jobId} is RUNNING but never touched ${marker}`);
      await sleep(300);
    }
    await sh(client, `scancel ${q(jobId)}`);
    await waitUntilGone(client, jobId, 60_000);
    const { state, raw } = await jobState(client, jobId);
    expect(state, raw).toBe('CANCELLED');
    expectedFinal.set(jobId, 'CANCELLED');
  }, 360_000);

  it('keeps the history of finished jobs in sacct (slurmdbd)', async (ctx) => {
    const storage = /AccountingStorageType\s*=\s*(\S+)/.exec(await sh(client, 'scontrol show config'))?.[1];
    if (storage !== 'accounting_storage/slurmdbd') {
      // `test/infra/slurm up` has accounting unless SLURM_ACCOUNTING=0: say so, do not pass.
      ctx.skip(`cluster has ${storage ?? 'no'} accounting storage (SLURM_ACCOUNTING=0?), so sacct has no history`);
    }
    expect(expectedFinal.size, 'the job tests above must have run').toBeGreaterThan(0);
    const ids = [...expectedFinal.keys()];
    const deadline = Date.now() + 30_000;
    let got = new Map<string, string>();
    for (;;) {
      // -X: the job allocation only (not its steps); -P: '|' separated; CANCELLED may read "CANCELLED by UID".
      const out = await sh(client, `sacct -X -n -P -o JobID,State -j ${q(ids.join(','))}`);
      got = new Map(
        out
          .trim()
          .split('\n')
          .filter(Boolean)
          .map((line) => {
            const [id = '', state = ''] = line.split('|');
            return [id, state.split(' ')[0] ?? ''] as [string, string];
          }),
      );
      if (ids.every((id) => got.get(id) === expectedFinal.get(id)) || Date.now() > deadline) break;
      await sleep(1000);
    }
    expect(Object.fromEntries(got)).toEqual(Object.fromEntries(expectedFinal));
  }, 60_000);
});
