// `--password-stdin` for `remote add` and `clone` (as `docker login` has it): the password of a
// git remote reaches Reprise on standard input, never on its command line, where every local
// account reads it with `ps`. A password written in the URL still works, with a warning.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binRun, Cli, cliEnv, collect, type CliResult } from '../helpers/cli.js';
import { BUSYBOX } from '../helpers/docker.js';
import { bareRepository, gitHttpServer, type GitHttpServer } from '../helpers/git-http.js';
import { git, tempDir } from '../helpers/project.js';

const password = `pw-${randomBytes(12).toString('hex')}`;
let server: GitHttpServer;
let cli: Cli;
let home: string;
let work: string;
let root: string;
let host: string;

/** The built CLI with `input` on its standard input (a pipe, as `printf %s "$TOKEN" | reprise …`). */
function withStdin(args: string[], cwd: string, input: string): Promise<CliResult> {
  const child = spawn(process.execPath, [binRun, ...args], { cwd, env: cli.env, stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.end(input);
  return collect(child);
}

beforeAll(async () => {
  server = await gitHttpServer('alice', password);
  bareRepository(server, 'fit.git');
  host = server.base.slice('http://'.length);
  home = await tempDir('reprise-pwstdin-home-');
  cli = new Cli(await cliEnv(home));
  work = await tempDir('reprise-pwstdin-');
  const init = await cli.run(['init', 'fit', '--name', 'fit', '--base', BUSYBOX], work);
  expect(init.code, init.stderr).toBe(0);
  root = join(work, 'fit');
});

afterAll(async () => {
  await server?.close();
});

describe('a remote password on standard input', () => {
  it('remote add --password-stdin: the password kept in the credential store only; sync pushes with it', async () => {
    const added = await withStdin(['remote', 'add', 'origin', `http://alice@${host}/fit.git`, '--password-stdin'], root, `${password}\n`);
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).toBe(`added remote origin http://alice@${host}/fit.git\n`);
    expect(added.stderr).toBe('');
    expect(readFileSync(join(home, 'git-credentials'), 'utf8')).toContain(password);
    expect(readFileSync(join(root, '.git/config'), 'utf8')).not.toContain(password);
    const synced = await cli.run(['sync'], root);
    expect(synced.code, synced.stderr).toBe(0);
    expect(server.requests.some((r) => r.authenticated && r.path.endsWith('/git-receive-pack'))).toBe(true);
    expect(synced.stdout + synced.stderr).not.toContain(password);
  }, 120_000);

  it('clone --password-stdin clones with it; a wrong one is refused (exit 3), printed nowhere', async () => {
    const cloned = await withStdin(['clone', `http://alice@${host}/fit.git`, 'copy', '--password-stdin'], work, password);
    expect(cloned.code, cloned.stderr).toBe(0);
    expect(git(join(work, 'copy'), 'rev-parse', 'HEAD')).toBe(git(root, 'rev-parse', 'HEAD'));
    expect(readFileSync(join(work, 'copy/.git/config'), 'utf8')).not.toContain(password);
    const wrong = await withStdin(['clone', `http://alice@${host}/fit.git`, 'nope', '--password-stdin'], work, 'not-it');
    expect(wrong.code).toBe(3);
    expect(wrong.stderr + wrong.stdout).not.toContain('not-it');
  }, 120_000);

  it('bad input: a URL with a password and the flag, a URL without a user, nothing on stdin (exit 2, one line, nothing added)', async () => {
    for (const [url, input, why] of [
      [`http://alice:${password}@${host}/fit.git`, password, /carries a password already/],
      [`http://${host}/fit.git`, password, /names the user/],
      [`http://alice@${host}/fit.git`, '', /held no password/],
    ] as const) {
      const r = await withStdin(['remote', 'add', 'other', url, '--password-stdin'], root, input);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(why);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).not.toContain(password);
    }
    expect(git(root, 'remote')).toBe('origin\n');
  }, 120_000);

  it('a password in the URL on the command line still works, with a warning naming --password-stdin (never the password)', async () => {
    const r = await cli.run(['remote', 'add', 'typed', `http://alice:${password}@${host}/fit.git`], root);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^warning: a password in the URL on the command line is visible to every account on this machine \(ps\).*--password-stdin/);
    expect(r.stderr + r.stdout).not.toContain(password);
  }, 60_000);
});

describe('a webhook URL (its own credential) on standard input', () => {
  it('notify add --webhook-stdin keeps the URL in the user config, says nothing of it; --webhook on the command line warns', async () => {
    const token = `T0-${randomBytes(8).toString('hex')}`;
    const url = `https://hooks.example.org/services/${token}`;
    const added = await withStdin(['notify', 'add', 'team', '--webhook-stdin', '--format', 'slack'], '/', `${url}\n`);
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).toBe('added notifier team: https://hooks.example.org (every end)\n');
    expect(added.stderr).toBe('');
    expect(readFileSync(join(home, 'config.yaml'), 'utf8')).toContain(url);
    const typed = await cli.run(['notify', 'add', 'typed', '--webhook', url], '/');
    expect(typed.code, typed.stderr).toBe(0);
    expect(typed.stderr).toMatch(/^warning: a webhook URL is usually its own credential.*--webhook-stdin/);
    expect(typed.stderr + typed.stdout).not.toContain(token);
    const both = await withStdin(['notify', 'add', 'both', '--webhook-stdin', '--webhook', url], '/', url);
    expect(both.code).toBe(2);
  }, 60_000);
});
