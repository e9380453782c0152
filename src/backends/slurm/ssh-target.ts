import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { homedir, hostname, userInfo } from 'node:os';
import { posix } from 'node:path';
import { expandPath, loadSshConfig, lookupHost, parseProxyJump, SshConfigError, type SshConfig, type SshConfigFiles, type SshHostOptions } from './ssh-config.js';

/**
 * Where and how to log in, settled once from the backend's settings and the user's ssh_config:
 * the login node and the jump hosts before it, each with its own user, keys and known_hosts.
 */
export interface SshEndpoint {
  /** The name as the user gave it (an ssh_config alias, or the host itself). */
  alias: string;
  host: string;
  port: number;
  user: string;
  /** Private keys tried in order (ssh_config ones that exist; one set in the backend always). */
  identityFiles: string[];
  /** Only these keys, also from the agent (ssh_config IdentitiesOnly). */
  identitiesOnly: boolean;
  identityAgent?: string;
  /** Host keys are looked up in all of these; the first is the one messages name. */
  knownHostsFiles: string[];
}

export interface SshTarget extends SshEndpoint {
  /** Jump hosts, first to last: each is reached through the ones before it. */
  jumps: SshEndpoint[];
  keepaliveIntervalMs: number;
  keepaliveCountMax: number;
  readyTimeoutMs: number;
  /** The ssh_config files that were read, for messages. */
  configFiles: string[];
  /** The one config file given instead of the defaults (`ssh -F`), if any. */
  sshConfig?: string;
}

/** The SSH part of a backend's settings; what is set here overrides ssh_config for the login node. */
export interface SshSettings {
  host: string;
  port?: number;
  user?: string;
  identityFile?: string;
  identityAgent?: string;
  knownHostsFile?: string;
  /** An ssh_config file read instead of ~/.ssh/config and /etc/ssh/ssh_config (as `ssh -F`). */
  sshConfig?: string;
}

/** The machine's side of a resolution: files, users, environment. Injected in tests. */
export interface SshEnv extends SshConfigFiles {
  localUser: string;
  localHost: string;
  uid: number;
  exists(path: string): boolean;
  /** OpenSSH's system-wide client config. */
  systemConfig: string;
}

export function processSshEnv(): SshEnv {
  return {
    home: homedir(),
    env: process.env,
    localUser: userInfo().username,
    localHost: hostname(),
    uid: process.getuid?.() ?? 0,
    systemConfig: '/etc/ssh/ssh_config',
    read: (path) => (existsSync(path) ? readFileSync(path, 'utf8') : undefined),
    list: (dir) => (existsSync(dir) ? readdirSync(dir) : []),
    exists: existsSync,
  };
}

/** OpenSSH's default keys, tried when ssh_config names none. */
const DEFAULT_IDENTITIES = ['id_rsa', 'id_ecdsa', 'id_ecdsa_sk', 'id_ed25519', 'id_ed25519_sk', 'id_dsa'];
const DEFAULT_KEEPALIVE_S = 15;
const DEFAULT_CONNECT_TIMEOUT_S = 20;
/** More hops than any real site needs: a longer chain is a ProxyJump loop. */
const MAX_HOPS = 8;

/**
 * The login node and its jump hosts for `settings`, as `ssh` would reach `settings.host`.
 * Throws SshConfigError for a config that cannot be followed (bad values, ProxyCommand, loops).
 */
export function resolveSshTarget(settings: SshSettings, env: SshEnv = processSshEnv()): SshTarget {
  const configs = readConfigs(settings.sshConfig, env);
  const options = lookupHost(configs, settings.host);
  const login = endpoint(settings.host, options, env, { user: settings.user, port: settings.port });
  if (settings.identityFile) login.identityFiles = [expandPath(settings.identityFile, env, 'identityFile')];
  if (settings.identityAgent) login.identityAgent = expandPath(settings.identityAgent, env, 'identityAgent');
  if (settings.knownHostsFile) login.knownHostsFiles = [expandPath(settings.knownHostsFile, env, 'knownHostsFile')];
  return {
    ...login,
    jumps: jumpsTo(settings.host, options, configs, env, [settings.host]),
    keepaliveIntervalMs: (options.serverAliveInterval || DEFAULT_KEEPALIVE_S) * 1000,
    keepaliveCountMax: options.serverAliveCountMax ?? 3,
    readyTimeoutMs: (options.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT_S) * 1000,
    configFiles: configs.map((c) => c.path),
    ...(settings.sshConfig ? { sshConfig: configs[0]!.path } : {}),
  };
}

/** `ssh -F FILE` reads FILE alone; plain `ssh` reads ~/.ssh/config, then the system's config. */
function readConfigs(explicit: string | undefined, env: SshEnv): SshConfig[] {
  if (explicit) return [loadSshConfig(expandPath(explicit, env, 'sshConfig'), env)];
  const user = posix.join(env.home, '.ssh', 'config');
  const configs: SshConfig[] = [];
  if (env.exists(user)) configs.push(loadSshConfig(user, env));
  if (env.exists(env.systemConfig)) configs.push(loadSshConfig(env.systemConfig, env, posix.dirname(env.systemConfig)));
  return configs;
}

/**
 * The hops before `alias`, as OpenSSH chains `ProxyJump j1,j2,…`: j1 is reached as configured
 * (its own ProxyJump included), each later hop through the one before it.
 */
function jumpsTo(alias: string, options: SshHostOptions, configs: SshConfig[], env: SshEnv, chain: string[]): SshEndpoint[] {
  if (options.proxyCommand) {
    throw new SshConfigError(`${options.where.proxycommand}: ProxyCommand is not supported for ${alias}; reach it with ProxyJump instead`);
  }
  if (!options.proxyJump) return [];
  const specs = parseProxyJump(options.proxyJump, options.where.proxyjump!);
  const hops: SshEndpoint[] = [];
  specs.forEach((spec, i) => {
    if (chain.length + hops.length >= MAX_HOPS) {
      throw new SshConfigError(`${options.where.proxyjump}: the ProxyJump chain to ${chain[0]} goes past ${MAX_HOPS} hops (${[...chain].reverse().join(' <- ')}): is it a loop?`);
    }
    const hopOptions = lookupHost(configs, spec.host);
    if (i === 0) hops.push(...jumpsTo(spec.host, hopOptions, configs, env, [...chain, spec.host]));
    hops.push(endpoint(spec.host, hopOptions, env, spec));
  });
  return hops;
}

function endpoint(alias: string, options: SshHostOptions, env: SshEnv, given: { user?: string; port?: number }): SshEndpoint {
  const host = options.hostName ? expandTokens(options.hostName, { h: alias }, env, options.where.hostname!) : alias;
  const port = given.port ?? options.port ?? 22;
  const user = given.user ?? options.user ?? env.localUser;
  const tokens = { h: host, n: alias, p: String(port), r: user };
  const path = (value: string, keyword: string) => expandPath(expandTokens(value, tokens, env, options.where[keyword]!), env, options.where[keyword]!);
  const configured = options.identityFiles.map((f) => path(f, 'identityfile'));
  // As ssh: keys named in ssh_config that do not exist are skipped; with none named, the defaults.
  const identityFiles = (configured.length ? configured : DEFAULT_IDENTITIES.map((name) => posix.join(env.home, '.ssh', name))).filter((f) => env.exists(f));
  const agent = options.identityAgent;
  const identityAgent = agent === undefined || agent === 'SSH_AUTH_SOCK' ? env.env.SSH_AUTH_SOCK : agent.toLowerCase() === 'none' ? undefined : path(agent, 'identityagent');
  const userKnown = (options.userKnownHostsFiles ?? ['~/.ssh/known_hosts', '~/.ssh/known_hosts2']).map((f) => path(f, 'userknownhostsfile'));
  const globalKnown = (options.globalKnownHostsFiles ?? ['/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2']).map((f) => path(f, 'globalknownhostsfile'));
  return { alias, host, port, user, identityFiles, identitiesOnly: options.identitiesOnly ?? false, ...(identityAgent ? { identityAgent } : {}), knownHostsFiles: [...userKnown, ...globalKnown] };
}

/** ssh_config's %-tokens (TOKENS in ssh_config(5)); one the context lacks is refused. */
function expandTokens(value: string, context: Partial<Record<'h' | 'n' | 'p' | 'r', string>>, env: SshEnv, where: string): string {
  const { h, p, r } = context;
  const known: Record<string, string | undefined> = {
    '%': '%',
    d: env.home,
    u: env.localUser,
    i: String(env.uid),
    l: env.localHost,
    L: env.localHost.split('.')[0],
    ...context,
    k: h,
    C: h && p && r ? createHash('sha1').update(`${env.localHost}${h}${p}${r}`).digest('hex') : undefined,
  };
  return value.replace(/%(.?)/g, (_, t: string) => {
    const v = known[t];
    if (v === undefined) throw new SshConfigError(`${where}: token %${t} is not supported here`);
    return v;
  });
}

/** user@host:port, and the jumps before it: for check() output and messages. */
export function describeTarget(t: SshTarget): string {
  const one = (e: SshEndpoint) => `${e.user}@${e.host}:${e.port}`;
  return t.jumps.length ? `${one(t)} via ${t.jumps.map(one).join(', ')}` : one(t);
}
