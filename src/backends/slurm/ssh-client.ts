import { createReadStream } from 'node:fs';
import type { Socket } from 'node:net';
import { PassThrough, type Readable } from 'node:stream';
import type { ClientChannel, FileEntryWithStats, SFTPWrapper } from 'ssh2';
import { backendUnavailable, RepriseError } from '../../errors.js';
import { openRoute, type Ssh2Client } from './ssh-connect.js';
import { describeTarget, type SshTarget } from './ssh-target.js';
import { shellCommand } from '../../shell-quote.js';

export interface ExecResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

const EXEC_TIMEOUT_MS = 5 * 60_000;

/** What a command reads on its stdin: bytes, or the path of a local file. */
export type StdinInput = Buffer | { file: string };

/**
 * Session channels open at once on one connection: under OpenSSH's MaxSessions default of 10,
 * with room for the SFTP channel. Further commands wait for a free one.
 */
const MAX_CHANNELS = 8;

/**
 * Commands and files on a host reached over SSH. Every SshClient of one target in this process
 * shares one connection (see SharedConnection): all runs of a backend are multiplexed over it.
 * Every command is an argv, quoted for the remote POSIX shell.
 */
export class SshClient {
  private readonly shared: SharedConnection;
  private released = false;

  constructor(
    readonly target: SshTarget,
    idleMs = 60_000,
  ) {
    this.shared = SharedConnection.for(target, idleMs);
    this.shared.hold();
  }

  get description(): string {
    return describeTarget(this.target);
  }

  /** Runs argv on the remote host; a non-zero exit is a result, not an error. */
  async exec(argv: readonly string[], timeoutMs = EXEC_TIMEOUT_MS): Promise<ExecResult> {
    return this.execWithInput(argv, undefined, timeoutMs);
  }

  /**
   * exec with `input` on the command's stdin: bytes, or a local file streamed as it is read. Lets
   * one round trip carry a file and the commands that use it (instead of SFTP open, write, close,
   * then a command). Run again whole on a dropped connection, so the command must be idempotent.
   */
  async execWithInput(argv: readonly string[], input: StdinInput | undefined, timeoutMs = EXEC_TIMEOUT_MS): Promise<ExecResult> {
    const command = shellCommand(argv);
    return this.shared.use((route, channels) => channels.run(() => execOn(route.login, command, timeoutMs, input)));
  }

  /**
   * Runs argv on the remote host handing its stdout, as it comes, to `consume` (with the
   * stream's backpressure); resolves once both the command and `consume` are done.
   */
  async execStreaming(argv: readonly string[], consume: (stdout: Readable) => Promise<void>, timeoutMs = EXEC_TIMEOUT_MS): Promise<Omit<ExecResult, 'stdout'>> {
    const command = shellCommand(argv);
    return this.shared.use((route, channels) => channels.run(() => streamOn(route.login, command, consume, timeoutMs)));
  }

  /** Runs argv and returns its stdout; a non-zero exit throws with the remote stderr. */
  async run(argv: readonly string[], timeoutMs?: number): Promise<string> {
    const r = await this.exec(argv, timeoutMs);
    if (r.code !== 0) {
      throw new Error(`${argv[0]} failed on ${this.target.host} (exit ${r.code}): ${(r.stderr || r.stdout.toString()).trim().split('\n').slice(-5).join(' | ')}`);
    }
    return r.stdout.toString('utf8');
  }

  async upload(localPath: string, remotePath: string): Promise<void> {
    await this.useSftp((sftp) => new Promise<void>((res, rej) => sftp.fastPut(localPath, remotePath, (err) => (err ? rej(err) : res()))));
  }

  async download(remotePath: string, localPath: string): Promise<void> {
    await this.useSftp((sftp) => new Promise<void>((res, rej) => sftp.fastGet(remotePath, localPath, (err) => (err ? rej(err) : res()))));
  }

  async writeFile(remotePath: string, data: string | Buffer, mode = 0o644): Promise<void> {
    await this.useSftp((sftp) => new Promise<void>((res, rej) => sftp.writeFile(remotePath, data, { mode }, (err) => (err ? rej(err) : res()))));
  }

  /** Directory entries with lstat attributes (symlinks are reported as links, never followed). */
  async readdir(remotePath: string): Promise<FileEntryWithStats[]> {
    return this.useSftp((sftp) => new Promise((res, rej) => sftp.readdir(remotePath, (err, list) => (err ? rej(err) : res(list)))));
  }

  /**
   * A TCP connection to `host:port` made by the login node (a `direct-tcpip` channel, as
   * `ssh -L` opens), over the shared connection; `host` is resolved there. A connection that
   * dropped is reopened once, as for commands. The login node answering that it cannot connect
   * (nothing listens there, its sshd forbids forwarding) is a RepriseError whose `reason` is the
   * SSH channel-open failure code (1 prohibited, 2 connect failed): the connection stays up.
   */
  async forwardOut(host: string, port: number): Promise<ClientChannel> {
    return this.shared.stream((route) => forwardOn(route.login, host, port, this.description));
  }

  /** This client is done: the shared connection ends once no client holds it (later calls reconnect). */
  close(): void {
    if (this.released) return;
    this.released = true;
    this.shared.release();
  }

  /** The connection's first hop (its TCP connection), for tests that simulate a dropped connection. */
  async rawClient(): Promise<Ssh2Client> {
    return this.shared.use(async (route) => route.clients[0]!);
  }

  private useSftp<T>(fn: (sftp: SFTPWrapper) => Promise<T>): Promise<T> {
    return this.shared.use(async (route) => {
      route.sftp ??= new Promise<SFTPWrapper>((res, rej) => route.login.sftp((err, sftp) => (err ? rej(err) : res(sftp))));
      route.sftp.catch(() => (route.sftp = undefined));
      return fn(await route.sftp);
    });
  }
}

interface Route {
  /** First hop to login node. */
  clients: Ssh2Client[];
  login: Ssh2Client;
  sftp?: Promise<SFTPWrapper>;
  /** Set when any hop ended or failed: the next call opens a new route. */
  dead: boolean;
  /** Lets go of each forwarded stream still open on this route (see SharedConnection.stream). */
  streams: Set<() => void>;
}

/**
 * One SSH connection (through its jump hosts) per target per process: opened on first use,
 * kept alive with SSH keepalives, reopened after a drop, ended when no SshClient holds it or
 * after a quiet `idleMs`. An idle connection never keeps the process alive.
 */
class SharedConnection {
  private static readonly pool = new Map<string, SharedConnection>();

  static for(target: SshTarget, idleMs: number): SharedConnection {
    // The whole target is the key: a client with other keys or known_hosts never shares a login.
    const key = JSON.stringify(target);
    let shared = SharedConnection.pool.get(key);
    if (!shared) SharedConnection.pool.set(key, (shared = new SharedConnection(target, idleMs)));
    return shared;
  }

  private route?: Promise<Route>;
  private current?: Route;
  private inFlight = 0;
  private holders = 0;
  private idleTimer?: NodeJS.Timeout;
  private readonly channels = new Slots(MAX_CHANNELS);

  private constructor(
    private readonly target: SshTarget,
    private readonly idleMs: number,
  ) {}

  hold(): void {
    this.holders++;
  }

  release(): void {
    this.holders = Math.max(0, this.holders - 1);
    if (this.holders === 0 && this.inFlight === 0) this.end();
  }

  /** Runs fn on the connection; when the connection dropped under it, reconnects and runs it once more. */
  async use<T>(fn: (route: Route, channels: Slots) => Promise<T>): Promise<T> {
    this.inFlight++;
    clearTimeout(this.idleTimer);
    try {
      for (let attempt = 0; ; attempt++) {
        const route = await this.connection();
        for (const c of route.clients) socketOf(c)?.ref();
        try {
          return await fn(route, this.channels);
        } catch (err) {
          if (attempt > 0 || !isDropped(err)) throw err;
          this.forget(route);
        }
      }
    } finally {
      if (--this.inFlight === 0) this.goIdle();
    }
  }

  /**
   * Opens a long-lived channel (a forwarded TCP stream) on the connection. Such channels take no
   * slot of `channels`: those bound *session* channels (exec, sftp) under sshd's MaxSessions,
   * which does not count direct-tcpip channels; and a lab's browser keeps several websockets open
   * for hours, which would otherwise starve commands (or wait behind them). Each open stream
   * counts as a call in flight until it is done with, so the connection is neither ended as idle
   * nor unreferenced under it; a dropped connection ends its streams (ssh2 ends every channel).
   */
  stream(open: (route: Route) => Promise<ClientChannel>): Promise<ClientChannel> {
    return this.use(async (route) => {
      const channel = await open(route);
      // Counted before use() lets go of its own count: the connection never looks idle between.
      this.inFlight++;
      let done = false;
      const release = () => {
        if (done) return;
        done = true;
        route.streams.delete(release);
        if (--this.inFlight === 0) this.goIdle();
      };
      // ssh2 emits a channel's 'close' only once its data was read to the end: a caller that
      // stops reading (a pipe undone when the browser left) and destroys the stream, or a
      // connection gone under it, must let go as well.
      channel.once('close', release);
      route.streams.add(release);
      const destroy = channel.destroy.bind(channel);
      channel.destroy = () => {
        release();
        return destroy();
      };
      return channel;
    });
  }

  private goIdle(): void {
    if (this.holders === 0) return this.end();
    // An idle connection must not keep a CLI process alive; a worker keeps it for idleMs.
    void this.route?.then((r) => r.clients.forEach((c) => socketOf(c)?.unref()), () => undefined);
    this.idleTimer = setTimeout(() => this.end(), this.idleMs);
    this.idleTimer.unref();
  }

  private end(): void {
    clearTimeout(this.idleTimer);
    const route = this.route;
    this.route = undefined;
    this.current = undefined;
    void route?.then((r) => this.forget(r), () => undefined);
  }

  private forget(route: Route): void {
    if (route.dead) return;
    route.dead = true;
    for (const release of [...route.streams]) release();
    // Login node first, then the jumps it went through.
    for (const c of [...route.clients].reverse()) c.end();
  }

  private connection(): Promise<Route> {
    if (this.current?.dead) {
      this.route = undefined;
      this.current = undefined;
    }
    if (!this.route) {
      const route: Route = { clients: [], login: undefined as unknown as Ssh2Client, dead: false, streams: new Set() };
      const pending = openRoute(this.target, () => this.forget(route)).then((clients) => {
        route.clients = clients;
        route.login = clients.at(-1)!;
        if (this.route === pending) this.current = route;
        return route;
      });
      this.route = pending;
      pending.catch(() => {
        if (this.route === pending) this.route = undefined;
      });
    }
    return this.route;
  }
}

/** At most `size` tasks at once; the rest wait in order. */
class Slots {
  private used = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly size: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.used >= this.size) await new Promise<void>((r) => this.waiting.push(r));
    else this.used++;
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.used--;
    }
  }
}

function execOn(client: Ssh2Client, command: string, timeoutMs: number, input?: StdinInput): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    client.exec(command, (err: Error | undefined, stream: ClientChannel) => {
      if (err) return reject(err);
      const out: Buffer[] = [];
      const errs: Buffer[] = [];
      let code: number | null = null;
      let readError: Error | undefined;
      const timer = setTimeout(() => {
        stream.destroy();
        reject(Object.assign(new Error(`remote command timed out after ${timeoutMs} ms`), { dropped: true }));
      }, timeoutMs);
      stream.on('data', (d: Buffer) => out.push(d));
      stream.stderr.on('data', (d: Buffer) => errs.push(d));
      stream.on('exit', (c: number | null) => (code = c));
      // A command that exits before reading all its input closes the channel under the writer:
      // its exit status says what happened, not the write that failed.
      stream.on('error', () => undefined);
      stream.on('close', (c?: number | null) => {
        clearTimeout(timer);
        const exit = c ?? code;
        if (readError) return reject(readError); // this side's file, not the connection: not retried
        // No exit status at all means the channel was torn down, not that the command ended.
        if (exit === null || exit === undefined) return reject(Object.assign(new Error('SSH channel closed without an exit status'), { dropped: true }));
        resolve({ code: exit, stdout: Buffer.concat(out), stderr: Buffer.concat(errs).toString('utf8') });
      });
      if (!input) return; // stdin stays open, as it always has for plain commands
      if (Buffer.isBuffer(input)) return void stream.end(input);
      const file = createReadStream(input.file);
      file.once('error', (e) => {
        readError = e;
        stream.destroy();
      });
      file.pipe(stream);
    });
  });
}

function streamOn(client: Ssh2Client, command: string, consume: (stdout: Readable) => Promise<void>, timeoutMs: number): Promise<Omit<ExecResult, 'stdout'>> {
  return new Promise((resolve, reject) => {
    client.exec(command, (err: Error | undefined, stream: ClientChannel) => {
      if (err) return reject(err);
      const errs: Buffer[] = [];
      let code: number | null = null;
      const timer = setTimeout(() => {
        stream.destroy();
        reject(new Error(`remote command timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      // Piped, not iterated: ending the iteration would close the channel before its exit status.
      const consumed = consume(stream.pipe(new PassThrough()));
      stream.stderr.on('data', (d: Buffer) => errs.push(d));
      stream.on('exit', (c: number | null) => (code = c));
      stream.on('close', (c?: number | null) => {
        clearTimeout(timer);
        const exit = c ?? code;
        consumed.then(() => {
          // Not retried as a drop: part of the stream may have been consumed already.
          if (exit === null || exit === undefined) reject(new Error('the SSH channel ended without an exit status while streaming'));
          else resolve({ code: exit, stderr: Buffer.concat(errs).toString('utf8') });
        }, reject);
      });
    });
  });
}

function forwardOn(client: Ssh2Client, host: string, port: number, login: string): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    // Throws 'Not connected' at once on a connection that is gone: a drop, retried by use().
    client.forwardOut('127.0.0.1', 0, host, port, (err: (Error & { reason?: unknown }) | undefined, channel: ClientChannel) => {
      if (!err) {
        // As a TCP socket (net's default): when the far end is done, so is this side. ssh2 keeps
        // a channel half open otherwise, and the channel (with the connection it holds) would
        // only close once the caller ended its side too.
        channel.allowHalfOpen = false;
        return resolve(channel);
      }
      // No numeric reason: the connection closed before the answer (a drop, retried by use()).
      if (typeof err.reason !== 'number') return reject(err);
      const why = err.message.replace(/^\(SSH\) Channel open failure: /, '') || 'no reason given';
      const message =
        err.reason === 1
          ? `${login} refuses to forward connections to ${host}:${port} (${why}); its sshd must allow TCP forwarding there (AllowTcpForwarding, PermitOpen)`
          : `${login} could not connect to ${host}:${port} (${why})`;
      reject(Object.assign(backendUnavailable(message, err), { reason: err.reason }));
    });
  });
}

/** Errors that mean "the connection went away", after which one reconnect and retry is safe. */
function isDropped(err: unknown): boolean {
  if (err instanceof RepriseError) return false;
  const e = err as { dropped?: boolean; code?: string; message?: string };
  if (e.dropped) return true;
  if (['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED'].includes(e.code ?? '')) return true;
  return /not connected|no response|channel open failure|connection lost|closed|socket|keepalive/i.test(e.message ?? '');
}

/** ssh2 keeps its transport in `_sock`: a TCP socket for the first hop, a channel behind a jump. */
const socketOf = (client: Ssh2Client): Socket | undefined => {
  const sock = (client as unknown as { _sock?: Partial<Socket> })._sock;
  return typeof sock?.unref === 'function' ? (sock as Socket) : undefined;
};
