// `reprise dashboard login`: a new one-time login URL for a dashboard already serving (another
// person, a browser that lost its session), signed with the dashboard's key. The dashboard here
// listens beyond loopback (0.0.0.0), so reading needs the login too.
import type { ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cli, cliEnv, freePort } from '../helpers/cli.js';
import { tempDir } from '../helpers/project.js';
import { BUSYBOX, requireDocker } from '../helpers/docker.js';

let cli: Cli;
let home: string;
let root: string;
let server: ChildProcess | undefined;
let port: number;
let base: string;

/** GET with an optional cookie; the status and the session cookie set, if any. */
async function get(path: string, cookie?: string): Promise<{ status: number; cookie?: string }> {
  const res = await fetch(`${base}${path}`, { redirect: 'manual', headers: cookie ? { cookie } : {} });
  await res.arrayBuffer();
  return { status: res.status, cookie: res.headers.get('set-cookie')?.split(';')[0] };
}

beforeAll(async () => {
  requireDocker();
  home = await tempDir('reprise-dash-login-home-');
  cli = new Cli(await cliEnv(home));
  const work = await tempDir('reprise-dash-login-');
  expect((await cli.run(['init', 'dl', '--name', 'dl', '--base', BUSYBOX], work)).code).toBe(0);
  root = join(work, 'dl');
  port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = cli.spawn(['dashboard', '--host', '0.0.0.0', '--port', String(port), '--url', base], root);
  await new Promise<void>((resolve, reject) => {
    let out = '';
    server!.stdout!.on('data', (d: Buffer) => ((out += d), /dashboard for dl: http:\S+/.test(out) && resolve()));
    server!.on('exit', (code) => reject(new Error(`dashboard exited ${code}: ${out}`)));
  });
}, 300_000);

afterAll(async () => {
  server?.kill('SIGINT');
  await cli?.run(['agent', 'stop'], root);
});

describe('reprise dashboard login', () => {
  it('prints a URL the serving dashboard takes once: a session that reads; the same URL again is refused', async () => {
    expect((await get('/api/feed')).status).toBe(401);
    const r = await cli.run(['dashboard', 'login', '--url', base, '--json'], root);
    expect(r.code, r.stderr).toBe(0);
    const { url, expires } = JSON.parse(r.stdout) as { url: string; expires: string };
    expect(url.startsWith(`${base}/login?token=`)).toBe(true);
    expect(Date.parse(expires) - Date.now()).toBeGreaterThan(14 * 60_000);
    const login = await get(url.slice(base.length));
    expect(login.status).toBe(303);
    expect((await get('/api/feed', login.cookie)).status).toBe(200);
    expect((await get(url.slice(base.length))).status).toBe(401);
    // A second person's URL is their own: it works after the first was used.
    const again = await cli.run(['dashboard', 'login', '--port', String(port)], root);
    expect(again.code, again.stderr).toBe(0);
    expect((await get(again.stdout.trim().slice(base.length))).status).toBe(303);
  });

  it('a URL signed with another key is refused', async () => {
    const other = await tempDir('reprise-dash-login-other-');
    const keyFile = join(other, 'key');
    await writeFile(keyFile, `${'ab'.repeat(32)}\n`);
    const r = await cli.run(['dashboard', 'login', '--url', base, '--key-file', keyFile], root);
    expect(r.code, r.stderr).toBe(0);
    expect((await get(r.stdout.trim().slice(base.length))).status).toBe(401);
    expect(await readFile(join(home, 'dashboard.key'), 'utf8')).not.toContain('ab'.repeat(32));
  });

  it('bad input: one line, exit 2', async () => {
    const elsewhere = new Cli({ ...cli.env, REPRISE_HOME: await tempDir('reprise-dash-login-empty-') });
    const cases: [string[], RegExp, Cli?][] = [
      [['--ttl', '2d'], /at most 24h/],
      [['--ttl', 'soon'], /--ttl "soon" is not a duration/],
      [['--url', 'http://x.example/path'], /not the dashboard's base address/],
      [[], /no dashboard key in .*: start `reprise dashboard`/, elsewhere],
    ];
    for (const [args, message, who = cli] of cases) {
      const r = await who.run(['dashboard', 'login', ...args], root);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(message);
      expect(r.stdout).toBe('');
    }
  });
});
