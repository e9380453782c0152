import { describe, expect, it } from 'vitest';
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { openTunnel } from '../../../src/cli/lab-tunnel.js';

async function echoServer(): Promise<{ server: Server; port: number }> {
  const server = createServer((s) => s.pipe(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, port: (server.address() as { port: number }).port };
}

function roundTrip(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s: Socket = connect(port, '127.0.0.1', () => s.write(text));
    let got = '';
    s.on('data', (d) => {
      got += d;
      if (got.length >= text.length) s.end();
    });
    s.on('close', () => resolve(got));
    s.on('error', reject);
  });
}

describe('openTunnel', () => {
  it('opens a new backend stream for every connection, and a failed one does not stop the next', async () => {
    const echo = await echoServer();
    let calls = 0;
    const tunnel = await openTunnel(async () => {
      calls++;
      if (calls === 2) throw new Error('transport dropped');
      return new Promise<Duplex>((resolve) => {
        const s = connect(echo.port, '127.0.0.1', () => resolve(s));
      });
    }, 0);
    try {
      expect(await roundTrip(tunnel.port, 'hello')).toBe('hello');
      expect(await roundTrip(tunnel.port, 'lost')).toBe(''); // closed: the browser retries
      expect(await roundTrip(tunnel.port, 'again')).toBe('again');
      expect(tunnel.stats).toMatchObject({ opened: 2, failed: 1, lastError: 'transport dropped' });
    } finally {
      await tunnel.close();
      echo.server.close();
    }
  });

  it('refuses a local port that is taken, in one line that says what to do', async () => {
    const taken = await echoServer();
    try {
      await expect(openTunnel(() => Promise.reject(new Error('unused')), taken.port)).rejects.toThrow(
        `local port ${taken.port} is taken; choose another with --port N (or --port 0 for any free one)`,
      );
    } finally {
      taken.server.close();
    }
  });
});
