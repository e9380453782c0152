import { readFileSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import ssh2, { type AnyAuthMethod, type ConnectConfig, type IdentityCallback, type ParsedKey } from 'ssh2';
import { backendUnavailable, errorMessage, type RepriseError } from '../../errors.js';
import { hostLookupName, parseKnownHosts, verifyHostKey, type HostKeyVerdict, type KnownHostEntry } from './known-hosts.js';
import type { SshEndpoint, SshTarget } from './ssh-target.js';

const { Client, OpenSSHAgent } = ssh2;
export type Ssh2Client = InstanceType<typeof Client>;

/**
 * Logs in to the login node through its jump hosts, as `ssh -J` does: one SSH connection to the
 * first hop, a `direct-tcpip` channel from each hop to the next, the next login over that channel.
 * Every hop's host key is checked against known_hosts: nothing is ever trusted blindly.
 * Returns the clients, first hop to login node; on failure every one opened is ended. `onLost`
 * is called when any of them fails or closes later (a drop anywhere ends the route).
 */
export async function openRoute(target: SshTarget, onLost: () => void): Promise<Ssh2Client[]> {
  const hops = [...target.jumps, target];
  const clients: Ssh2Client[] = [];
  try {
    for (const [i, hop] of hops.entries()) {
      const previous = hops[i - 1];
      const sock = previous ? await forward(clients[i - 1]!, previous, hop) : undefined;
      clients.push(await login(hop, target, i < hops.length - 1, sock, onLost));
    }
    return clients;
  } catch (err) {
    for (const c of clients) c.end();
    throw err;
  }
}

/** A TCP connection to `to`, opened by the hop `via` (its sshd must allow forwarding there). */
function forward(client: Ssh2Client, via: SshEndpoint, to: SshEndpoint): Promise<Duplex> {
  return new Promise((resolve, reject) =>
    client.forwardOut('127.0.0.1', 0, to.host, to.port, (err, stream) => {
      if (!err) return resolve(stream);
      reject(
        backendUnavailable(
          `jump host ${via.alias} (${via.host}:${via.port}) could not open a connection to ${to.host}:${to.port} for ${to.alias} (${errorMessage(err).replace(/^\(SSH\) /, '')}); check HostName and Port of ${to.alias}, and that the jump host may forward there (AllowTcpForwarding, PermitOpen)`,
          err,
        ),
      );
    }),
  );
}

function login(hop: SshEndpoint, target: SshTarget, isJump: boolean, sock: Duplex | undefined, onLost: () => void): Promise<Ssh2Client> {
  const known = readKnownHosts(hop.knownHostsFiles);
  const { methods, credentials } = authMethods(hop, isJump);
  let verdict: HostKeyVerdict | undefined;
  const config: ConnectConfig = {
    host: hop.host,
    port: hop.port,
    username: hop.user,
    ...(sock ? { sock } : {}),
    authHandler: methods,
    readyTimeout: target.readyTimeoutMs,
    keepaliveInterval: target.keepaliveIntervalMs,
    keepaliveCountMax: target.keepaliveCountMax,
    // ssh2 hands the raw host key (no hostHash): compare it with known_hosts ourselves.
    hostVerifier: (key: Buffer) => (verdict = verifyHostKey(known, hop.host, hop.port, key)) === 'trusted',
  };
  return new Promise((resolve, reject) => {
    const client = new Client();
    client.once('ready', () => {
      client.removeAllListeners('error');
      // A later failure (reset, keepalive timeout) only ends this route: the next call reconnects.
      client.on('error', onLost);
      client.once('close', onLost);
      resolve(client);
    });
    // `on`, not `once`: a second error during a failed handshake must not go unhandled.
    client.on('error', (err) => {
      client.end();
      reject(connectError(err, { hop, target, isJump, verdict, credentials }));
    });
    client.connect(config);
  });
}

/** Entries of every known_hosts file that exists; one that exists but cannot be read is an error. */
function readKnownHosts(files: readonly string[]): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw backendUnavailable(`cannot read known_hosts ${file} (${errorMessage(err)})`, err);
    }
    entries.push(...parseKnownHosts(text));
  }
  return entries;
}

/**
 * How to log in, as OpenSSH would: each identity file, then the agent (with IdentitiesOnly,
 * only the agent's keys that match those files). A key with a passphrase is never asked for:
 * it must be loaded into the agent.
 */
function authMethods(hop: SshEndpoint, isJump: boolean): { methods: AnyAuthMethod[]; credentials: string } {
  const username = hop.user;
  const methods: AnyAuthMethod[] = [];
  const publicKeys: ParsedKey[] = [];
  const encrypted: string[] = [];
  for (const file of hop.identityFiles) {
    let text: Buffer;
    try {
      text = readFileSync(file);
    } catch (err) {
      throw backendUnavailable(`cannot read identityFile ${file} (${errorMessage(err)}); set identityFile to your SSH private key for ${hop.host}`, err);
    }
    const parsed = ssh2.utils.parseKey(text);
    if (parsed instanceof Error && /passphrase/i.test(parsed.message)) {
      encrypted.push(file);
      const pub = publicKeyFile(`${file}.pub`);
      if (pub) publicKeys.push(pub);
    } else if (parsed instanceof Error) {
      throw backendUnavailable(`identityFile ${file} is not a usable SSH private key (${parsed.message}); set identityFile to your private key for ${hop.host}`);
    } else {
      methods.push({ type: 'publickey', username, key: parsed });
      publicKeys.push(parsed);
    }
  }
  if (hop.identityAgent) {
    const agent = hop.identitiesOnly ? new MatchingKeysAgent(hop.identityAgent, publicKeys) : hop.identityAgent;
    methods.push({ type: 'agent', username, agent });
  } else if (encrypted.length && !methods.length) {
    const file = encrypted[0]!;
    throw backendUnavailable(
      `identityFile ${file} has a passphrase; load it into ssh-agent (ssh-add ${file}) and give the agent to Reprise (SSH_AUTH_SOCK where the worker starts, or identityAgent in the backend)`,
    );
  }
  if (!methods.length) {
    const where = isJump ? `IdentityFile for ${hop.alias} in your ssh config` : 'identityFile in the backend (or IdentityFile in your ssh config)';
    throw backendUnavailable(`no SSH credentials for ${hop.user}@${hop.host}: set ${where}, or run ssh-agent with your key loaded (SSH_AUTH_SOCK)`);
  }
  const credentials = [...hop.identityFiles, hop.identityAgent && `the ssh-agent at ${hop.identityAgent}`].filter(Boolean).join(' or ');
  return { methods, credentials };
}

function publicKeyFile(path: string): ParsedKey | undefined {
  try {
    const parsed = ssh2.utils.parseKey(readFileSync(path));
    return parsed instanceof Error ? undefined : parsed;
  } catch {
    return undefined;
  }
}

/** The agent, offering only the keys named by IdentityFile (ssh_config IdentitiesOnly). */
class MatchingKeysAgent extends OpenSSHAgent {
  private readonly allowed: Set<string>;
  constructor(socket: string, keys: ParsedKey[]) {
    super(socket);
    this.allowed = new Set(keys.map((k) => k.getPublicSSH().toString('base64')));
  }
  override getIdentities(cb: IdentityCallback<ParsedKey>): void {
    super.getIdentities((err, keys) => cb(err, keys?.filter((k) => 'getPublicSSH' in k && this.allowed.has(k.getPublicSSH().toString('base64')))));
  }
}

interface Attempt {
  hop: SshEndpoint;
  target: SshTarget;
  isJump: boolean;
  verdict: HostKeyVerdict | undefined;
  credentials: string;
}

function connectError(err: Error & { level?: string; code?: string }, a: Attempt): RepriseError {
  const { hop, target } = a;
  const name = hostLookupName(hop.host, hop.port);
  const what = a.isJump ? `jump host ${name} (${hop.alias})` : `host ${name}`;
  const file = hop.knownHostsFiles[0] ?? '~/.ssh/known_hosts';
  const behindJump = hop !== (target.jumps[0] ?? target);
  if (a.verdict === 'unknown-host') {
    // Behind a jump ssh-keyscan cannot reach the host from here: ssh itself shows the key to check.
    const how = behindJump ? `${sshCommand(target, hop)} once and check the fingerprint it shows` : `ssh-keyscan -p ${hop.port} ${hop.host} >> ${file}, after checking the fingerprint`;
    return backendUnavailable(`${what} is not in known_hosts ${file}; add its verified key (e.g. ${how})`, err);
  }
  if (a.verdict === 'mismatch' || a.verdict === 'revoked') {
    return backendUnavailable(
      `host key of ${what} does not match known_hosts ${file} (${a.verdict === 'revoked' ? 'the key is revoked' : 'possible man-in-the-middle, or the host was reinstalled'}); if the change is expected, replace the entry: ssh-keygen -R '${name}' -f ${file}`,
      err,
    );
  }
  if (err.level === 'client-authentication') {
    return backendUnavailable(`SSH login as ${hop.user}@${hop.host}:${hop.port}${a.isJump ? ` (jump host ${hop.alias})` : ''} with ${a.credentials} was refused; add your public key to ~/.ssh/authorized_keys there (and ssh-add it when you use the agent)`, err);
  }
  if ((err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') && hop.host === hop.alias) {
    const configs = target.configFiles.length ? `ssh config ${target.configFiles.join(', ')}` : 'any ssh config (none found)';
    return backendUnavailable(`cannot reach ${hop.alias}: it is no Host alias with a HostName in ${configs}, and no such host name resolves (${err.code}); add a Host ${hop.alias} block with HostName, or use the login node's address`, err);
  }
  return backendUnavailable(`cannot reach ${hop.user}@${hop.host}:${hop.port}${a.isJump ? ` (jump host ${hop.alias})` : ''} over SSH (${err.code ?? errorMessage(err)}); check host, port and network`, err);
}

/** The ssh command that reaches `hop` the way Reprise does, for the user to run by hand. */
function sshCommand(target: SshTarget, hop: SshEndpoint): string {
  return `ssh ${target.sshConfig ? `-F ${target.sshConfig} ` : ''}${hop.alias}`;
}
