// Real receivers for notifications: an HTTP server that records every POST (and answers as the
// test says), and a real SMTP server (aiosmtpd, test/helpers/smtp_server.py) saving each message.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Received {
  at: number;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** The status answered (undefined: never answered). */
  status?: number;
}

/** What the receiver does with the n-th request (0-based): answer a status, or never answer. */
export type Behaviour = (n: number, request: Received) => number | 'hang';

export class WebhookReceiver {
  private constructor(
    private readonly server: Server,
    readonly url: string,
    readonly requests: Received[],
    private readonly hanging: ServerResponse[],
  ) {}

  static async start(behaviour: Behaviour = () => 200): Promise<WebhookReceiver> {
    const requests: Received[] = [];
    const hanging: ServerResponse[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d));
      req.on('end', () => {
        const request: Received = { at: Date.now(), path: req.url ?? '', headers: req.headers, body };
        const n = requests.push(request) - 1;
        const answer = behaviour(n, request);
        if (answer === 'hang') return void hanging.push(res);
        request.status = answer;
        res.writeHead(answer, { 'content-type': 'text/plain' }).end(answer < 300 ? 'ok' : 'try later');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as { port: number };
    return new WebhookReceiver(server, `http://127.0.0.1:${port}/hooks/T000/SECRET-TOKEN`, requests, hanging);
  }

  /** The bodies of the requests answered 2xx, parsed. */
  accepted<T = Record<string, unknown>>(): T[] {
    return this.requests.filter((r) => r.status !== undefined && r.status < 300).map((r) => JSON.parse(r.body) as T);
  }

  async waitFor(count: number, timeoutMs = 60_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (this.requests.length < count && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    if (this.requests.length < count) throw new Error(`the receiver got ${this.requests.length} requests, expected ${count} within ${timeoutMs} ms`);
  }

  async stop(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
}

const smtpScript = fileURLToPath(new URL('./smtp_server.py', import.meta.url));

/** Fails with how to install it when aiosmtpd is missing (scripts/test-all.sh installs it). */
export function requireAiosmtpd(): void {
  const r = spawnSync('python3', ['-c', 'import aiosmtpd'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error('the SMTP tests need aiosmtpd: python3 -m pip install --user aiosmtpd==1.4.6 (scripts/test-all.sh installs it)');
}

export class SmtpServer {
  private constructor(private readonly child: ChildProcess, readonly port: number, readonly dir: string) {}

  static async start(): Promise<SmtpServer> {
    requireAiosmtpd();
    const dir = mkdtempSync(join(tmpdir(), 'reprise-smtp-'));
    const child = spawn('python3', [smtpScript, dir], { stdio: ['pipe', 'pipe', 'inherit'] });
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d;
        const m = /ready (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child.on('exit', (code) => reject(new Error(`the SMTP server exited ${code} before it was ready`)));
    });
    return new SmtpServer(child, port, dir);
  }

  /** The raw messages received so far, in order. */
  messages(): string[] {
    return readdirSync(this.dir).filter((f) => f.endsWith('.eml')).sort().map((f) => readFileSync(join(this.dir, f), 'utf8'));
  }

  async waitFor(count: number, timeoutMs = 60_000): Promise<string[]> {
    const end = Date.now() + timeoutMs;
    while (this.messages().length < count && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    const got = this.messages();
    if (got.length < count) throw new Error(`the SMTP server got ${got.length} messages, expected ${count} within ${timeoutMs} ms`);
    return got;
  }

  async stop(): Promise<void> {
    this.child.stdin!.end();
    await new Promise((r) => (this.child.exitCode !== null ? r(undefined) : this.child.on('exit', r)));
  }
}
