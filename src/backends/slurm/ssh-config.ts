import { posix } from 'node:path';

/**
 * OpenSSH client configuration (ssh_config(5)), the part that says how a host is reached:
 * `Host` blocks with patterns, `Include`, and the first obtained value of each keyword wins, as
 * in OpenSSH (`IdentityFile` accumulates). `Match` blocks other than `Match all` never apply:
 * their criteria (exec, canonical, …) are not evaluated here.
 */

/** Where config files come from; injected so the parser is tested without a file system. */
export interface SshConfigFiles {
  /** The file's text, or undefined when it does not exist. */
  read(path: string): string | undefined;
  /** Entry names of a directory ([] when it does not exist), for `Include dir/*`. */
  list(dir: string): string[];
  /** The local user's home: `~` in paths. */
  home: string;
  env: Record<string, string | undefined>;
}

/** A config file that cannot be used as it is, with the file and line to fix. */
export class SshConfigError extends Error {
  override readonly name = 'SshConfigError';
}

type Statement =
  | { kind: 'host'; patterns: string[] }
  | { kind: 'match'; all: boolean }
  | { kind: 'option'; keyword: string; args: string[]; where: string }
  | { kind: 'include'; body: Statement[] };

/** One parsed file (with its includes inlined). */
export interface SshConfig {
  path: string;
  statements: Statement[];
}

/** What the config says about one host alias: raw values, tokens not yet expanded. */
export interface SshHostOptions {
  hostName?: string;
  user?: string;
  port?: number;
  identityFiles: string[];
  identitiesOnly?: boolean;
  identityAgent?: string;
  userKnownHostsFiles?: string[];
  globalKnownHostsFiles?: string[];
  /** ProxyJump, unless ProxyCommand came first (OpenSSH takes whichever is obtained first). */
  proxyJump?: string;
  proxyCommand?: string;
  serverAliveInterval?: number;
  serverAliveCountMax?: number;
  connectTimeout?: number;
  /** keyword (lower case) → `file line N`, for messages. */
  where: Record<string, string>;
}

const MAX_INCLUDE_DEPTH = 16;

/**
 * Reads a config file and every file it includes. `includeDir` is where relative `Include`
 * paths point: `~/.ssh` for a user's config, `/etc/ssh` for the system one.
 */
export function loadSshConfig(path: string, files: SshConfigFiles, includeDir = posix.join(files.home, '.ssh')): SshConfig {
  const text = files.read(path);
  if (text === undefined) throw new SshConfigError(`ssh config ${path} does not exist`);
  return { path, statements: parse(text, path, files, includeDir, 0) };
}

function parse(text: string, path: string, files: SshConfigFiles, includeDir: string, depth: number): Statement[] {
  const statements: Statement[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const where = `${path} line ${i + 1}`;
    const words = splitLine(raw, where);
    if (words.length === 0) return;
    const [keyword, args] = [words[0]!.toLowerCase(), words.slice(1)];
    if (keyword === 'host') {
      if (args.length === 0) throw new SshConfigError(`${where}: Host needs at least one pattern`);
      statements.push({ kind: 'host', patterns: args });
    } else if (keyword === 'match') {
      statements.push({ kind: 'match', all: args.length === 1 && args[0]!.toLowerCase() === 'all' });
    } else if (keyword === 'include') {
      if (depth >= MAX_INCLUDE_DEPTH) throw new SshConfigError(`${where}: Include nested more than ${MAX_INCLUDE_DEPTH} deep`);
      const body: Statement[] = [];
      for (const pattern of args) {
        for (const file of includedFiles(pattern, files, includeDir, where)) body.push(...parse(files.read(file) ?? '', file, files, includeDir, depth + 1));
      }
      statements.push({ kind: 'include', body });
    } else if (args.length > 0) {
      statements.push({ kind: 'option', keyword, args, where });
    }
  });
  return statements;
}

/** Words of a line as OpenSSH splits them: `Key value`, `Key=value`, quotes, a `#` word ends the line. */
function splitLine(line: string, where: string): string[] {
  const words: string[] = [];
  let i = 0;
  const s = line.trim();
  // The keyword ends at whitespace or '='; one '=' may separate it from the arguments.
  const key = /^[^\s=]+/.exec(s)?.[0];
  if (!key || key.startsWith('#')) return [];
  words.push(key);
  i = key.length;
  const eq = /^\s*=?\s*/.exec(s.slice(i))![0];
  i += eq.length;
  while (i < s.length) {
    let word = '';
    let quote: string | undefined;
    if (s[i] === '#') break;
    for (; i < s.length; i++) {
      const c = s[i]!;
      if (quote) {
        if (c === quote) quote = undefined;
        else if (c === '\\' && (s[i + 1] === quote || s[i + 1] === '\\')) word += s[++i];
        else word += c;
      } else if (c === '"' || c === "'") {
        quote = c;
      } else if (c === '\\' && i + 1 < s.length) {
        word += s[++i];
      } else if (/\s/.test(c)) {
        break;
      } else {
        word += c;
      }
    }
    if (quote) throw new SshConfigError(`${where}: unterminated quote`);
    words.push(word);
    while (i < s.length && /\s/.test(s[i]!)) i++;
  }
  return words;
}

/** `~` and `${VAR}` in a path, as OpenSSH expands them in IdentityFile, Include and the like. */
export function expandPath(path: string, files: Pick<SshConfigFiles, 'home' | 'env'>, where: string): string {
  const withEnv = path.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
    const value = files.env[name];
    if (value === undefined) throw new SshConfigError(`${where}: environment variable ${name} is not set`);
    return value;
  });
  return withEnv === '~' || withEnv.startsWith('~/') ? files.home + withEnv.slice(1) : withEnv;
}

/** The files an Include names, sorted as glob(3) returns them; wildcards in the last component only. */
function includedFiles(pattern: string, files: SshConfigFiles, includeDir: string, where: string): string[] {
  const expanded = expandPath(pattern, files, where);
  const path = posix.isAbsolute(expanded) ? expanded : posix.join(includeDir, expanded);
  const dir = posix.dirname(path);
  const base = posix.basename(path);
  if (/[*?[]/.test(dir)) throw new SshConfigError(`${where}: Include ${pattern}: wildcards are supported in the file name only`);
  if (!/[*?[]/.test(base)) return files.read(path) === undefined ? [] : [path];
  const re = globRegExp(base);
  return files
    .list(dir)
    .filter((name) => re.test(name) && !name.startsWith('.'))
    .sort()
    .map((name) => posix.join(dir, name));
}

function globRegExp(glob: string): RegExp {
  return new RegExp(`^${glob.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
}

/** ssh_config `Host` pattern matching: `*`, `?`, case-insensitive. */
function matchesPattern(pattern: string, name: string): boolean {
  return new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i').test(name);
}

/** A Host line applies when one pattern matches and no negated (`!`) pattern does. */
export function hostLineMatches(patterns: readonly string[], alias: string): boolean {
  let matched = false;
  for (const p of patterns) {
    if (p.startsWith('!')) {
      if (matchesPattern(p.slice(1), alias)) return false;
    } else if (matchesPattern(p, alias)) {
      matched = true;
    }
  }
  return matched;
}

/**
 * The options for `alias` from configs read in order (the user's, then the system's): each file
 * starts outside any Host block (its options apply to every host), and the first value obtained
 * for a keyword wins.
 */
export function lookupHost(configs: readonly SshConfig[], alias: string): SshHostOptions {
  // The first statement seen for each keyword, with its position in walk order.
  const seen = new Map<string, { args: string[]; where: string; index: number }>();
  const identityFiles: { args: string[]; where: string }[] = [];
  const walk = (statements: Statement[], active: boolean, neverMatch: boolean): void => {
    for (const s of statements) {
      if (s.kind === 'host') active = !neverMatch && hostLineMatches(s.patterns, alias);
      else if (s.kind === 'match') active = !neverMatch && s.all;
      else if (s.kind === 'include') walk(s.body, active, neverMatch || !active);
      else if (active) {
        if (s.keyword === 'identityfile') identityFiles.push(s);
        else if (!seen.has(s.keyword)) seen.set(s.keyword, { ...s, index: seen.size });
      }
    }
  };
  for (const config of configs) walk(config.statements, true, false);

  const options: SshHostOptions = { identityFiles: identityFiles.map((f) => f.args[0]!), where: {} };
  const first = (keyword: string): { value: string; where: string; args: string[] } | undefined => {
    const s = seen.get(keyword);
    if (!s) return undefined;
    options.where[keyword] = s.where;
    return { value: s.args[0]!, where: s.where, args: s.args };
  };
  if (identityFiles[0]) options.where.identityfile = identityFiles[0].where;
  const hostName = first('hostname');
  if (hostName) options.hostName = hostName.value;
  const user = first('user');
  if (user) options.user = user.value;
  const port = first('port');
  if (port) options.port = integer(port, 1, 65535, 'Port');
  const only = first('identitiesonly');
  if (only) options.identitiesOnly = yesNo(only, 'IdentitiesOnly');
  const agent = first('identityagent');
  if (agent) options.identityAgent = agent.value;
  const userKnown = first('userknownhostsfile');
  if (userKnown) options.userKnownHostsFiles = userKnown.value.toLowerCase() === 'none' ? [] : userKnown.args;
  const globalKnown = first('globalknownhostsfile');
  if (globalKnown) options.globalKnownHostsFiles = globalKnown.value.toLowerCase() === 'none' ? [] : globalKnown.args;
  // ProxyJump and ProxyCommand exclude each other: whichever line came first is the one used.
  const jump = seen.get('proxyjump');
  const command = seen.get('proxycommand');
  if (jump && (!command || jump.index < command.index)) {
    const j = first('proxyjump')!;
    if (j.value.toLowerCase() !== 'none') options.proxyJump = j.args.join('');
  } else if (command) {
    const c = first('proxycommand')!;
    if (c.value.toLowerCase() !== 'none') options.proxyCommand = c.args.join(' ');
  }
  const alive = first('serveraliveinterval');
  if (alive) options.serverAliveInterval = integer(alive, 0, 86_400, 'ServerAliveInterval');
  const aliveMax = first('serveralivecountmax');
  if (aliveMax) options.serverAliveCountMax = integer(aliveMax, 1, 1000, 'ServerAliveCountMax');
  const timeout = first('connecttimeout');
  if (timeout) options.connectTimeout = integer(timeout, 1, 86_400, 'ConnectTimeout');
  return options;
}

function integer(o: { value: string; where: string }, min: number, max: number, name: string): number {
  const n = /^\d+$/.test(o.value) ? Number(o.value) : NaN;
  if (!(n >= min && n <= max)) throw new SshConfigError(`${o.where}: ${name} "${o.value}" is not a number from ${min} to ${max}`);
  return n;
}

function yesNo(o: { value: string; where: string }, name: string): boolean {
  const v = o.value.toLowerCase();
  if (v === 'yes' || v === 'true') return true;
  if (v === 'no' || v === 'false') return false;
  throw new SshConfigError(`${o.where}: ${name} must be yes or no, not "${o.value}"`);
}

/** One `[user@]host[:port]` (or `ssh://[user@]host[:port]`) hop of a ProxyJump list. */
export interface JumpSpec {
  user?: string;
  host: string;
  port?: number;
}

export function parseProxyJump(value: string, where: string): JumpSpec[] {
  return value.split(',').map((raw) => {
    const spec = raw.trim().replace(/^ssh:\/\//, '');
    const m = /^(?:([^@\s]+)@)?(\[[^\]\s]+\]|[^:@\s[\]]+)(?::(\d+))?$/.exec(spec);
    if (!m) throw new SshConfigError(`${where}: ProxyJump "${raw.trim()}" is not [user@]host[:port]`);
    const port = m[3] === undefined ? undefined : Number(m[3]);
    if (port !== undefined && !(port >= 1 && port <= 65535)) throw new SshConfigError(`${where}: ProxyJump "${raw.trim()}" has no valid port`);
    return { ...(m[1] ? { user: m[1] } : {}), host: m[2]!.replace(/^\[(.*)\]$/, '$1'), ...(port ? { port } : {}) };
  });
}
