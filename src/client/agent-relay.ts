import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { createServer, type Server } from 'node:tls';

/**
 * A TLS listener that admits only clients with a certificate of `ca` and relays each connection,
 * bytes as they are, to a plain gRPC server on 127.0.0.1:`upstreamPort`.
 */
export function mtlsRelay(files: { ca: string; cert: string; key: string }, upstreamPort: number): Server {
  const server = createServer(
    {
      ca: readFileSync(files.ca),
      cert: readFileSync(files.cert),
      key: readFileSync(files.key),
      requestCert: true,
      rejectUnauthorized: true,
      ALPNProtocols: ['h2'], // gRPC clients (Go's, Rust's) insist on it
    },
    (client) => {
      const upstream = connect(upstreamPort, '127.0.0.1');
      const close = () => {
        client.destroy();
        upstream.destroy();
      };
      client.pipe(upstream).pipe(client);
      for (const s of [client, upstream]) s.on('error', close).on('close', close);
    },
  );
  // A connection without an admitted client certificate ends in the handshake; nothing to keep.
  server.on('tlsClientError', () => undefined);
  return server;
}
