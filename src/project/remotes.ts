import { existsSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { shellQuote } from '../shell-quote.js';
import { readEnv } from '../config/env.js';
import { backendUnavailable, badInput, type RepriseError } from '../errors.js';
import { redactSecrets, urlCredentials, type UrlCredentials } from '../redact.js';
import { Git, gitReason } from './git.js';
import { PROJECT_FILE } from './layout.js';
import { intoNewDirectory } from './new-directory.js';

export interface Remote {
  name: string;
  url: string;
}

/** The project's remotes; a URL git was given with a password (by hand) is shown without it. */
export async function listRemotes(root: string): Promise<Remote[]> {
  const out = (await new Git(root).tryRun(['config', '--get-regexp', '^remote\\..*\\.url$'])) ?? '';
  return out
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [key, ...url] = line.split(' ');
      return { name: key!.replace(/^remote\./, '').replace(/\.url$/, ''), url: redactSecrets(url.join(' ')) };
    });
}

/** The URL of remote `name`; an unknown name is bad input that lists the known ones. */
export async function remoteUrl(root: string, name: string): Promise<string> {
  const remotes = await listRemotes(root);
  const found = remotes.find((r) => r.name === name);
  if (!found) throw badInput(`no remote "${name}"; remotes: ${remotes.map((r) => r.name).join(', ') || 'none'} (add one with: reprise remote add NAME URL)`);
  return found.url;
}

/**
 * Add a remote. A password in its URL is kept apart (see keepCredentials): the project's git
 * config holds the URL without it, so no git command line, listing or message ever shows it.
 */
export async function addRemote(root: string, name: string, url: string, home = readEnv().home): Promise<Remote> {
  if ((await listRemotes(root)).some((r) => r.name === name)) throw badInput(`remote "${name}" exists already; remove it first: reprise remote remove ${name}`);
  const git = new Git(root);
  if ((await git.tryRun(['check-ref-format', `refs/remotes/${name}/x`])) === undefined || name.startsWith('-')) {
    throw badInput(`invalid remote name "${name}"; use letters, digits, - and _`);
  }
  const credentials = urlCredentials(url);
  if (credentials) {
    await keepCredentials(home, git, credentials);
    await git.run(['config', '--add', 'credential.helper', credentialHelper(home)]);
  }
  await git.run(['remote', 'add', '--', name, credentials?.url ?? url]);
  return { name, url: credentials?.url ?? url };
}

/**
 * A remote git was given with a password by hand (`git remote add origin https://u:p@…`): git
 * passes its URL to its HTTP helper's argv on every fetch and push, visible in `ps`. Move the
 * password where addRemote keeps it, leaving the URL without it. Returns whether it moved one.
 */
export async function secureRemoteCredentials(root: string, name: string, home = readEnv().home): Promise<boolean> {
  const git = new Git(root);
  const url = (await git.tryRun(['config', '--get', `remote.${name}.url`]))?.trim();
  const credentials = url ? urlCredentials(url) : undefined;
  if (!credentials) return false;
  await keepCredentials(home, git, credentials);
  if (!((await git.tryRun(['config', '--get-all', 'credential.helper'])) ?? '').split('\n').includes(credentialHelper(home))) {
    await git.run(['config', '--add', 'credential.helper', credentialHelper(home)]);
  }
  await git.run(['config', `remote.${name}.url`, credentials.url]);
  return true;
}

/** Where the passwords of remote URLs are kept: git's credential-store format, 0600, in the user's REPRISE_HOME (never in a project). */
export const gitCredentialsFile = (home: string) => join(home, 'git-credentials');

/** The git credential helper that reads them: set in a project's own git config, so plain git finds them too. */
const credentialHelper = (home: string) => `store --file=${shellQuote(gitCredentialsFile(home))}`;

/**
 * For one git command: the password from the environment (readable by the user's own account
 * only, unlike argv), and no other helper, which could store it or, refused, erase a good one.
 */
const passwordFromEnv = ['-c', 'credential.helper=', '-c', `credential.helper=!f() { test "$1" = get && printf 'username=%s\\npassword=%s\\n' "$REPRISE_GIT_USERNAME" "$REPRISE_GIT_PASSWORD"; }; f`];

/** Store a URL's password where credentialHelper finds it; git reads it from stdin, never from its argv. */
async function keepCredentials(home: string, git: Git, credentials: UrlCredentials): Promise<void> {
  const file = gitCredentialsFile(home);
  await mkdir(home, { recursive: true, mode: 0o700 });
  await writeFile(file, '', { flag: 'a', mode: 0o600 });
  await chmod(file, 0o600);
  const { protocol, host, username, password } = credentials;
  await git.run(['credential-store', `--file=${file}`, 'store'], { input: `protocol=${protocol}\nhost=${host}\nusername=${username}\npassword=${password}\n\n` });
}

export async function removeRemote(root: string, name: string): Promise<Remote> {
  const url = await remoteUrl(root, name);
  await new Git(root).run(['remote', 'remove', name]);
  return { name, url };
}

/** The remote a branch syncs with: its upstream, else origin, else the only one. */
export async function defaultRemote(root: string, branch: string): Promise<string> {
  const upstream = (await new Git(root).tryRun(['config', `branch.${branch}.remote`]))?.trim();
  if (upstream) return upstream;
  const names = (await listRemotes(root)).map((r) => r.name);
  if (names.includes('origin')) return 'origin';
  if (names.length === 1) return names[0]!;
  if (names.length === 0) throw badInput('this project has no remote; add one: reprise remote add origin URL');
  throw badInput(`this project has several remotes (${names.join(', ')}); choose one with --remote NAME`);
}

/**
 * A failed fetch, push or clone as the user's error (exit 3): the remote refused the push,
 * refused the credentials, or could not be reached. Recognised from git's messages.
 */
export function remoteError(remote: string, err: unknown, op: 'fetch' | 'push'): RepriseError {
  const stderr = String((err as { stderr?: string }).stderr ?? err);
  const reason = gitReason(err);
  if (op === 'push' && /\[remote rejected\]|hook declined|protected branch|denied to|returned error: 403/i.test(stderr)) {
    const why = /\[remote rejected\][^(]*\(([^)]*)\)/.exec(stderr)?.[1] ?? reason;
    return backendUnavailable(`remote "${remote}" refused the push (${why}); you may have read access only: ask for write access`);
  }
  if (/Authentication failed|Permission denied \((publickey|password)|could not read (Username|Password)|terminal prompts disabled|returned error: 40[13]/i.test(stderr)) {
    return backendUnavailable(`remote "${remote}" refused your credentials (${reason}); check your SSH key or token`);
  }
  return backendUnavailable(`remote "${remote}" is unreachable (${reason}); check the URL (reprise remote list) and your network`);
}

/**
 * Every branch of `remote` (name → commit), with its commits fetched here. They are fetched into
 * a private namespace that is removed again: a sync that stops leaves every ref as it was.
 */
export async function fetchRemote(root: string, remote: string): Promise<Map<string, string>> {
  const git = new Git(root);
  const ns = `refs/reprise/incoming-${process.pid}`;
  try {
    await git.run(['fetch', '--quiet', '--no-tags', '--no-write-fetch-head', '--refmap=', '--', remote, `+refs/heads/*:${ns}/*`]);
    const out = await git.run(['for-each-ref', '--format=%(refname)%00%(objectname)', ns]);
    return new Map(out.split('\n').filter(Boolean).map((l) => l.split('\0') as [string, string]).map(([ref, commit]) => [ref.slice(ns.length + 1), commit]));
  } catch (err) {
    throw remoteError(remote, err, 'fetch');
  } finally {
    const refs = (await git.tryRun(['for-each-ref', '--format=delete %(refname)', ns])) ?? '';
    if (refs) await git.run(['update-ref', '--stdin'], { input: refs });
  }
}

/** Make refs/remotes/<remote>/* say what the remote has (as git fetch --prune would). */
export async function updateTracking(root: string, remote: string, heads: Map<string, string>): Promise<void> {
  const git = new Git(root);
  const prefix = `refs/remotes/${remote}/`;
  const stale = (await git.run(['for-each-ref', '--format=%(refname)', prefix])).split('\n').filter((r) => r && !heads.has(r.slice(prefix.length)) && r !== `${prefix}HEAD`);
  const commands = [...stale.map((r) => `delete ${r}`), ...[...heads].map(([branch, commit]) => `update ${prefix}${branch} ${commit}`)];
  if (commands.length > 0) await git.run(['update-ref', '--stdin'], { input: commands.join('\n') + '\n' });
}

/** Where git would clone `url` to: its last path part without .git. */
const defaultCloneDir = (url: string) => basename(url.replace(/[/\\]+$/, '').replace(/\.git$/, '').replace(/^.*:/, '')) || 'project';

/** A clone's branch: the one checked out, and why when it is not the remote's default. */
export interface Cloned {
  root: string;
  url: string;
  branch: string;
  note?: string;
}

/**
 * Clone a Reprise project. The clone is made beside its destination under a temporary name and
 * moved into place only once it is known to be a project, so a failure leaves nothing behind.
 */
export async function cloneProject(givenUrl: string, dir: string | undefined, cwd: string, home = readEnv().home): Promise<Cloned> {
  const credentials = urlCredentials(givenUrl);
  const url = credentials?.url ?? givenUrl;
  const root = resolve(cwd, dir ?? defaultCloneDir(url));
  const checkedOut = await intoNewDirectory(root, 'clone', async (staging) => {
    try {
      await new Git(cwd).run([...(credentials ? passwordFromEnv : []), 'clone', '--quiet', '--', url, staging], { env: credentials && { REPRISE_GIT_USERNAME: credentials.username, REPRISE_GIT_PASSWORD: credentials.password } });
    } catch (err) {
      throw remoteError(url, err, 'fetch');
    }
    const git = new Git(staging);
    // Kept only once it worked: a mistyped password must not replace (or, refused, erase) a good one.
    if (credentials) {
      await keepCredentials(home, git, credentials);
      await git.run(['config', '--add', 'credential.helper', credentialHelper(home)]);
    }
    const head = (await git.run(['symbolic-ref', '--short', 'HEAD'])).trim();
    if (existsSync(join(staging, PROJECT_FILE))) return { branch: head };
    const branch = await branchHoldingProject(git);
    if (!branch) throw badInput(`${url} is not a Reprise project (no ${PROJECT_FILE}); nothing was cloned`);
    const unborn = (await git.tryRun(['rev-parse', '--verify', '--quiet', 'HEAD'])) === undefined;
    await git.run(['checkout', '--quiet', '-B', branch, '--track', `origin/${branch}`]);
    const why = unborn ? `${url}'s HEAD names ${head}, which it lacks` : `${url}'s default branch ${head} holds no project`;
    return { branch, note: `${why}; checked out ${branch}, the branch that holds the project` };
  });
  return { root, url, ...checkedOut };
}

/** The remote branch holding a project when the remote's HEAD does not: main, else master, else the first. */
async function branchHoldingProject(git: Git): Promise<string | undefined> {
  const branches = (await git.run(['for-each-ref', '--format=%(refname:lstrip=3)', 'refs/remotes/origin/'])).split('\n').filter((b) => b && b !== 'HEAD');
  const holding: string[] = [];
  for (const b of branches) if ((await git.tryRun(['cat-file', '-e', `origin/${b}:${PROJECT_FILE}`])) !== undefined) holding.push(b);
  return ['main', 'master'].find((b) => holding.includes(b)) ?? holding.sort()[0];
}
