import { randomUUID } from 'node:crypto';
import WebSocket, { type RawData } from 'ws';

/**
 * A minimal real Jupyter client for tests: the REST API (status, contents, kernels) with the
 * token, and code execution over the kernel's websocket with the Jupyter messaging protocol
 * (v5, JSON frames on /api/kernels/<id>/channels, no subprotocol).
 */

export interface ContentsModel {
  name?: string;
  path?: string;
  type: 'notebook' | 'file' | 'directory';
  format?: 'json' | 'text' | 'base64' | null;
  content?: unknown;
  created?: string;
  last_modified?: string;
  mimetype?: string | null;
  writable?: boolean;
}

export interface Output {
  /** The iopub message type: stream, display_data, execute_result, error (update_display_data too). */
  type: string;
  /** stream: its text; execute_result: text/plain; error: "ename: evalue". */
  text?: string;
  /** stream: stdout or stderr. */
  name?: string;
  /** display_data / execute_result: the mime bundle. */
  data?: Record<string, unknown>;
  traceback?: string[];
}

export interface Execution {
  /** The execute_reply status: ok, error or aborted. */
  status: string;
  executionCount?: number;
  outputs: Output[];
}

interface Message {
  channel?: string;
  header: { msg_id: string; msg_type: string; session?: string };
  parent_header: { msg_id?: string };
  content: Record<string, unknown>;
}

export class JupyterError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

export class JupyterClient {
  private readonly base: URL;
  private readonly sockets = new Map<string, Promise<KernelSocket>>();
  readonly session = randomUUID();

  constructor(
    baseUrl: string,
    private readonly token: string,
  ) {
    this.base = new URL(baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`);
  }

  /** GET /api/status: throws unless the server answers 200 to this token. */
  status(): Promise<{ started: string; last_activity: string; connections: number; kernels: number }> {
    return this.request('GET', 'api/status');
  }

  readonly contents = {
    get: (path: string, options: { content?: boolean; type?: ContentsModel['type']; format?: 'text' | 'base64' } = {}): Promise<ContentsModel> => {
      const query = new URLSearchParams();
      if (options.content === false) query.set('content', '0');
      if (options.type) query.set('type', options.type);
      if (options.format) query.set('format', options.format);
      return this.request('GET', `api/contents/${encodePath(path)}${query.size ? `?${query}` : ''}`);
    },
    put: (path: string, model: ContentsModel): Promise<ContentsModel> => this.request('PUT', `api/contents/${encodePath(path)}`, model),
  };

  /** Start a kernel (POST /api/kernels) and return its id. */
  async startKernel(name = 'python3'): Promise<string> {
    const kernel = await this.request<{ id: string }>('POST', 'api/kernels', { name });
    return kernel.id;
  }

  /**
   * Restart a kernel (POST /api/kernels/<id>/restart): same id, fresh state, execution count
   * from 1. The websocket is reopened, as JupyterLab does: the server nudges a new connection
   * until its IOPub hears the restarted kernel, an old one may miss what it publishes first.
   */
  async restartKernel(kernelId: string): Promise<void> {
    await this.closeSocket(kernelId);
    await this.request('POST', `api/kernels/${kernelId}/restart`);
  }

  async shutdownKernel(kernelId: string): Promise<void> {
    await this.closeSocket(kernelId);
    await this.request('DELETE', `api/kernels/${kernelId}`);
  }

  /**
   * Run code in the kernel: an execute_request on shell, then every iopub output for it until
   * the kernel reports idle for that request (and its execute_reply has arrived).
   */
  async execute(kernelId: string, code: string, options: { timeoutMs?: number } = {}): Promise<Execution> {
    let socket = this.sockets.get(kernelId);
    if (!socket) {
      socket = KernelSocket.open(this.websocketUrl(kernelId), this.token);
      this.sockets.set(kernelId, socket);
      socket.catch(() => this.sockets.delete(kernelId));
    }
    return (await socket).execute(this.session, code, options.timeoutMs ?? 120_000);
  }

  /** Close every kernel websocket (kernels keep running). */
  async close(): Promise<void> {
    await Promise.all([...this.sockets.keys()].map((id) => this.closeSocket(id)));
  }

  private async closeSocket(kernelId: string): Promise<void> {
    const socket = this.sockets.get(kernelId);
    this.sockets.delete(kernelId);
    await socket?.then((s) => s.close()).catch(() => undefined);
  }

  private websocketUrl(kernelId: string): string {
    const url = new URL(`api/kernels/${kernelId}/channels`, this.base);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('session_id', this.session);
    url.searchParams.set('token', this.token);
    return url.toString();
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await fetch(new URL(path, this.base), {
      method,
      headers: { Authorization: `token ${this.token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new JupyterError(`${method} /${path}: HTTP ${response.status} ${text.slice(0, 300)}`, response.status);
    return (text ? JSON.parse(text) : undefined) as T;
  }
}

function encodePath(path: string): string {
  return path.replace(/^\/+/, '').split('/').map(encodeURIComponent).join('/');
}

interface Pending {
  outputs: Output[];
  reply?: { status: string; executionCount?: number };
  idle: boolean;
  settle: (err?: Error) => void;
}

class KernelSocket {
  private readonly pending = new Map<string, Pending>();
  private closed?: Error;

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      // Frames with binary buffers (comms, widgets) carry nothing these tests read.
      if (!isBinary) this.receive(rawText(data));
    });
    ws.on('close', (code) => this.fail(new Error(`kernel websocket closed (code ${code})`)));
    ws.on('error', (err) => this.fail(err));
  }

  static open(url: string, token: string): Promise<KernelSocket> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers: { Authorization: `token ${token}` }, handshakeTimeout: 30_000 });
      ws.once('open', () => resolve(new KernelSocket(ws)));
      ws.once('error', reject);
    });
  }

  execute(session: string, code: string, timeoutMs: number): Promise<Execution> {
    if (this.closed) return Promise.reject(this.closed);
    const msgId = randomUUID();
    return new Promise<Execution>((resolve, reject) => {
      const timer = setTimeout(() => entry.settle(new Error(`no idle status for execute_request within ${timeoutMs} ms: ${code.slice(0, 80)}`)), timeoutMs);
      const entry: Pending = {
        outputs: [],
        idle: false,
        settle: (err) => {
          clearTimeout(timer);
          this.pending.delete(msgId);
          if (err) reject(err);
          else resolve({ status: entry.reply?.status ?? 'unknown', executionCount: entry.reply?.executionCount, outputs: entry.outputs });
        },
      };
      this.pending.set(msgId, entry);
      const message = {
        channel: 'shell',
        header: { msg_id: msgId, msg_type: 'execute_request', username: 'reprise-test', session, date: new Date().toISOString(), version: '5.3' },
        parent_header: {},
        metadata: {},
        content: { code, silent: false, store_history: true, user_expressions: {}, allow_stdin: false, stop_on_error: true },
        buffers: [],
      };
      this.ws.send(JSON.stringify(message), (err) => err && entry.settle(err));
    });
  }

  close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      this.ws.once('close', () => resolve());
      this.ws.close();
    });
  }

  private receive(text: string): void {
    let msg: Message;
    try {
      msg = JSON.parse(text) as Message;
    } catch {
      return;
    }
    const entry = msg.parent_header?.msg_id ? this.pending.get(msg.parent_header.msg_id) : undefined;
    if (!entry) return;
    const c = msg.content;
    switch (msg.header.msg_type) {
      case 'stream':
        entry.outputs.push({ type: 'stream', name: c.name as string, text: c.text as string });
        break;
      case 'display_data':
      case 'update_display_data':
        entry.outputs.push({ type: msg.header.msg_type, data: c.data as Record<string, unknown> });
        break;
      case 'execute_result': {
        const data = c.data as Record<string, unknown>;
        entry.outputs.push({ type: 'execute_result', data, text: data['text/plain'] as string | undefined });
        break;
      }
      case 'error':
        entry.outputs.push({ type: 'error', text: `${String(c.ename)}: ${String(c.evalue)}`, traceback: c.traceback as string[] });
        break;
      case 'execute_reply':
        entry.reply = { status: c.status as string, executionCount: c.execution_count as number | undefined };
        break;
      case 'status':
        if (msg.channel === 'iopub' && c.execution_state === 'idle') entry.idle = true;
        break;
      default:
        return;
    }
    if (entry.idle && entry.reply) entry.settle();
  }

  private fail(err: Error): void {
    this.closed ??= err;
    for (const entry of [...this.pending.values()]) entry.settle(err);
  }
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.from(data).toString('utf8');
}
