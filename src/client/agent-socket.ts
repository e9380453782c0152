/**
 * The local agent serves the CLI over a Unix socket in its directory (mode 0700, the socket
 * 0600: this account only). A CLI that starts and follows a run through it loads no Temporal
 * SDK and opens no TLS connection; the agent's worker (worker/cli-socket.ts) does both once.
 *
 * One request per connection, one JSON line each way. When the socket is missing, refused or
 * the agent's Temporal server does not answer, `AgentSocketClient.connect` gives undefined and
 * the CLI goes through Temporal as before (starting the agent when it must). When the agent goes
 * away while a run is followed, the client carries on through Temporal.
 */
import { connect } from 'node:net';
import { join } from 'node:path';
import type { RunInput, RunResult } from '../activities/types.js';
import { paths, type RepriseEnv } from '../config/env.js';
import { isErrorKind, RepriseError } from '../errors.js';
import type { RunDetails, RunService } from './run-service.js';

export const agentSocketPath = (env: RepriseEnv) => join(paths.agentDir(env.home), 'cli.sock');

export type SocketRequest =
  | { op: 'hello' }
  | { op: 'start'; input: RunInput; projectId: string }
  | { op: 'result'; runId: string }
  | { op: 'details'; runId: string }
  | { op: 'cancel'; runId: string };

/** A failure as it crosses the socket: the user's error keeps its kind (and so its exit code). */
export interface SocketError {
  kind?: string;
  message: string;
  detail?: string;
}

export type SocketAnswer = { ok: true; value?: unknown } | { ok: false; error: SocketError };

export function encodeError(err: unknown): SocketError {
  if (err instanceof RepriseError) return { kind: err.kind, message: err.message, ...(err.detail ? { detail: err.detail } : {}) };
  return { message: err instanceof Error ? err.message : String(err) };
}

function decodeError(e: SocketError): Error {
  if (isErrorKind(e.kind)) return new RepriseError(e.kind, e.message, { detail: e.detail });
  return new Error(e.message);
}

/** The agent closed the connection before answering: it stopped or was killed. */
class AgentGone extends Error {}

/** Longest a request may wait for the socket to accept it and, for `hello`, to answer. */
const HELLO_TIMEOUT_MS = 2000;

function ask<T>(path: string, request: SocketRequest, options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const socket = connect(path);
    let text = '';
    const timer = options.timeoutMs ? setTimeout(() => fail(new AgentGone('the agent did not answer in time')), options.timeoutMs) : undefined;
    const onAbort = () => fail(new DOMException('the wait was given up', 'AbortError'));
    options.signal?.addEventListener('abort', onAbort, { once: true });
    function fail(err: Error) {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      reject(err);
    }
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(JSON.stringify(request) + '\n'));
    socket.on('data', (d: string) => (text += d));
    socket.on('error', (err) => fail(new AgentGone(err.message)));
    socket.on('close', () => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      const line = text.split('\n')[0];
      if (!text.includes('\n') || !line) return reject(new AgentGone('the agent closed the connection without answering'));
      const answer = JSON.parse(line) as SocketAnswer;
      if (answer.ok) resolve(answer.value as T);
      else reject(decodeError(answer.error));
    });
  });
}

export class AgentSocketClient implements RunService {
  /** Set once the agent went away: the rest goes through Temporal (one connection, however many asked). */
  private viaTemporal?: Promise<RunService>;

  private constructor(
    readonly env: RepriseEnv,
    private readonly path: string,
  ) {}

  /** The agent's socket when its worker answers and its Temporal server is up; else undefined. */
  static async connect(env: RepriseEnv): Promise<AgentSocketClient | undefined> {
    if (env.team || process.env.REPRISE_AGENT_SOCKET === 'off') return undefined;
    const path = agentSocketPath(env);
    const ready = await ask<boolean>(path, { op: 'hello' }, { timeoutMs: HELLO_TIMEOUT_MS }).catch(() => false);
    return ready ? new AgentSocketClient(env, path) : undefined;
  }

  async start(input: RunInput, projectId: string): Promise<void> {
    await ask(this.path, { op: 'start', input, projectId });
  }

  result(runId: string, signal?: AbortSignal): Promise<RunResult> {
    return this.orTemporal((t) => t.result(runId, signal), () => ask<RunResult>(this.path, { op: 'result', runId }, { signal }));
  }

  awaitDetails(runId: string): Promise<RunDetails> {
    return this.orTemporal((t) => t.awaitDetails(runId), () => ask<RunDetails>(this.path, { op: 'details', runId }));
  }

  cancel(runId: string): Promise<void> {
    return this.orTemporal((t) => t.cancel(runId), () => ask<void>(this.path, { op: 'cancel', runId }));
  }

  async close(): Promise<void> {
    await (await this.viaTemporal?.catch(() => undefined))?.close();
  }

  /** Through the socket; once the agent is gone, through Temporal (as a CLI without the socket would). */
  private async orTemporal<T>(temporal: (t: RunService) => Promise<T>, socket: () => Promise<T>): Promise<T> {
    if (!this.viaTemporal) {
      try {
        return await socket();
      } catch (err) {
        if (!(err instanceof AgentGone)) throw err;
        this.viaTemporal ??= connectWhenUp(this.env);
      }
    }
    return temporal(await this.viaTemporal);
  }
}

/** The Temporal client, once the server answers: a killed agent is being restarted meanwhile. */
async function connectWhenUp(env: RepriseEnv): Promise<RunService> {
  const { RunClient } = await import('./runs.js');
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      return await RunClient.connect(env, { start: false });
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}
