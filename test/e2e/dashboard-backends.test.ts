// The dashboard's Backends view against real backends: the local Docker engine, the SLURM test
// cluster over SSH (a running and a pending run on it), a host that does not exist, an SSH
// server that never answers (a slow check must not hold the page) and a pool of two members.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { BackendCheckView, BackendList, TeamView } from '../../src/dashboard/schemas.js';
import { Cli, cliEnv, freePort } from '../helpers/cli.js';
import { tempDir } from '../helpers/project.js';
import { BUSYBOX, requireDocker } from '../helpers/docker.js';
import { artifactPath, launchChromium } from '../helpers/browser.js';
import { axeViolations, fitsWidth, startDashboard } from '../helpers/dashboard.js';
import { clusterConfig } from '../integration/slurm/slurm-backend-env.js';

let cli: Cli;
let root: string;
let server: ChildProcess | undefined;
let base: string;
let browser: Browser;
let page: Page;
let silent: Server;
const held: Socket[] = [];
const started: string[] = [];
const pageErrors: string[] = [];
const cluster = clusterConfig(`~/reprise-it/dash-backends-${Date.now()}`);

beforeAll(async () => {
  requireDocker();
  // An "SSH server" that accepts and never says a word: its check can only end by the timeout.
  silent = createServer((socket) => held.push(socket));
  const silentPort = await freePort();
  await new Promise<void>((resolve) => silent.listen(silentPort, '127.0.0.1', resolve));

  const work = await tempDir('reprise-dashb-');
  cli = new Cli(await cliEnv(await tempDir('reprise-dashb-home-')));
  expect((await cli.run(['init', 'dashb', '--name', 'dashb', '--base', BUSYBOX], work)).code).toBe(0);
  root = join(work, 'dashb');
  const ssh = ['--port', String(cluster.port), '--user', cluster.user, '--identity-file', cluster.identityFile, '--known-hosts-file', cluster.knownHostsFile];
  for (const args of [
    ['hpc', '--kind', 'slurm', '--host', cluster.host, ...ssh, '--partition', cluster.partition!, '--workdir', cluster.workdir!, '--max-parallel', '3'],
    ['broken', '--kind', 'slurm', '--host', 'no-such-host.invalid', '--user', 'nobody', '--identity-file', cluster.identityFile],
    ['silent', '--kind', 'slurm', '--host', '127.0.0.1', '--port', String(silentPort), '--user', 'nobody', '--identity-file', cluster.identityFile, '--known-hosts-file', cluster.knownHostsFile],
    ['burst', '--kind', 'pool', '--member', 'hpc', '--member', 'local', '--max-queue-wait', '5m'],
  ]) {
    const r = await cli.run(['backend', 'add', ...args], root);
    expect(r.code, r.stderr).toBe(0);
  }
  ({ server, base } = await startDashboard((args) => cli.spawn(args, root), 'dashb'));
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1280, height: 900 }, bypassCSP: true });
  page.on('pageerror', (e) => pageErrors.push(e.message));
}, 600_000);

afterAll(async () => {
  await browser?.close();
  // Free the cluster's CPUs for the other suites.
  await Promise.all(started.map((id) => cli.run(['cancel', id], root)));
  server?.kill('SIGINT');
  for (const s of held) s.destroy();
  silent?.close();
  await cli?.run(['agent', 'stop'], root);
}, 300_000);

const getJson = async (path: string) => {
  const res = await fetch(base + path);
  return { status: res.status, body: (await res.json()) as unknown };
};

async function startOnHpc(seconds: number): Promise<string> {
  const r = await cli.run(['run', '--detach', '--on', 'hpc', '--cpus', '2', '--', 'sh', '-c', `echo started; sleep ${seconds}`], root);
  expect(r.code, r.stderr).toBe(0);
  const id = /run-[a-z2-7]{12}/.exec(r.stdout + r.stderr)![0];
  started.push(id);
  return id;
}

describe('the Backends view', () => {
  it('GET /api/backends lists every configured backend with its kind, settings, slots and pool membership, as the schema says', async () => {
    const t0 = Date.now();
    const { status, body } = await getJson('/api/backends');
    // Answered without checking anything: the silent host would take 20 s.
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(status).toBe(200);
    const list = BackendList.parse(body);
    expect(list.backends.map((b) => b.name).sort()).toEqual(['broken', 'burst', 'hpc', 'local', 'silent']);
    const byName = Object.fromEntries(list.backends.map((b) => [b.name, b]));
    expect(byName.local).toMatchObject({ kind: 'docker', poolsOf: ['burst'], running: [], pending: [] });
    expect(byName.hpc).toMatchObject({ kind: 'slurm', maxParallel: 3, slots: { inUse: 0, waiting: 0, limit: 3, scope: 'all projects' }, poolsOf: ['burst'] });
    expect(byName.hpc!.settings).toContain(cluster.host);
    expect(byName.burst).toMatchObject({ kind: 'pool', members: ['hpc', 'local'], poolsOf: [] });
    expect(byName.broken!.slots).toBeUndefined();

    const doc = (await getJson('/api/openapi.json')).body as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/api/backends', '/api/backends/{name}/check', '/api/team']));
  });

  it("GET /api/backends/{name}/check gives the CLI's check, a one-line error for a bad host, a timeout for a silent one, 404 for an unknown name", async () => {
    const cliCheck = await cli.json<{ version: string }>(['backend', 'check', 'local'], root);
    const local = BackendCheckView.parse((await getJson('/api/backends/local/check')).body);
    expect(local).toMatchObject({ name: 'local', ok: true, kind: 'docker', version: cliCheck.version });

    const hpc = BackendCheckView.parse((await getJson('/api/backends/hpc/check')).body);
    const hpcCli = await cli.json<{ version: string }>(['backend', 'check', 'hpc'], root);
    expect(hpc).toMatchObject({ ok: true, kind: 'slurm', version: hpcCli.version });

    const broken = BackendCheckView.parse((await getJson('/api/backends/broken/check')).body);
    expect(broken).toMatchObject({ ok: false, kind: 'slurm' });
    const error = (broken as { error: string }).error;
    expect(error).toMatch(/no-such-host\.invalid/);
    expect(error).not.toMatch(/credentials/);
    expect(error).not.toContain('\n');

    const t0 = Date.now();
    const [silentCheck, again] = await Promise.all([getJson('/api/backends/silent/check'), getJson('/api/backends/silent/check')]);
    const waited = Date.now() - t0;
    expect(silentCheck.body).toMatchObject({ ok: false, kind: 'slurm' });
    // Ended by a timeout (the SSH handshake's or the dashboard's 20 s), and asked once for both.
    expect(waited).toBeLessThan(30_000);
    expect((silentCheck.body as { error: string }).error).toMatch(/time|answer/i);
    expect(again.body).toEqual(silentCheck.body);

    const pool = BackendCheckView.parse((await getJson('/api/backends/burst/check')).body);
    expect(pool).toMatchObject({ kind: 'pool', ok: true, members: [expect.objectContaining({ name: 'hpc', ok: true }), expect.objectContaining({ name: 'local', ok: true })] });

    expect(await getJson('/api/backends/nope/check')).toEqual({ status: 404, body: { error: 'no backend "nope" is configured; list them with: reprise backend list' } });
    expect((await getJson('/api/backends/no%20pe/check')).status).toBe(404);
  }, 120_000);

  it('shows each check as it comes (a silent host does not hold the page), the SLURM queue with a running and a pending run and its reason, slots, pool members; axe-clean; fits a phone', async () => {
    // Two runs asking for both of the cluster's 2 CPUs: one runs, SLURM keeps the other pending.
    const first = await startOnHpc(300);
    const api = async () => BackendList.parse((await getJson('/api/backends')).body).backends.find((b) => b.name === 'hpc')!;
    for (let i = 0; i < 240 && !(await api()).running.some((r) => r.runId === first); i++) await new Promise((r) => setTimeout(r, 1000));
    expect((await api()).running.map((r) => r.runId)).toContain(first);
    const second = await startOnHpc(300);
    for (let i = 0; i < 240 && !(await api()).pending.some((r) => r.runId === second && r.waiting); i++) await new Promise((r) => setTimeout(r, 1000));
    const hpc = await api();
    const pending = hpc.pending.find((r) => r.runId === second);
    expect(pending?.waiting, JSON.stringify(hpc)).toBeTruthy();
    expect(hpc.slots).toEqual({ inUse: 2, waiting: 0, limit: 3, scope: 'all projects' });

    // The checks' answers are cached for 15 s: let them go stale so the page checks afresh.
    await new Promise((r) => setTimeout(r, 15_000));
    const t0 = Date.now();
    await page.goto(`${base}/#/backends`);
    const section = (name: string) => page.locator(`#backend-${name}`);
    await section('local').locator('.check', { hasText: `version ${(await cli.json<{ version: string }>(['backend', 'check', 'local'], root)).version}` }).waitFor({ timeout: 15_000 });
    // Local answered while the silent host is still being asked.
    expect(await section('silent').locator('.check').textContent()).toBe('checking…');
    expect(Date.now() - t0).toBeLessThan(15_000);
    await section('hpc').locator('.check', { hasText: /ok, version \S+/ }).waitFor({ timeout: 30_000 });
    await section('broken').locator('.check', { hasText: 'unreachable:' }).waitFor({ timeout: 30_000 });
    expect(await section('broken').locator('.check').textContent()).toContain('no-such-host.invalid');
    await section('hpc').locator('.queue li', { hasText: first }).waitFor({ timeout: 15_000 });
    expect(await section('hpc').locator('.queue li', { hasText: first }).textContent()).toContain('running');
    expect(await section('hpc').locator('.queue li', { hasText: second }).textContent()).toContain(`pending: ${pending!.waiting}`);
    expect(await section('hpc').locator('.slots').textContent()).toBe('2 of 3 in use (all projects)');
    // A pool: its members in order, each with its own check.
    await section('burst').locator('.members', { hasText: 'hpc (ok) → local (ok)' }).waitFor({ timeout: 30_000 });
    await section('silent').locator('.check', { hasText: 'unreachable:' }).waitFor({ timeout: 30_000 });
    expect(await axeViolations(page)).toEqual([]);
    await page.screenshot({ path: artifactPath('dashboard-backends.png'), fullPage: true });

    // Keyboard: the view is reached from the header by the keyboard alone, and its button is focusable.
    // A route change moves focus to <main> (after the view renders, so wait for it); the header's
    // links are the focusable elements just before it, whatever the feed holds after it.
    await page.goto(`${base}/#/`);
    await page.locator('#feed-h').waitFor();
    await page.waitForFunction(() => document.activeElement?.id === 'main');
    let reached = false;
    for (let i = 0; i < 5 && !reached; i++) {
      await page.keyboard.press('Shift+Tab');
      reached = await page.evaluate(() => document.activeElement?.textContent === 'Backends');
    }
    expect(reached, await page.evaluate(() => document.activeElement?.outerHTML ?? 'nothing focused')).toBe(true);
    await page.keyboard.press('Enter');
    await page.waitForURL(/#\/backends$/);
    await page.locator('#recheck').waitFor();
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('main');
    await page.locator('#recheck').focus();
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('recheck');

    const phone = await browser.newPage({ viewport: { width: 375, height: 800 }, bypassCSP: true });
    await phone.goto(`${base}/#/backends`);
    await phone.locator('#backend-hpc .queue li').first().waitFor({ timeout: 15_000 });
    // A fresh page leaves focus where a page load puts it: the first Tab reaches the skip link.
    await phone.keyboard.press('Tab');
    expect(await phone.evaluate(() => document.activeElement?.textContent)).toBe('Skip to content');
    expect(await fitsWidth(phone)).toBe(true);
    await phone.screenshot({ path: artifactPath('dashboard-backends-phone.png'), fullPage: true });
    await phone.close();
    expect(pageErrors).toEqual([]);
  }, 600_000);
});

describe('the Team view without team mode', () => {
  it('says in one line that no team is configured and how to configure it (page and API)', async () => {
    const team = TeamView.parse((await getJson('/api/team')).body);
    expect(team).toMatchObject({ team: false, runs: [], people: [], workers: [] });
    expect(team.hint).toMatch(/REPRISE_TEAM=1 TEMPORAL_ADDRESS=.* reprise dashboard/);
    await page.goto(`${base}/#/team`);
    await page.locator('#team-off').waitFor({ timeout: 15_000 });
    expect(await page.locator('#team-off').textContent()).toBe(team.hint);
    expect(await axeViolations(page)).toEqual([]);
  });
});
