// Team mode with nothing shared: separate Unix accounts (each home 0700) for the people and the
// workers, a git daemon (its own account) as the remote, a Temporal dev server, all on loopback.
// The suites run as root (CI does); accounts are made with useradd and commands run under
// setpriv with the account's own uid, gid and groups.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, cpSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect, type Server } from 'node:net';
import { join } from 'node:path';
import { Connection, Client } from '@temporalio/client';
import { findTemporalBinary } from '../../src/client/temporal-cli.js';
import { AGENT_SERVER_NAME, agentClientTls, agentTlsFiles, ensureAgentTls } from '../../src/client/agent-tls.js';
import { mtlsRelay } from '../../src/client/agent-relay.js';
import { resolveTemporalAuth } from '../../src/config/temporal-tls.js';
import { binRun, collect, freePort, requireFreshBuild, type CliResult } from './cli.js';

export interface Account {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/** A Unix account with a private home (created once; reused by later suites). */
export function account(name: string, groups: string[] = []): Account {
  if (process.getuid?.() !== 0) throw new Error('the team-mode suites make Unix accounts: run them as root (CI does)');
  const id = (flag: string) => execFileSync('id', [flag, name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  try {
    id('-u');
  } catch {
    execFileSync('useradd', ['--create-home', '--shell', '/bin/sh', name]);
  }
  for (const g of groups) execFileSync('usermod', ['-aG', g, name]);
  const home = execFileSync('getent', ['passwd', name], { encoding: 'utf8' }).split(':')[5]!;
  chmodSync(home, 0o700);
  return { name, uid: Number(id('-u')), gid: Number(id('-g')), home };
}

/** A file in the account's home, owned by it (parents made as needed). */
export function writeOwned(a: Account, path: string, content: string | Buffer, mode = 0o600): string {
  const file = path.startsWith('/') ? path : join(a.home, path);
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, content, { mode });
  chownTree(a, join(file, '..'));
  return file;
}

export function copyOwned(a: Account, from: string, to: string): string {
  const file = join(a.home, to);
  mkdirSync(join(file, '..'), { recursive: true });
  cpSync(from, file);
  chmodSync(file, 0o600);
  chownTree(a, join(file, '..'));
  return file;
}

function chownTree(a: Account, dir: string): void {
  // From the home down: every directory on the way belongs to the account.
  for (let d = dir; d.startsWith(a.home); d = join(d, '..')) chownSync(d, a.uid, a.gid);
  execFileSync('chown', ['-R', `${a.uid}:${a.gid}`, dir]);
}

/** A process as the account: its uid, gid and groups, and only the environment given. */
export function spawnAs(a: Account, cmd: string, args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): ChildProcess {
  const env = { HOME: a.home, USER: a.name, LOGNAME: a.name, PATH: '/usr/local/bin:/usr/bin:/bin', LANG: 'C.UTF-8', ...options.env };
  const envArgs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  return spawn('setpriv', ['--reuid', String(a.uid), '--regid', String(a.gid), '--init-groups', '--', 'env', '-i', ...envArgs, cmd, ...args], {
    cwd: options.cwd ?? a.home,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export const runAs = (a: Account, cmd: string, args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<CliResult> => collect(spawnAs(a, cmd, args, options));

/** The built CLI driven as one account, with its own REPRISE_HOME. */
export class UserCli {
  constructor(
    readonly account: Account,
    readonly env: Record<string, string>,
  ) {
    requireFreshBuild();
  }

  spawn(args: string[], cwd?: string): ChildProcess {
    return spawnAs(this.account, process.execPath, [binRun, ...args], { cwd, env: this.env });
  }

  run(args: string[], cwd?: string): Promise<CliResult> {
    return collect(this.spawn(args, cwd));
  }

  async json<T>(args: string[], cwd?: string): Promise<T> {
    const r = await this.run([...args, '--json'], cwd);
    if (r.code !== 0) throw new Error(`${this.account.name}: reprise ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
    return JSON.parse(r.stdout) as T;
  }
}

/** Environment of a person or worker: own REPRISE_HOME, the team's Temporal, a git identity. */
export function personEnv(a: Account, temporal: Pick<TeamTemporal, 'address' | 'clientEnv'>, extra: Record<string, string> = {}): Record<string, string> {
  const home = join(a.home, `.reprise-${randomBytes(3).toString('hex')}`);
  mkdirSync(home, { recursive: true, mode: 0o700 });
  chownSync(home, a.uid, a.gid);
  return {
    REPRISE_HOME: home,
    TEMPORAL_ADDRESS: temporal.address,
    ...temporal.clientEnv,
    LOG_LEVEL: 'warn',
    GIT_AUTHOR_NAME: a.name,
    GIT_AUTHOR_EMAIL: `${a.name}@example.org`,
    GIT_COMMITTER_NAME: a.name,
    GIT_COMMITTER_EMAIL: `${a.name}@example.org`,
    ...extra,
  };
}

/** `reprise worker --backends …` as an account, up once it polls. */
export class TeamWorker {
  private constructor(
    readonly process: ChildProcess,
    readonly output: { text: string },
  ) {}

  static async start(a: Account, env: Record<string, string>, backends: string[], identity: string): Promise<TeamWorker> {
    const child = spawnAs(a, process.execPath, [binRun, 'worker', '--backends', backends.join(','), '--identity', identity], {
      env: { ...env, LOG_LEVEL: 'info', LOG_FORMAT: 'json' },
    });
    const output = { text: '' };
    child.stdout!.on('data', (d: Buffer) => (output.text += d));
    child.stderr!.on('data', (d: Buffer) => (output.text += d));
    const worker = new TeamWorker(child, output);
    for (let i = 0; i < 600 && !/worker started/.test(output.text); i++) {
      if (child.exitCode !== null) throw new Error(`worker ${identity} exited ${child.exitCode}: ${output.text}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    if (!/worker started/.test(output.text)) throw new Error(`worker ${identity} did not start: ${output.text}`);
    return worker;
  }

  /** SIGKILL: the worker dies as in a crash, mid-activity. */
  kill(): void {
    this.process.kill('SIGKILL');
  }

  async stop(): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode) return;
    const exited = new Promise((r) => this.process.once('exit', r));
    this.process.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
    this.process.kill('SIGKILL');
  }
}

/** A git daemon (git://, pushes enabled) serving bare repositories owned by its own account. */
export class GitServer {
  private constructor(
    readonly owner: Account,
    readonly base: string,
    readonly port: number,
    private readonly child: ChildProcess,
  ) {}

  static async start(owner: Account): Promise<GitServer> {
    const base = join(owner.home, `repos-${randomBytes(3).toString('hex')}`);
    mkdirSync(base, { recursive: true });
    chownSync(base, owner.uid, owner.gid);
    const port = await freePort();
    const child = spawnAs(owner, 'git', ['daemon', '--reuseaddr', `--base-path=${base}`, '--export-all', '--enable=receive-pack', '--listen=127.0.0.1', `--port=${port}`, base]);
    for (let i = 0; i < 100 && !(await portOpen(port)); i++) await new Promise((r) => setTimeout(r, 100));
    return new GitServer(owner, base, port, child);
  }

  /** An empty bare repository; `refuseRecords`: a pre-receive hook refuses pushes holding run records (a branch protected against workers). */
  async create(name: string, options: { refuseRecords?: boolean } = {}): Promise<string> {
    const dir = join(this.base, `${name}.git`);
    const r = await runAs(this.owner, 'git', ['init', '--quiet', '--bare', '--initial-branch=main', dir]);
    if (r.code !== 0) throw new Error(r.stderr);
    if (options.refuseRecords) {
      const hook = [
        '#!/bin/sh',
        'while read old new ref; do',
        '  range=$new; [ "$old" = 0000000000000000000000000000000000000000 ] || range=$old..$new',
        '  if git log --format=%B "$range" | grep -q "^Reprise-Run:"; then echo "records are not accepted here" >&2; exit 1; fi',
        'done',
        '',
      ].join('\n');
      writeOwned(this.owner, join(dir, 'hooks/pre-receive'), hook, 0o755);
    }
    // Wait until the daemon answers for it.
    for (let i = 0; i < 100; i++) {
      if ((await collect(spawn('git', ['ls-remote', this.url(name)], { stdio: ['ignore', 'pipe', 'pipe'] }))).code === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    return dir;
  }

  url(name: string): string {
    return `git://127.0.0.1:${this.port}/${name}.git`;
  }

  /** `git log` of the remote's branch, read as the server's owner would. */
  git(name: string, ...args: string[]): string {
    return execFileSync('git', ['--git-dir', join(this.base, `${name}.git`), ...args], { encoding: 'utf8', env: { ...process.env, GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: 'safe.directory', GIT_CONFIG_VALUE_0: '*' } });
  }

  stop(): void {
    this.child.kill('SIGTERM');
  }
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * The team's Temporal as an operator would run it: mTLS in front (a dev server has no TLS of its
 * own, so the relay of the local agent fronts it here, with a CA made for the suite), clients and
 * workers configured only through Temporal's own TEMPORAL_TLS_* variables (`clientEnv`).
 */
export class TeamTemporal {
  private constructor(
    readonly address: string,
    /** TEMPORAL_TLS_* for every account of the suite (the files are world-readable: a test CA). */
    readonly clientEnv: Record<string, string>,
    private readonly child: ChildProcess,
    private readonly relay: Server,
  ) {}

  static async start(): Promise<TeamTemporal> {
    const inner = await freePort();
    const child = spawn(findTemporalBinary(), ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(inner), '--headless', '--log-level', 'error'], { stdio: 'ignore' });
    const dir = mkdtempSync(join(tmpdir(), 'reprise-team-tls-'));
    await ensureAgentTls(dir);
    const files = agentTlsFiles(dir);
    for (const d of [dir, files.dir]) chmodSync(d, 0o755);
    chmodSync(files.clientKey, 0o644);
    const clientEnv = {
      TEMPORAL_TLS_SERVER_CA_CERT_PATH: files.ca,
      TEMPORAL_TLS_CLIENT_CERT_PATH: files.clientCert,
      TEMPORAL_TLS_CLIENT_KEY_PATH: files.clientKey,
      TEMPORAL_TLS_SERVER_NAME: AGENT_SERVER_NAME,
    };
    const relay = mtlsRelay({ ca: files.ca, cert: files.serverCert, key: files.serverKey }, inner);
    const port = await freePort();
    await new Promise<void>((resolve) => relay.listen(port, '127.0.0.1', resolve));
    const address = `127.0.0.1:${port}`;
    const tls = await agentClientTls(dir);
    for (let i = 0; i < 300; i++) {
      const ok = await Connection.connect({ address, tls, connectTimeout: 1000 }).then(
        async (c) => {
          await c.close();
          return true;
        },
        () => false,
      );
      if (ok) return new TeamTemporal(address, clientEnv, child, relay);
      await new Promise((r) => setTimeout(r, 200));
    }
    child.kill();
    relay.close();
    throw new Error('the Temporal dev server did not start');
  }

  /** A connection as the suite's clients make it (mTLS). */
  async connect(): Promise<Connection> {
    return Connection.connect({ address: this.address, ...(await resolveTemporalAuth(this.clientEnv, undefined)) });
  }

  /** Workflow ids with their status, as `temporal workflow list` shows them. */
  async workflows(): Promise<{ id: string; status: string }[]> {
    const connection = await this.connect();
    try {
      const out: { id: string; status: string }[] = [];
      for await (const wf of new Client({ connection }).workflow.list()) out.push({ id: wf.workflowId, status: wf.status.name });
      return out;
    } finally {
      await connection.close();
    }
  }

  stop(): void {
    this.relay.close();
    this.child.kill('SIGTERM');
  }
}

/** Run-record trailers on a branch of a bare repository: one entry per record commit. */
export function recordedRuns(server: GitServer, repo: string, branch = 'main'): { runId: string; worker?: string; state?: string }[] {
  const out = server.git(repo, 'log', '--format=%(trailers:key=Reprise-Run,key=Reprise-Worker,key=Reprise-State,unfold)%x1e', branch);
  return out
    .split('\x1e')
    .map((c) => c.trim())
    .filter(Boolean)
    .map((c) => {
      const t = Object.fromEntries(c.split('\n').map((l) => l.split(': ') as [string, string]));
      return { runId: t['Reprise-Run']!, worker: t['Reprise-Worker'], state: t['Reprise-State'] };
    })
    .filter((r) => r.runId);
}

/**
 * Wait until the remote's branch has the run's record; returns its entries (one expected).
 * `context` says what to show when it does not come (worker logs, pods).
 */
export async function waitForRecord(server: GitServer, repo: string, runId: string, timeoutMs: number, context: () => string): Promise<ReturnType<typeof recordedRuns>> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const found = recordedRuns(server, repo).filter((r) => r.runId === runId);
    if (found.length) return found;
    if (Date.now() > until) throw new Error(`run ${runId} was not recorded on the remote within ${timeoutMs} ms; ${context()}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}
