import { readFileSync } from 'node:fs';
import { expandHome } from '../../config/env.js';
import type { Socket } from 'node:net';
import ssh2, { type ClientChannel, type ConnectConfig, type FileEntryWithStats, type SFTPWrapper } from 'ssh2';
import { backendUnavailable, errorMessage, RepriseError } from '../../errors.js';
import { hostLookupName, parseKnownHosts, verifyHostKey, type HostKeyVerdict } from './known-hosts.js';
import { shellCommand } from './shell-quote.js';

const { Client } = ssh2;
type Ssh2Client = InstanceType<typeof Client>;

export interface SshTarget {
  host: string;
  port: number;
  user: string;
  /** A private key file; one with a passphrase is left to the agent. */
  identityFile?: string;
  /** The ssh-agent socket, when there is one. */
  identityAgent?: string;
  knownHostsFile: string;
}

export interface ExecResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

interface Connection {
  client: Ssh2Client;
  sftp?: Promise<SFTPWrapper>;
  /** Set when the connection ended or failed: the next call opens a new one. */
  dead?: boolean;
}


const EXEC_TIMEOUT_MS = 5 * 60_000;

/**
 * One SSH connection per instance, opened on first use, reopened after a drop, closed after a
 * quiet minute. The host key must be in known_hosts: nothing is ever trusted blindly.
 * Every command is an argv, quoted for the remote POSIX shell.
 */
export class SshClient {
  private conn?: Promise<Connection>;
  private current?: Connection;
  private inFlight = 0;
  private idleTimer?: NodeJS.Timeout;

  constructor(
    readonly target: SshTarget,
    private readonly idleMs = 60_000,
  ) {}

  get description(): string {
    return `${this.target.user}@${this.target.host}:${this.target.port}`;
  }

  /** Runs argv on the remote host; a non-zero exit is a result, not an error. */
  async exec(argv: readonly string[], timeoutMs = EXEC_TIMEOUT_MS): Promise<ExecResult> {
    const command = shellCommand(argv);
    return this.use(({ client }) => execOn(client, command, timeoutMs));
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

  async writeFile(remotePath: string, data: string, mode = 0o644): Promise<void> {
    await this.useSftp((sftp) => new Promise<void>((res, rej) => sftp.writeFile(remotePath, data, { mode }, (err) => (err ? rej(err) : res()))));
  }

  /** Directory entries with lstat attributes (symlinks are reported as links, never followed). */
  async readdir(remotePath: string): Promise<FileEntryWithStats[]> {
    return this.useSftp((sftp) => new Promise((res, rej) => sftp.readdir(remotePath, (err, list) => (err ? rej(err) : res(list)))));
  }

  /** Ends the connection now (later calls reconnect). */
  close(): void {
    clearTimeout(this.idleTimer);
    const conn = this.conn;
    this.conn = undefined;
    this.current = undefined;
    void conn?.then((c) => this.forget(c), () => undefined);
  }

  /** The live ssh2 client, for tests that simulate a dropped connection. */
  async rawClient(): Promise<Ssh2Client> {
    return (await this.connection()).client;
  }

  private async useSftp<T>(fn: (sftp: SFTPWrapper) => Promise<T>): Promise<T> {
    return this.use(async (c) => {
      c.sftp ??= new Promise<SFTPWrapper>((res, rej) => c.client.sftp((err, sftp) => (err ? rej(err) : res(sftp))));
      c.sftp.catch(() => (c.sftp = undefined));
      return fn(await c.sftp);
    });
  }

  /** Runs fn on the connection; when the connection dropped under it, reconnects and runs it once more. */
  private async use<T>(fn: (c: Connection) => Promise<T>): Promise<T> {
    this.inFlight++;
    clearTimeout(this.idleTimer);
    try {
      for (let attempt = 0; ; attempt++) {
        const conn = await this.connection();
        socketOf(conn.client)?.ref();
        try {
          return await fn(conn);
        } catch (err) {
          if (attempt > 0 || !isDropped(err)) throw err;
          this.forget(conn);
        }
      }
    } finally {
      if (--this.inFlight === 0) this.goIdle();
    }
  }

  private goIdle(): void {
    const conn = this.conn;
    // An idle connection must not keep a CLI process alive; a worker keeps it for a minute.
    void conn?.then((c) => socketOf(c.client)?.unref(), () => undefined);
    this.idleTimer = setTimeout(() => this.close(), this.idleMs);
    this.idleTimer.unref();
  }

  private forget(conn: Connection): void {
    conn.dead = true;
    conn.client.end();
  }

  private connection(): Promise<Connection> {
    if (this.current?.dead) {
      this.conn = undefined;
      this.current = undefined;
    }
    if (!this.conn) {
      const pending = this.connect();
      this.conn = pending;
      pending.catch(() => {
        if (this.conn === pending) this.conn = undefined;
      });
    }
    return this.conn;
  }

  private connect(): Promise<Connection> {
    const t = this.target;
    const knownHostsFile = expandHome(t.knownHostsFile);
    let entries;
    try {
      entries = parseKnownHosts(readFileSync(knownHostsFile, 'utf8'));
    } catch (err) {
      throw backendUnavailable(`cannot read knownHostsFile ${knownHostsFile} (${errorMessage(err)}); create it with the cluster's verified host key (ssh-keyscan -p ${t.port} ${t.host})`, err);
    }
    const { privateKey, agent, credentials } = this.credentials();
    let verdict: HostKeyVerdict | undefined;
    const config: ConnectConfig = {
      host: t.host,
      port: t.port,
      username: t.user,
      privateKey,
      agent,
      readyTimeout: 20_000,
      // ssh2 hands the raw host key (no hostHash): compare it with known_hosts ourselves.
      hostVerifier: (key: Buffer) => (verdict = verifyHostKey(entries, t.host, t.port, key)) === 'trusted',
    };
    return new Promise<Connection>((resolve, reject) => {
      const client = new Client();
      const conn: Connection = { client };
      client.once('ready', () => {
        client.removeAllListeners('error');
        // A later failure (reset, timeout) only ends this connection: the next call reconnects.
        client.on('error', () => this.forget(conn));
        client.once('close', () => this.forget(conn));
        this.current = conn;
        resolve(conn);
      });
      // `on`, not `once`: a second error during a failed handshake must not go unhandled.
      client.on('error', (err) => {
        client.end();
        reject(this.connectError(err, verdict, knownHostsFile, credentials));
      });
      client.connect(config);
    });
  }

  /**
   * What to log in with, as OpenSSH would: the identity file, and the agent when there is one.
   * A key with a passphrase is never asked for here: it must be loaded into the agent.
   */
  private credentials(): { privateKey?: Buffer; agent?: string; credentials: string } {
    const t = this.target;
    const agent = t.identityAgent ? expandHome(t.identityAgent) : undefined;
    let privateKey: Buffer | undefined;
    const identityFile = t.identityFile ? expandHome(t.identityFile) : undefined;
    if (identityFile) {
      try {
        privateKey = readFileSync(identityFile);
      } catch (err) {
        throw backendUnavailable(`cannot read identityFile ${identityFile} (${errorMessage(err)}); set identityFile to your SSH private key for ${t.host}`, err);
      }
      const parsed = ssh2.utils.parseKey(privateKey);
      if (parsed instanceof Error && /passphrase/i.test(parsed.message)) {
        if (!agent) {
          throw backendUnavailable(
            `identityFile ${identityFile} has a passphrase; load it into ssh-agent (ssh-add ${identityFile}) and give the agent to Reprise (SSH_AUTH_SOCK where the worker starts, or identityAgent in the backend)`,
          );
        }
        privateKey = undefined; // the agent holds it (or the login fails and says so)
      } else if (parsed instanceof Error) {
        throw backendUnavailable(`identityFile ${identityFile} is not a usable SSH private key (${parsed.message}); set identityFile to your private key for ${t.host}`);
      }
    }
    if (!privateKey && !agent) {
      throw backendUnavailable(`no SSH credentials for ${t.user}@${t.host}: set identityFile in the backend, or run ssh-agent with your key loaded (SSH_AUTH_SOCK)`);
    }
    const credentials = [identityFile, agent && `the ssh-agent at ${agent}`].filter(Boolean).join(' or ');
    return { privateKey, agent, credentials };
  }

  private connectError(err: Error & { level?: string; code?: string }, verdict: HostKeyVerdict | undefined, knownHostsFile: string, credentials: string): RepriseError {
    const t = this.target;
    const name = hostLookupName(t.host, t.port);
    if (verdict === 'unknown-host') {
      return backendUnavailable(`host ${name} is not in knownHostsFile ${knownHostsFile}; add its verified key (e.g. ssh-keyscan -p ${t.port} ${t.host} >> ${knownHostsFile}, after checking the fingerprint)`, err);
    }
    if (verdict === 'mismatch' || verdict === 'revoked') {
      return backendUnavailable(
        `host key of ${name} does not match knownHostsFile ${knownHostsFile} (${verdict === 'revoked' ? 'the key is revoked' : 'possible man-in-the-middle, or the host was reinstalled'}); if the change is expected, replace the entry: ssh-keygen -R '${name}' -f ${knownHostsFile}`,
        err,
      );
    }
    if (err.level === 'client-authentication') {
      return backendUnavailable(`SSH login as ${t.user}@${t.host}:${t.port} with ${credentials} was refused; add your public key to ~/.ssh/authorized_keys on the cluster (and ssh-add it when you use the agent)`, err);
    }
    return backendUnavailable(`cannot reach ${t.user}@${t.host}:${t.port} over SSH (${err.code ?? errorMessage(err)}); check host, port and network`, err);
  }
}

function execOn(client: Ssh2Client, command: string, timeoutMs: number): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    client.exec(command, (err: Error | undefined, stream: ClientChannel) => {
      if (err) return reject(err);
      const out: Buffer[] = [];
      const errs: Buffer[] = [];
      let code: number | null = null;
      const timer = setTimeout(() => {
        stream.destroy();
        reject(Object.assign(new Error(`remote command timed out after ${timeoutMs} ms`), { dropped: true }));
      }, timeoutMs);
      stream.on('data', (d: Buffer) => out.push(d));
      stream.stderr.on('data', (d: Buffer) => errs.push(d));
      stream.on('exit', (c: number | null) => (code = c));
      stream.on('close', (c?: number | null) => {
        clearTimeout(timer);
        const exit = c ?? code;
        // No exit status at all means the channel was torn down, not that the command ended.
        if (exit === null || exit === undefined) return reject(Object.assign(new Error('SSH channel closed without an exit status'), { dropped: true }));
        resolve({ code: exit, stdout: Buffer.concat(out), stderr: Buffer.concat(errs).toString('utf8') });
      });
    });
  });
}

/** Errors that mean "the connection went away", after which one reconnect and retry is safe. */
function isDropped(err: unknown): boolean {
  if (err instanceof RepriseError) return false;
  const e = err as { dropped?: boolean; code?: string; message?: string };
  if (e.dropped) return true;
  if (['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED'].includes(e.code ?? '')) return true;
  return /not connected|no response|channel open failure|connection lost|closed|socket/i.test(e.message ?? '');
}

/** ssh2 keeps its TCP socket in `_sock`; (un)ref'ing it lets an idle client not hold the process. */
const socketOf = (client: Ssh2Client): Socket | undefined => (client as unknown as { _sock?: Socket })._sock;
