/**
 * The local agent's worker serves the CLI (client/agent-socket.ts): it starts, follows and
 * cancels runs with its own Temporal client, so a CLI pays for neither the SDK nor a TLS
 * handshake. The socket lives in the agent's directory (0700) and is itself 0600.
 */
import { chmod, rm } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { agentSocketPath, encodeError, type SocketAnswer, type SocketRequest } from '../client/agent-socket.js';
import { RunClient } from '../client/runs.js';
import type { RepriseEnv } from '../config/env.js';
import type { Logger } from '../logger.js';

/** Requests are a run's input at most: anything longer is not a CLI's. */
const MAX_REQUEST_BYTES = 1 << 20;

export interface CliSocket {
  close(): Promise<void>;
}

export async function serveCli(env: RepriseEnv, logger: Logger): Promise<CliSocket> {
  const path = agentSocketPath(env);
  const client = await RunClient.connect(env, { start: false });
  const open = new Set<Socket>();

  async function answer(request: SocketRequest, gone: AbortSignal): Promise<unknown> {
    switch (request.op) {
      case 'hello':
        // Ready only when the Temporal server answers: else the CLI takes the path that restarts it.
        return client.temporal
          .withDeadline(Date.now() + 1500, () => client.temporal.healthService.check({}))
          .then(() => true)
          .catch(() => false);
      case 'start':
        await client.start(request.input, request.projectId);
        return undefined;
      case 'result':
        return client.result(request.runId, gone);
      case 'details':
        return client.awaitDetails(request.runId);
      case 'cancel':
        return client.cancel(request.runId);
    }
  }

  const server = createServer((socket) => {
    open.add(socket);
    const gone = new AbortController();
    let text = '';
    let handled = false;
    socket.setEncoding('utf8');
    socket.on('error', () => undefined);
    socket.on('close', () => {
      open.delete(socket);
      gone.abort(); // the CLI left: stop waiting for it
    });
    socket.on('data', (d: string) => {
      if (handled) return;
      text += d;
      if (text.length > MAX_REQUEST_BYTES) return void socket.destroy();
      const end = text.indexOf('\n');
      if (end < 0) return;
      handled = true;
      let request: SocketRequest;
      try {
        request = JSON.parse(text.slice(0, end)) as SocketRequest;
      } catch {
        return void socket.destroy();
      }
      void answer(request, gone.signal).then(
        (value): SocketAnswer => ({ ok: true, value }),
        (err: unknown): SocketAnswer => ({ ok: false, error: encodeError(err) }),
      ).then((reply) => {
        if (!socket.destroyed) socket.end(JSON.stringify(reply) + '\n');
      });
    });
  });

  await rm(path, { force: true }); // a killed worker's socket
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, resolve);
    });
    await chmod(path, 0o600);
  } catch (err) {
    await client.close();
    throw err;
  }
  logger.info({ socket: path }, 'serving the CLI');
  return {
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of open) s.destroy();
      });
      await client.close();
    },
  };
}
