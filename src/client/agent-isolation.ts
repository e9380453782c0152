import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { backendUnavailable } from '../errors.js';
import { agentTlsFiles } from './agent-tls.js';
import type { RelayOptions } from './agent-relay-main.js';

/**
 * Keeping other local accounts off the local agent (docs/security.md, "The local agent"): the
 * dev server runs in a private network namespace and only the relay (agent-relay-main.ts), which
 * demands this account's client certificate, listens where others can connect.
 */
export const ISOLATION_ENV = 'REPRISE_AGENT_ISOLATION';

/** The port the dev server uses inside its namespace (nothing else listens there). */
const INNER_PORT = 7233;
const relayMain = fileURLToPath(new URL('./agent-relay-main.js', import.meta.url));

function findTool(name: string, dirs: string[]): string | undefined {
  return [...(process.env.PATH ?? '').split(delimiter), ...dirs].map((d) => join(d, name)).find((p) => p && existsSync(p));
}

/** The tools isolation needs, or why this machine cannot isolate (one line, with the way out). */
export function isolationTools(): { unshare: string; ip: string; setpriv?: string } {
  const sbin = ['/usr/sbin', '/sbin', '/usr/bin', '/bin'];
  const unshare = findTool('unshare', sbin);
  const setpriv = findTool('setpriv', sbin);
  const ip = findTool('ip', sbin);
  const optOut = `or, on a machine only you use, set ${ISOLATION_ENV}=off`;
  if (!unshare || !ip) {
    throw backendUnavailable(`the agent keeps other local accounts out with a private network namespace, which needs ${!unshare ? 'unshare (util-linux)' : 'ip (iproute2)'}; install it, ${optOut}`);
  }
  try {
    execFileSync(unshare, ['-Urn', 'true'], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 });
  } catch (err) {
    const why = String((err as { stderr?: Buffer }).stderr ?? '').trim().split('\n').pop() || String(err);
    throw backendUnavailable(
      `this machine does not let unprivileged users make namespaces (unshare -Urn: ${why}), so the agent cannot keep other local accounts out; allow them (sysctl kernel.unprivileged_userns_clone=1 and kernel.apparmor_restrict_unprivileged_userns=0), ${optOut}`,
    );
  }
  return { unshare, ip, setpriv };
}

/**
 * Start the relay and, under it, the dev server. The relay inherits the listening socket, so the
 * port is taken here, in this namespace, before anything starts: a busy port is reported at once.
 */
export async function startIsolatedTemporal(opts: { agentDir: string; port: number; temporalBin: string; temporalArgs: string[]; logFile: string }): Promise<number> {
  const tools = isolationTools();
  const files = agentTlsFiles(opts.agentDir);
  const listener = await listen(opts.port);
  const fd = (listener as unknown as { _handle: { fd: number } })._handle.fd;
  const relay: RelayOptions = {
    ipBin: tools.ip,
    setprivBin: tools.setpriv,
    temporal: { bin: opts.temporalBin, args: [...opts.temporalArgs, '--ip', '127.0.0.1', '--port', String(INNER_PORT), '--headless'] },
    innerPort: INNER_PORT,
    tls: { ca: files.ca, cert: files.serverCert, key: files.serverKey },
  };
  const log = openSync(opts.logFile, 'a');
  try {
    const child = spawn(tools.unshare, ['-Urn', '--', process.execPath, relayMain, JSON.stringify(relay)], { detached: true, stdio: ['ignore', log, log, fd] });
    child.unref();
    return child.pid!;
  } finally {
    closeSync(log);
    listener.close(); // the relay holds its own copy
  }
}

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'EADDRINUSE' ? backendUnavailable(`port ${port} is taken; stop what listens there or set REPRISE_TEMPORAL_PORT to a free port`) : err),
    );
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}
