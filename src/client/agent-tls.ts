import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { userInfo } from 'node:os';
import type { TemporalTls } from '../config/temporal-tls.js';
import { backendUnavailable } from '../errors.js';

/**
 * The local agent's own mTLS material (docs/security.md, "The local agent"): a CA made for this
 * REPRISE_HOME at first `agent start`, a server certificate for the agent's listener and a client
 * certificate for this account's CLI, worker and dashboard. Keys are 0600 in a 0700 directory, and
 * the CA key is deleted once both certificates are issued, so nobody can mint another client.
 */
export const AGENT_SERVER_NAME = 'reprise-agent';

export const agentTlsFiles = (agentDir: string) => {
  const dir = join(agentDir, 'tls');
  return {
    dir,
    ca: join(dir, 'ca.crt'),
    serverCert: join(dir, 'server.crt'),
    serverKey: join(dir, 'server.key'),
    clientCert: join(dir, 'client.crt'),
    clientKey: join(dir, 'client.key'),
  };
};

const run = promisify(execFile);
const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '3650'];
const leaf = ['-addext', 'basicConstraints=critical,CA:FALSE', '-addext', 'keyUsage=critical,digitalSignature'];

/** Create the material unless it is complete; ~0.1 s (three openssl calls), once per home. */
export async function ensureAgentTls(agentDir: string): Promise<void> {
  const files = agentTlsFiles(agentDir);
  if ([files.ca, files.serverCert, files.serverKey, files.clientCert, files.clientKey].every(existsSync)) return;
  await mkdir(agentDir, { recursive: true, mode: 0o700 });
  // Issued in a private temporary directory and renamed in whole: a crash never leaves half a set.
  const tmp = await mkdtemp(join(agentDir, 'tls-new-'));
  try {
    const openssl = async (args: string[]) => {
      try {
        await run('openssl', args, { cwd: tmp, timeout: 30_000 });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw backendUnavailable('the agent needs openssl to make its TLS certificates; install openssl (apt-get install openssl)');
        throw backendUnavailable(`openssl could not make the agent's TLS certificates: ${String((err as { stderr?: string }).stderr ?? err).trim().split('\n').pop()}`);
      }
    };
    const who = userInfo().username.replace(/[^\w.-]/g, '_');
    await openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', `/CN=Reprise agent CA (${who})`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    await openssl(['req', '-x509', ...ec, '-keyout', 'server.key', '-out', 'server.crt', '-subj', `/CN=${AGENT_SERVER_NAME}`, '-CA', 'ca.crt', '-CAkey', 'ca.key',
      ...leaf, '-addext', `subjectAltName=DNS:${AGENT_SERVER_NAME}`, '-addext', 'extendedKeyUsage=serverAuth']);
    await openssl(['req', '-x509', ...ec, '-keyout', 'client.key', '-out', 'client.crt', '-subj', `/CN=${who}`, '-CA', 'ca.crt', '-CAkey', 'ca.key',
      ...leaf, '-addext', 'extendedKeyUsage=clientAuth']);
    await rm(join(tmp, 'ca.key'));
    for (const key of ['server.key', 'client.key']) await chmod(join(tmp, key), 0o600);
    await chmod(tmp, 0o700);
    await rm(files.dir, { recursive: true, force: true });
    await rename(tmp, files.dir);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** What this account's clients present to the agent. */
export async function agentClientTls(agentDir: string): Promise<TemporalTls> {
  const files = agentTlsFiles(agentDir);
  const [ca, crt, key] = await Promise.all([readFile(files.ca), readFile(files.clientCert), readFile(files.clientKey)]);
  return { serverRootCACertificate: ca, clientCertPair: { crt, key }, serverNameOverride: AGENT_SERVER_NAME };
}
