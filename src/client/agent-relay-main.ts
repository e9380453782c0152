/**
 * The local agent's front door (docs/security.md, "The local agent"). Started by `agent start`
 * inside a private network namespace (`unshare -Urn`), with the listening socket of
 * 127.0.0.1:<port> inherited from the host's namespace as fd 3. It starts the Temporal dev server
 * in the namespace, where no other account can reach its ports, and relays to it only the
 * connections that present a client certificate of this agent's CA (agent-relay.ts). It imports
 * nothing else of Reprise, so it starts in milliseconds.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mtlsRelay } from './agent-relay.js';

export interface RelayOptions {
  /** Bring the namespace's loopback up (a new network namespace starts with it down). */
  ipBin?: string;
  /** util-linux setpriv: the dev server gets SIGTERM if the relay dies, never outlives it unreachable. */
  setprivBin?: string;
  temporal: { bin: string; args: string[] };
  /** Where the dev server listens inside the namespace. */
  innerPort: number;
  tls: { ca: string; cert: string; key: string };
}

const options = JSON.parse(process.argv[2] ?? '{}') as RelayOptions;
if (options.ipBin) execFileSync(options.ipBin, ['link', 'set', 'lo', 'up']);

const [cmd, args] = options.setprivBin
  ? [options.setprivBin, ['--pdeathsig', 'SIGTERM', '--', options.temporal.bin, ...options.temporal.args]]
  : [options.temporal.bin, options.temporal.args];
const temporal = spawn(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'] });
let stopping = false;
temporal.on('exit', (code) => process.exit(stopping ? 0 : (code ?? 1)));

const server = mtlsRelay(options.tls, options.innerPort);
server.listen({ fd: 3 });

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    stopping = true;
    server.close();
    temporal.kill('SIGTERM');
  });
}
