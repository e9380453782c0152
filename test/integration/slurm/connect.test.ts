// connect(): a TCP stream into a running SLURM job (what `reprise lab` tunnels JupyterLab through),
// against the real cluster of `test/infra/slurm up`: the job runs python's http.server in the
// local Debian image under Charliecloud, and the login node forwards to the job's node over the
// backend's shared SSH connection.
import { execFileSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlurmBackend } from '../../../src/backends/slurm/slurm-backend.js';
import type { JobHandle, JobSpec, JobStatus } from '../../../src/backends/types.js';
import { RepriseError } from '../../../src/errors.js';
import { tempDir } from '../../helpers/project.js';
import { clusterConfig, jumpEnv, jumpSshConfig } from './slurm-backend-env.js';

const IMAGE = 'local/debian-python:bookworm';
const suite = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const config = clusterConfig(`~/reprise-it/${suite}`);
const backend = new SlurmBackend(config);
const port = 20000 + randomInt(12768); // below the ephemeral ports, as a lab's
const resources: JobSpec['resources'] = { cpus: 1, memoryBytes: 256 * 2 ** 20, timeSeconds: 900 };
const handles: { backend: SlurmBackend; handle: JobHandle }[] = [];
let digest: string;
let sourcesDir: string;
let server: JobHandle;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function submit(name: string, command: string[], on = backend): Promise<JobHandle> {
  const runId = `${suite}-${name}`;
  const staged = await on.stage({ runId, image: { digest, tag: IMAGE }, sourcesDir });
  const handle = await on.submit({ runId, command, env: {}, resources, staged });
  handles.push({ backend: on, handle });
  return handle;
}

async function until(handle: JobHandle, done: (s: JobStatus) => boolean, timeoutMs: number): Promise<JobStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await backend.status(handle);
    if (done(s)) return s;
    if (Date.now() > deadline) throw new Error(`job ${handle.jobId} still ${s.phase} (${s.reason ?? ''}) after ${timeoutMs} ms`);
    await sleep(500);
  }
}

/** An HTTP/1.0 GET of / over the stream; the whole reply (the server closes after it). */
function get(stream: Duplex): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (d: Buffer) => chunks.push(d));
    stream.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    stream.once('error', reject);
    stream.write('GET / HTTP/1.0\r\nHost: lab\r\n\r\n');
  });
}

/** Resolves when the stream closes; reads it meanwhile (ssh2 emits 'close' after 'end'). */
const closed = (stream: Duplex) => new Promise<void>((resolve) => stream.once('close', () => resolve()).resume());

/** The error a promise rejects with (fails the test when it resolves). */
async function failure(p: Promise<unknown>): Promise<RepriseError> {
  const err = await p.then(
    (s) => {
      (s as Duplex).destroy();
      return new Error('connect() succeeded');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RepriseError);
  return err as RepriseError;
}

/** The local port of this process's SSH connection to the login node (its first hop). */
async function sshLocalPort(): Promise<number> {
  const sock = (await backend.ssh.rawClient()) as unknown as { _sock?: { localPort?: number } };
  const local = sock._sock?.localPort;
  if (!local) throw new Error('the backend holds no TCP connection to the login node');
  return local;
}

beforeAll(async () => {
  digest = execFileSync('docker', ['image', 'inspect', '--format', '{{.Id}}', IMAGE], { encoding: 'utf8' }).trim();
  sourcesDir = await tempDir('reprise-slurm-connect-');
  await mkdir(join(sourcesDir, 'code'), { recursive: true });
  await mkdir(join(sourcesDir, 'output'), { recursive: true });
  await writeFile(join(sourcesDir, 'code/notebook.py'), 'print(1)\n');
  server = await submit('http', ['python3', '-m', 'http.server', String(port), '--bind', '0.0.0.0']);
  await until(server, (s) => s.phase === 'running', 240_000);
  // Running is not listening yet: wait for python to bind its port.
  const deadline = Date.now() + 60_000;
  for (;;) {
    const stream = await backend.connect(server, port).catch((err: unknown) => {
      if (Date.now() > deadline || !/nothing accepts connections/.test(String(err))) throw err;
    });
    if (stream) return void stream.destroy();
    await sleep(500);
  }
}, 360_000);

afterAll(async () => {
  for (const { backend: b, handle } of handles) await b.cancel(handle).catch(() => undefined);
  await backend.ssh.exec(['sh', '-c', 'rm -rf "$HOME/reprise-it/$1"', 'sh', suite]).catch(() => undefined);
  backend.close();
});

describe('slurm connect()', () => {
  it('opens a TCP stream to a port of the running job: an HTTP GET lists /project', async () => {
    const reply = await get(await backend.connect(server, port));
    expect(reply).toMatch(/^HTTP\/1\.0 200 OK\r\n/);
    expect(reply).toContain('Directory listing for /');
    expect(reply).toContain('<a href="code/">code/</a>');
    expect(reply).toContain('<a href="output/">output/</a>');
  }, 60_000);

  it('opens many streams at once, beyond the exec channel limit, and commands still run beside them', async () => {
    // A browser keeps websockets open: 10 streams held open (more than the 8 exec/sftp slots).
    const streams = await Promise.all(Array.from({ length: 10 }, () => backend.connect(server, port)));
    expect(await backend.ssh.run(['echo', 'beside'], 20_000)).toBe('beside\n');
    const replies = await Promise.all(streams.map((s) => get(s)));
    for (const r of replies) expect(r).toMatch(/^HTTP\/1\.0 200 OK\r\n/);
  }, 60_000);

  it('an open stream keeps the connection after the backend is closed; the connection ends with the last stream', async () => {
    // A known_hosts file of its own: a target of its own, so a connection no other test shares.
    const knownHostsFile = join(await tempDir('reprise-slurm-kh-'), 'known_hosts');
    await copyFile(config.knownHostsFile, knownHostsFile);
    const own = new SlurmBackend({ ...config, knownHostsFile });
    const [stream, unread] = await Promise.all([own.connect(server, port), own.connect(server, port)]);
    const raw = await own.ssh.rawClient();
    const closed = new Promise<void>((resolve) => raw.once('close', () => resolve()));
    own.close();
    // One stream given up unread (a browser tab gone), the other still used.
    unread.destroy();
    expect(await get(stream)).toMatch(/^HTTP\/1\.0 200 OK\r\n/);
    // The last stream done, the connection of the closed backend ends.
    await closed;
  }, 60_000);

  it('reaches the job through a jump host (ProxyJump in ssh_config)', async () => {
    const dir = await tempDir('reprise-slurm-connect-jump-');
    const knownHostsFile = join(dir, 'known_hosts');
    await copyFile(jumpEnv().SLURM_JUMP_KNOWN_HOSTS, knownHostsFile);
    const sshConfig = join(dir, 'ssh_config');
    await writeFile(sshConfig, jumpSshConfig('cjt', knownHostsFile));
    const viaJump = new SlurmBackend({ kind: 'slurm', host: 'cjt-login', sshConfig, partition: config.partition, runtime: 'charliecloud', workdir: config.workdir });
    try {
      expect(await get(await viaJump.connect(server, port))).toMatch(/^HTTP\/1\.0 200 OK\r\n/);
    } finally {
      viaJump.close();
    }
  }, 60_000);

  it('a port nothing listens on is a one-line error, and the connection stays usable', async () => {
    const unused = port === 65535 ? port - 1 : port + 1;
    const err = await failure(backend.connect(server, unused));
    expect(err.kind).toBe('BackendUnavailable');
    expect(err.message).toMatch(new RegExp(`^nothing accepts connections on port ${unused} of node \\S+ where job ${server.jobId} runs \\(.*Connection refused.*\\); `));
    expect(err.message).not.toContain('\n');
    expect(await get(await backend.connect(server, port))).toMatch(/^HTTP\/1\.0 200 OK/);
    await expect(backend.connect(server, 0)).rejects.toThrow('port 0 is no TCP port');
  }, 60_000);

  it('after the SSH connection is cut (ss -K), its streams close and connect() opens a new one', async () => {
    const before = await backend.connect(server, port);
    const gone = closed(before);
    const local = await sshLocalPort();
    execFileSync('ss', ['-K', 'dst', `${config.host}:${config.port}`, 'sport', '=', `:${local}`], { stdio: 'ignore' });
    await gone;
    const reply = await get(await backend.connect(server, port));
    expect(reply).toMatch(/^HTTP\/1\.0 200 OK\r\n/);
    const second = await sshLocalPort();
    expect(second).not.toBe(local);
    // Cut again and connect at once, before this process has seen the connection go.
    execFileSync('ss', ['-K', 'dst', `${config.host}:${config.port}`, 'sport', '=', `:${second}`], { stdio: 'ignore' });
    expect(await get(await backend.connect(server, port))).toMatch(/^HTTP\/1\.0 200 OK\r\n/);
    expect(await sshLocalPort()).not.toBe(second);
  }, 60_000);

  it('a job that has ended gives a one-line error', async () => {
    const done = await submit('done', ['true']);
    await until(done, (s) => s.phase === 'exited', 240_000);
    const err = await failure(backend.connect(done, port));
    expect(err.kind).toBe('NotFound');
    expect(err.message).toMatch(new RegExp(`^job ${done.jobId} has ended( \\([A-Z_]+\\))?$`));
  }, 300_000);

  it('a pending job gives a one-line error with its reason', async () => {
    // Held by a start time an hour away: pending without occupying the cluster.
    const later = new SlurmBackend({ ...config, sbatchArgs: ['--begin=now+3600'] });
    try {
      const pending = await submit('pending', ['true'], later);
      await until(pending, (s) => s.phase === 'pending', 60_000);
      const err = await failure(later.connect(pending, port));
      expect(err.message).toBe(`job ${pending.jobId} is still pending (BeginTime); the lab starts when it runs`);
      await later.cancel(pending);
      // Cancelled: SLURM still lists it for a while, as ended.
      expect((await failure(later.connect(pending, port))).message).toMatch(new RegExp(`^job ${pending.jobId} has ended`));
    } finally {
      later.close();
    }
  }, 120_000);
});
