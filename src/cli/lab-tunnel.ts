import { createServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { badInput } from '../errors.js';

export interface Tunnel {
  port: number;
  /** Connections opened through the backend so far, and those that failed. */
  stats: { opened: number; failed: number; lastError?: string };
  close(): Promise<void>;
}

/**
 * A local port whose every connection is a new stream to the job (Backend.connect): through the
 * engine's network, the SSH connection to the login node, or the API server's port-forward. A
 * dropped stream (SSH cut, API server restart) costs the browser one failed request: the next
 * connection opens a new one, over a connection the backend re-establishes.
 */
export async function openTunnel(connect: () => Promise<Duplex>, localPort: number, host = '127.0.0.1'): Promise<Tunnel> {
  const stats: Tunnel['stats'] = { opened: 0, failed: 0 };
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.pause();
    connect().then(
      (remote) => {
        stats.opened++;
        remote.on('error', () => socket.destroy());
        socket.on('close', () => remote.destroy());
        remote.on('close', () => socket.destroy());
        socket.pipe(remote).pipe(socket);
        socket.resume();
      },
      (err: unknown) => {
        stats.failed++;
        stats.lastError = (err as Error).message;
        socket.destroy();
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'EADDRINUSE' ? badInput(`local port ${localPort} is taken; choose another with --port N (or --port 0 for any free one)`) : err),
    );
    server.listen(localPort, host, () => resolve());
  });
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : localPort,
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
