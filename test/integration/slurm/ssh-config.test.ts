// The SLURM backend reaching the login node the way clusters are reached: an ssh_config alias
// through a jump host (a second sshd with its own host key, the only way to the login node's inner
// address), host keys checked at every hop; one shared connection; one squeue per poll interval.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlurmBackend } from '../../../src/backends/slurm/slurm-backend.js';
import { EARLY_SPACING_MS, EARLY_WINDOW_MS } from '../../../src/backends/slurm/status-poller.js';
import type { JobHandle, JobStatus } from '../../../src/backends/types.js';
import { RepriseError } from '../../../src/errors.js';
import { useCliProject } from '../../helpers/cli-project.js';
import { git, tempDir } from '../../helpers/project.js';
import { buildTestImage, jumpEnv, jumpSshConfig } from './slurm-backend-env.js';
import { foreignHostKey } from '../../helpers/host-key.js';

const v = jumpEnv();
const suite = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const workdir = `~/reprise-it/${suite}`;
const tag = `reprise-slurm-jump-it:${suite}`;
const PREFIX = 'jit';
let dir: string;
let sshConfig: string;
let digest: string;
let sourcesDir: string;
let backend: SlurmBackend;
const handles: JobHandle[] = [];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A slurm backend whose SSH settings all come from the ssh_config `config` (alias `host`). */
function viaConfig(config: string, host = `${PREFIX}-login`): SlurmBackend {
  return new SlurmBackend({ kind: 'slurm', host, sshConfig: config, partition: v.SLURM_PARTITION, runtime: 'charliecloud', workdir });
}

/** Writes an ssh_config (and its known_hosts) under `name`; returns the config's path. */
async function writeConfig(name: string, knownHosts: string): Promise<{ config: string; knownHostsFile: string }> {
  const knownHostsFile = join(dir, `${name}.known_hosts`);
  await writeFile(knownHostsFile, knownHosts);
  const config = join(dir, `${name}.ssh_config`);
  await writeFile(config, jumpSshConfig(PREFIX, knownHostsFile));
  return { config, knownHostsFile };
}

/** What a log file gains from now on (the scheduler-call log, the inner sshd's log). */
function tail(file: string): () => string[] {
  const from = statSync(file).size;
  return () => readFileSync(file).subarray(from).toString('utf8').split('\n').filter(Boolean);
}
const calls = (lines: string[], command: string) => lines.filter((l) => l.split(' ')[1] === command);
const logins = (lines: string[]) => lines.filter((l) => /Accepted publickey for /.test(l));

async function failure(b: SlurmBackend): Promise<RepriseError> {
  const err = await b.check().then(() => undefined, (e: unknown) => e);
  b.close();
  expect(err).toBeInstanceOf(RepriseError);
  expect((err as RepriseError).exitCode).toBe(3);
  expect((err as Error).message).not.toContain('\n');
  return err as RepriseError;
}

async function until(handle: JobHandle, done: (s: JobStatus) => boolean, timeoutMs: number): Promise<JobStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await backend.status(handle);
    if (done(s)) return s;
    if (Date.now() > deadline) throw new Error(`job ${handle.jobId} still ${s.phase} after ${timeoutMs} ms`);
    await sleep(300);
  }
}
const ended = (s: JobStatus) => s.phase === 'exited' || s.phase === 'lost';

async function readAll(stream: Readable): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += String(chunk);
  return text;
}

async function submit(name: string, command: string[]): Promise<{ handle: JobHandle; spec: Parameters<SlurmBackend['submit']>[0] }> {
  const runId = `${suite}-${name}`;
  const staged = await backend.stage({ runId, image: { digest, tag }, sourcesDir });
  const spec = { runId, command, env: {}, resources: {}, staged };
  const handle = await backend.submit(spec);
  handles.push(handle);
  return { handle, spec };
}

beforeAll(async () => {
  dir = await tempDir('reprise-ssh-config-');
  ({ config: sshConfig } = await writeConfig('good', readFileSync(v.SLURM_JUMP_KNOWN_HOSTS, 'utf8')));
  backend = viaConfig(sshConfig);
  digest = buildTestImage(tag);
  sourcesDir = await tempDir('reprise-jump-src-');
  await mkdir(join(sourcesDir, 'output'), { recursive: true });
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

describe('the login node through a jump host, from ssh_config alone', () => {
  it('check() logs in through the jump host; the login node is the inner address', async () => {
    const c = await backend.check();
    expect(c.details.host).toBe(`${v.SLURM_SSH_USER}@${v.SLURM_LOGIN_INNER_HOST}:${v.SLURM_SSH_PORT} via ${v.SLURM_JUMP_USER}@${v.SLURM_JUMP_HOST}:${v.SLURM_JUMP_PORT}`);
    expect(c.version).toMatch(/^slurm/);
  });

  it('the inner address cannot be reached directly: the jump host is the only way', async () => {
    const empty = join(dir, 'empty.ssh_config');
    await writeFile(empty, '');
    const direct = new SlurmBackend({
      kind: 'slurm', host: v.SLURM_LOGIN_INNER_HOST, port: Number(v.SLURM_SSH_PORT), user: v.SLURM_SSH_USER, identityFile: v.SLURM_SSH_IDENTITY,
      knownHostsFile: v.SLURM_JUMP_KNOWN_HOSTS, sshConfig: empty, runtime: 'charliecloud', workdir,
    });
    const err = await failure(direct);
    expect(err.message).toBe(`cannot reach ${v.SLURM_SSH_USER}@${v.SLURM_LOGIN_INNER_HOST}:${v.SLURM_SSH_PORT} over SSH (ECONNREFUSED); check host, port and network`);
  });

  it('a jump host whose key does not match known_hosts is refused, and nothing reaches the login node', async () => {
    const other = foreignHostKey();
    const inner = readFileSync(v.SLURM_JUMP_KNOWN_HOSTS, 'utf8').split('\n').filter((l) => l.startsWith(`[${v.SLURM_LOGIN_INNER_HOST}]`));
    const { config, knownHostsFile } = await writeConfig('wrong-jump', [`[${v.SLURM_JUMP_HOST}]:${v.SLURM_JUMP_PORT} ssh-ed25519 ${other.getPublicSSH().toString('base64')}`, ...inner, ''].join('\n'));
    const sshd = tail(v.SLURM_INNER_SSHD_LOG);
    const err = await failure(viaConfig(config));
    const name = `[${v.SLURM_JUMP_HOST}]:${v.SLURM_JUMP_PORT}`;
    expect(err.message).toBe(
      `host key of jump host ${name} (${PREFIX}-bastion) does not match known_hosts ${knownHostsFile} (possible man-in-the-middle, or the host was reinstalled); if the change is expected, replace the entry: ssh-keygen -R '${name}' -f ${knownHostsFile}`,
    );
    expect(logins(sshd())).toEqual([]);
  });

  it('a jump host missing from known_hosts: one line naming the file and how to add it', async () => {
    const inner = readFileSync(v.SLURM_JUMP_KNOWN_HOSTS, 'utf8').split('\n').filter((l) => l.startsWith(`[${v.SLURM_LOGIN_INNER_HOST}]`));
    const { config, knownHostsFile } = await writeConfig('no-jump-key', [...inner, ''].join('\n'));
    const err = await failure(viaConfig(config));
    expect(err.message).toBe(
      `jump host [${v.SLURM_JUMP_HOST}]:${v.SLURM_JUMP_PORT} (${PREFIX}-bastion) is not in known_hosts ${knownHostsFile}; add its verified key (e.g. ssh-keyscan -p ${v.SLURM_JUMP_PORT} ${v.SLURM_JUMP_HOST} >> ${knownHostsFile}, after checking the fingerprint)`,
    );
  });

  it('a login node behind the jump missing from known_hosts: checked at that hop too', async () => {
    const jump = readFileSync(v.SLURM_JUMP_KNOWN_HOSTS, 'utf8').split('\n').filter((l) => l.startsWith(`[${v.SLURM_JUMP_HOST}]`));
    const { config, knownHostsFile } = await writeConfig('no-login-key', [...jump, ''].join('\n'));
    const err = await failure(viaConfig(config));
    expect(err.message).toBe(
      `host [${v.SLURM_LOGIN_INNER_HOST}]:${v.SLURM_SSH_PORT} is not in known_hosts ${knownHostsFile}; add its verified key (e.g. ssh -F ${config} ${PREFIX}-login once and check the fingerprint it shows)`,
    );
  });

  it('an alias no Host block gives a HostName, and that does not resolve: one line naming the config', async () => {
    const err = await failure(viaConfig(sshConfig, `${PREFIX}-nowhere`));
    expect(err.message).toMatch(
      new RegExp(`^cannot reach ${PREFIX}-nowhere: it is no Host alias with a HostName in ssh config ${sshConfig}, and no such host name resolves \\((ENOTFOUND|EAI_AGAIN)\\); add a Host ${PREFIX}-nowhere block with HostName, or use the login node's address$`),
    );
  });

  it('several concurrent runs: one connection, and one squeue per poll interval (per early spacing in their first seconds) however often they ask', async () => {
    const runs = await Promise.all(['p1', 'p2', 'p3', 'p4', 'p5', 'p6'].map((name) => submit(name, ['sh', '-c', 'sleep 3; echo done'])));
    const scheduler = tail(v.SLURM_SCHEDULER_CALLS_LOG);
    const sshd = tail(v.SLURM_INNER_SSHD_LOG);
    const started = Date.now();
    let statusCalls = 0;
    // Each run asks for its state again 100 ms after every answer (awaitJob waits up to a second).
    const finals = await Promise.all(
      runs.map(async ({ handle }) => {
        for (const deadline = Date.now() + 120_000; Date.now() < deadline; await sleep(100)) {
          statusCalls++;
          const s = await backend.status(handle);
          if (ended(s)) return s;
        }
        throw new Error(`job ${handle.jobId} did not end`);
      }),
    );
    const seconds = (Date.now() - started) / 1000;
    expect(finals.map((s) => s.exitCode)).toEqual([0, 0, 0, 0, 0, 0]);
    const lines = scheduler();
    const squeue = calls(lines, 'squeue').length;
    console.log(`6 concurrent runs over ${seconds.toFixed(1)} s: ${statusCalls} status() calls, ${squeue} squeue, ${calls(lines, 'sacct').length} sacct, ${calls(lines, 'scontrol').length} scontrol calls`);
    expect(squeue).toBeGreaterThan(0);
    // One per poll interval (1 s), not one per status() call; in the jobs' first seconds (all
    // asked about at once here) one per early spacing instead.
    expect(squeue).toBeLessThanOrEqual(Math.ceil(seconds) + 1 + Math.ceil(EARLY_WINDOW_MS / EARLY_SPACING_MS));
    expect(statusCalls).toBeGreaterThan(2 * squeue);
    expect(calls(lines, 'sacct').length).toBeLessThanOrEqual(squeue);
    // Every call went over the connection opened before: no new login.
    expect(logins(sshd())).toEqual([]);
  }, 180_000);

  it('a connection cut mid-run is re-established through the jump host and the run goes on, with one sbatch', async () => {
    const scheduler = tail(v.SLURM_SCHEDULER_CALLS_LOG);
    const sshd = tail(v.SLURM_INNER_SSHD_LOG);
    const { handle, spec } = await submit('drop', ['sh', '-c', 'for i in 1 2 3 4 5 6; do echo line $i; sleep 1; done']);
    const log = readAll(await backend.logs(handle));
    await until(handle, (s) => s.phase === 'running', 60_000);
    // End the TCP connection to the jump host: every hop behind it goes with it.
    (await backend.ssh.rawClient()).end();
    expect(await until(handle, ended, 90_000)).toMatchObject({ phase: 'exited', exitCode: 0 });
    expect(await log).toContain('line 1\nline 2\nline 3\nline 4\nline 5\nline 6\n');
    // A retried submit (as after the drop) finds the job: still one sbatch for this run.
    expect(await backend.submit(spec)).toEqual(handle);
    const lines = scheduler();
    expect(calls(lines, 'sbatch')).toHaveLength(1);
    expect(logins(sshd()).length).toBeGreaterThanOrEqual(1); // the new connection, through the jump
    expect(await readFile(v.SLURM_JUMP_KNOWN_HOSTS, 'utf8')).toContain(`[${v.SLURM_JUMP_HOST}]:${v.SLURM_JUMP_PORT}`);
  }, 180_000);
});

describe('the built CLI: `backend add --host ALIAS --ssh-config FILE` needs nothing else', () => {
  const cliWorkdir = `${workdir}/cli`;
  const p = useCliProject('ssh-config', () => ['hpc', '--kind', 'slurm', '--host', `${PREFIX}-login`, '--ssh-config', sshConfig, '--partition', v.SLURM_PARTITION, '--workdir', cliWorkdir]);

  it('stores only what was given, and a run through the jump host is recorded', async () => {
    const backends = await p.cli.json<Record<string, unknown>>(['backend', 'list'], p.root);
    expect(backends.hpc).toEqual({ kind: 'slurm', host: `${PREFIX}-login`, sshConfig, partition: v.SLURM_PARTITION, runtime: 'charliecloud', workdir: cliWorkdir });
    const check = await p.cli.json<{ details: { host: string } }>(['backend', 'check', 'hpc'], p.root);
    expect(check.details.host).toMatch(/ via jumpuser@/);
    const r = await p.cli.run(['run', '--on', 'hpc', '--', 'sh', '-c', 'echo through the jump | tee output/jump.txt'], p.root);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('through the jump\n');
    expect(git(p.root, 'log', '-1', '--format=%(trailers:key=Reprise-Backend,valueonly)').trim()).toBe('hpc (slurm)');
    expect(git(p.root, 'log', '-1', '--format=%(trailers:key=Reprise-State,valueonly)').trim()).toBe('succeeded');
    expect(git(p.root, 'show', 'HEAD:output/jump.txt')).toBe('through the jump\n');
  }, 240_000);

  it('a wrong jump host key, a missing known_hosts entry, an alias that resolves nowhere: one line each, exit 3', async () => {
    const other = foreignHostKey();
    const lines = readFileSync(v.SLURM_JUMP_KNOWN_HOSTS, 'utf8').split('\n');
    const innerLine = lines.filter((l) => l.startsWith(`[${v.SLURM_LOGIN_INNER_HOST}]`));
    const jumpLine = lines.filter((l) => l.startsWith(`[${v.SLURM_JUMP_HOST}]`));
    const cases: [string, string, string, RegExp][] = [
      ['bad-jump', [`[${v.SLURM_JUMP_HOST}]:${v.SLURM_JUMP_PORT} ssh-ed25519 ${other.getPublicSSH().toString('base64')}`, ...innerLine, ''].join('\n'), `${PREFIX}-login`, /^Error: host key of jump host \[127\.0\.0\.1\]:\d+ \(jit-bastion\) does not match known_hosts \S+ \(possible man-in-the-middle/],
      ['no-key', [...jumpLine, ''].join('\n'), `${PREFIX}-login`, /^Error: host \[127\.0\.0\.2\]:\d+ is not in known_hosts \S+; add its verified key \(e\.g\. ssh -F \S+ jit-login once and check the fingerprint it shows\)$/],
      ['nowhere', readFileSync(v.SLURM_JUMP_KNOWN_HOSTS, 'utf8'), `${PREFIX}-nowhere`, /^Error: cannot reach jit-nowhere: it is no Host alias with a HostName in ssh config \S+, and no such host name resolves/],
    ];
    for (const [name, knownHosts, host, message] of cases) {
      const { config } = await writeConfig(`cli-${name}`, knownHosts);
      const add = await p.cli.run(['backend', 'add', name, '--kind', 'slurm', '--host', host, '--ssh-config', config], p.root);
      expect(add.code, add.stderr).toBe(0);
      const r = await p.cli.run(['backend', 'check', name], p.root);
      expect(r.code, name).toBe(3);
      expect(r.stderr.trimEnd().split('\n'), name).toHaveLength(1);
      expect(r.stderr.trimEnd(), name).toMatch(message);
    }
  }, 120_000);

  it('an ssh config that cannot be followed is refused when the backend is added: exit 2, nothing saved', async () => {
    const bad = join(dir, 'bad.ssh_config');
    await writeFile(bad, `Host ${PREFIX}-login\n  Port twenty\n`);
    const r = await p.cli.run(['backend', 'add', 'broken', '--kind', 'slurm', '--host', `${PREFIX}-login`, '--ssh-config', bad], p.root);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`Error: invalid backend settings for --kind slurm: ${bad} line 2: Port "twenty" is not a number from 1 to 65535\n`);
    const missing = await p.cli.run(['backend', 'add', 'broken', '--kind', 'slurm', '--host', 'x', '--ssh-config', join(dir, 'nope')], p.root);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe(`Error: invalid backend settings for --kind slurm: ssh config ${join(dir, 'nope')} does not exist\n`);
    expect(Object.keys(await p.cli.json<Record<string, unknown>>(['backend', 'list'], p.root))).not.toContain('broken');
  });
});
