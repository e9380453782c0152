import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { mkdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { Cli, cliEnv, freePort } from '../helpers/cli.js';
import { tempDir } from '../helpers/project.js';
import { BUSYBOX, requireDocker } from '../helpers/docker.js';
import { artifactPath, launchChromium } from '../helpers/browser.js';
import { stripesPng } from '../helpers/run-history.js';
import { sweepIdOf } from '../helpers/sweep.js';

// One project, one agent, one dashboard and one browser for the whole file (2 CPUs in CI).
let cli: Cli;
let root: string;
let server: ChildProcess | undefined;
let base: string;
let loginUrl: string;
let browser: Browser;
let page: Page;
let firstRun: string;
const pageErrors: string[] = [];

beforeAll(async () => {
  requireDocker();
  const work = await tempDir('reprise-dash-');
  cli = new Cli(await cliEnv(await tempDir('reprise-dash-home-')));
  expect((await cli.run(['init', 'dash', '--name', 'dash', '--base', BUSYBOX], work)).code).toBe(0);
  root = join(work, 'dash');
  await mkdir(join(root, 'input'), { recursive: true });
  await writeFile(join(root, 'input/dot.png'), stripesPng(240, 120));
  await writeFile(join(root, 'code/hello.sh'), 'echo "<b>not html</b>" > output/o.txt; cp input/dot.png output/plot.png; echo hello dashboard\n');
  expect((await cli.run(['run', '--', 'sh', 'code/hello.sh'], root)).code).toBe(0);
  expect((await cli.run(['backend', 'add', 'docker-two', '--kind', 'docker'], root)).code).toBe(0);
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = cli.spawn(['dashboard', '--port', String(port)], root);
  loginUrl = await new Promise<string>((resolve, reject) => {
    let out = '';
    server!.stdout!.on('data', (d: Buffer) => {
      out += d;
      const m = /dashboard for dash: (http:\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    server!.on('exit', (code) => reject(new Error(`dashboard exited ${code}`)));
  });
  firstRun = ((await getJson('/api/feed')).body[0] as { runId: string }).runId;
  browser = await launchChromium();
  // bypassCSP: axe-core is injected as a script tag, which the page's CSP (script-src 'self') would refuse.
  page = await browser.newPage({ viewport: { width: 1280, height: 900 }, bypassCSP: true });
  page.on('pageerror', (e) => pageErrors.push(e.message));
}, 600_000);

afterAll(async () => {
  await browser?.close();
  server?.kill('SIGINT');
  await cli?.run(['agent', 'stop'], root);
});

const getJson = async (path: string) => {
  const res = await fetch(base + path);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> & unknown[] };
};

/** axe-core in the page: the serious and critical violations (none allowed). */
async function axeViolations(): Promise<string[]> {
  await page.addScriptTag({ path: createRequire(import.meta.url).resolve('axe-core/axe.min.js') });
  const result = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: () => Promise<{ violations: { id: string; impact: string; nodes: { target: string[] }[] }[] }> } }).axe;
    return (await axe.run()).violations;
  });
  return result.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

async function startDetached(args: string[]): Promise<string> {
  const r = await cli.run(['run', '--detach', '--', ...args], root);
  expect(r.code, r.stderr).toBe(0);
  return /run-[a-z2-7]{12}/.exec(r.stdout)![0];
}

describe('reprise dashboard', () => {
  it('serves the page, the OpenAPI document and the JSON routes the CLI era had', async () => {
    const res = await fetch(base + '/');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=UTF-8');
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(await res.text()).toContain('<title>Reprise: dash</title>');
    expect((await getJson('/api/openapi.json')).body).toMatchObject({ openapi: '3.1.0' });
    const feed = await getJson('/api/feed');
    expect(feed.body).toHaveLength(1);
    expect(feed.body[0]).toMatchObject({ runId: firstRun, state: 'succeeded', command: ['sh', 'code/hello.sh'] });
    expect((await getJson('/api/runs')).body).toEqual([expect.objectContaining({ runId: firstRun, state: 'succeeded' })]);
    expect((await getJson(`/api/runs/${firstRun}`)).body).toMatchObject({ recorded: true, runId: firstRun, outputs: expect.arrayContaining([expect.objectContaining({ path: 'output/o.txt' })]) });
    expect((await getJson(`/api/runs/${firstRun}/log`)).body).toEqual({ done: true, text: 'hello dashboard\n' });
  });

  it('refuses a request under a foreign Host name (DNS rebinding) with 403 and a JSON error', async () => {
    const { port } = new URL(base);
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/api/feed', headers: { host: `attacker.example:${port}` } }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
    expect(answer.status).toBe(403);
    expect(JSON.parse(answer.body)).toEqual({ error: `Host "attacker.example:${port}" is not this dashboard's; open it by address, or start it with --allowed-host NAME` });
  });

  it('answers unknown paths, runs and methods with JSON errors; a write without a session is 401', async () => {
    expect((await getJson('/nope')).status).toBe(404);
    expect((await getJson('/api/runs/run-zzzzzzzzzzzz')).status).toBe(404);
    expect((await fetch(base + '/api/feed', { method: 'POST' })).status).toBe(405);
    expect((await fetch(`${base}/api/runs/${firstRun}/rerun`, { method: 'POST', headers: { origin: base } })).status).toBe(401);
  });

  it('shows the feed and a run with its PNG output inline, read-only before login, with no serious accessibility violation', async () => {
    await page.goto(base + '/');
    await page.locator('#feed tr', { hasText: firstRun }).waitFor({ timeout: 30_000 });
    await expect(page.locator('.session').textContent()).resolves.toContain('Read-only');
    expect(await axeViolations()).toEqual([]);
    await page.screenshot({ path: artifactPath('dashboard-feed.png'), fullPage: true });
    await page.getByRole('link', { name: `run ${firstRun}` }).click();
    await page.locator('#log', { hasText: 'hello dashboard' }).waitFor({ timeout: 30_000 });
    const img = page.getByAltText('output image output/plot.png');
    await img.waitFor({ timeout: 15_000 });
    // Shown is not loaded: wait for the bytes, then check they are the PNG the run wrote.
    await img.evaluate((el: HTMLImageElement) => (el.complete ? undefined : new Promise((done) => { el.addEventListener('load', done, { once: true }); el.addEventListener('error', done, { once: true }); })));
    expect(await img.evaluate((el: HTMLImageElement) => el.complete && el.naturalWidth)).toBe(240);
    expect(await page.locator('#cancel, #rerun').count()).toBe(0);
    expect(await axeViolations()).toEqual([]);
    await page.screenshot({ path: artifactPath('dashboard-run.png'), fullPage: true });
    expect(pageErrors).toEqual([]);
  });

  it('logs in with the printed one-time URL, and streams a running run\'s log into the page live', async () => {
    await page.goto(loginUrl);
    await page.locator('.session', { hasText: 'Logged in' }).waitFor({ timeout: 15_000 });
    const runId = await startDetached(['sh', '-c', 'for i in 1 2 3 4 5 6 7 8; do echo line $i; sleep 1; done']);
    await page.goto(`${base}/#/runs/${runId}`);
    await page.locator('#log', { hasText: 'line 2' }).waitFor({ timeout: 120_000 });
    // Seen while the job still runs: the record (and line 8) comes later.
    expect(await page.locator('#log').textContent()).not.toContain('line 8');
    await page.screenshot({ path: artifactPath('dashboard-live-log.png'), fullPage: true });
    await page.locator('#log-status', { hasText: 'ended: succeeded' }).waitFor({ timeout: 120_000 });
    expect(await page.locator('#log').textContent()).toBe(Array.from({ length: 8 }, (_, i) => `line ${i + 1}\n`).join(''));
    await page.locator('#run-state', { hasText: 'succeeded' }).waitFor({ timeout: 30_000 });
  });

  it('cancels a running run from the page: recorded as cancelled, as `reprise cancel` records it', async () => {
    const runId = await startDetached(['sh', '-c', 'echo started; sleep 300']);
    await page.goto(`${base}/#/runs/${runId}`);
    await page.locator('#log', { hasText: 'started' }).waitFor({ timeout: 120_000 });
    await page.locator('#cancel').click();
    await page.locator('#run-state', { hasText: 'cancelled' }).waitFor({ timeout: 120_000 });
    // The container is killed (SIGKILL, 137), yet a cancel is recorded as the CLI exits on it: 130.
    expect((await getJson(`/api/runs/${runId}`)).body).toMatchObject({ recorded: true, state: 'cancelled', exitCode: 130 });
    await page.screenshot({ path: artifactPath('dashboard-cancelled.png'), fullPage: true });
  });

  it('reruns a run on another backend from the page, and shows that it reproduced the outputs', async () => {
    // A fresh load: after a hash change the previous run's form shows until the new run loads,
    // and what was typed into it goes with it.
    await page.goto('about:blank');
    await page.goto(`${base}/#/runs/${firstRun}`);
    await page.locator('#out-h').waitFor({ timeout: 30_000 });
    await page.locator('#rerun-backend').fill('docker-two');
    await page.locator('#rerun').click();
    await page.waitForURL(/#\/runs\/run-/, { timeout: 30_000 });
    await page.waitForFunction((first) => !location.hash.endsWith(first), firstRun, { timeout: 30_000 });
    await page.locator('#log-status', { hasText: 'ended: succeeded' }).waitFor({ timeout: 180_000 });
    await page.getByText('outputs reproduced').waitFor({ timeout: 30_000 });
    const rerunId = decodeURIComponent(new URL(page.url()).hash.split('/').pop()!);
    expect((await getJson(`/api/runs/${rerunId}`)).body).toMatchObject({ rerunOf: firstRun, backend: { name: 'docker-two', kind: 'docker' } });
  });

  it('opens a sweep\'s grid, with a link to each point', async () => {
    const r = await cli.run(['sweep', '--param', 'n=1,2', '--', 'sh', '-c', 'echo point {n}'], root);
    expect(r.code, r.stderr).toBe(0);
    const sweepId = sweepIdOf(r);
    await page.goto(`${base}/#/`);
    await page.getByRole('link', { name: `sweep ${sweepId}` }).click();
    await page.locator('#grid tbody tr').nth(1).waitFor({ timeout: 30_000 });
    expect(await page.locator('#grid tbody tr').allTextContents()).toEqual([expect.stringMatching(/^01succeeded0run-/), expect.stringMatching(/^12succeeded0run-/)]);
    await page.screenshot({ path: artifactPath('dashboard-sweep.png'), fullPage: true });
    await page.locator('#grid a').first().click();
    await page.locator('#log', { hasText: 'point 1' }).waitFor({ timeout: 30_000 });
  });

  it('verifies a run from the page: the new run says, per output, that it is the same', async () => {
    await page.goto('about:blank');
    await page.goto(`${base}/#/runs/${firstRun}`);
    await page.locator('#out-h').waitFor({ timeout: 30_000 });
    await page.locator('#verify').click();
    await page.waitForFunction((first) => /#\/runs\/run-/.test(location.hash) && !location.hash.endsWith(first), firstRun, { timeout: 30_000 });
    await page.locator('#verification tbody tr').nth(1).waitFor({ timeout: 180_000 });
    expect(await page.locator('#verification tbody tr').allTextContents()).toEqual(['output/o.txtsame', 'output/plot.pngsame']);
    const verifyId = decodeURIComponent(new URL(page.url()).hash.split('/').pop()!);
    expect((await getJson(`/api/runs/${verifyId}`)).body).toMatchObject({ rerunOf: firstRun, state: 'succeeded', verification: { identical: true } });
    expect(await axeViolations()).toEqual([]);
  });

  it('retries a sweep\'s failed points from its page, as `reprise sweep retry` does', async () => {
    const r = await cli.run(['sweep', '--param', 'n=1,2', '--', 'sh', '-c', 'echo try {n}; test {n} != 2'], root);
    expect(r.code).toBe(1);
    const sweepId = sweepIdOf(r);
    await page.goto(`${base}/#/sweeps/${sweepId}`);
    await page.locator('#retry').click();
    await page.waitForFunction((first) => /#\/sweeps\/sweep-/.test(location.hash) && !location.hash.endsWith(first), sweepId, { timeout: 30_000 });
    const retryId = decodeURIComponent(new URL(page.url()).hash.split('/').pop()!);
    // The page polls the live sweep until it is recorded (the original's "failed" showed until the new one loaded).
    await page.locator('h1', { hasText: retryId }).waitFor({ timeout: 30_000 });
    await vi.waitFor(async () => expect((await getJson(`/api/sweeps/${retryId}`)).body).toMatchObject({ recorded: true }), { timeout: 180_000, interval: 500 });
    await page.locator('#grid tbody tr', { hasText: /^12failed1run-/ }).waitFor({ timeout: 30_000 });
    const rows = await page.locator('#grid tbody tr').allTextContents();
    // Point 0 carried over as it succeeded; point 1 ran again (and failed again).
    expect(rows).toEqual([expect.stringMatching(/^01succeeded0run-/), expect.stringMatching(/^12failed1run-/)]);
    const retried = (await getJson(`/api/sweeps/${retryId}`)).body as unknown as { recorded: boolean; points: { runId: string }[] };
    const original = (await getJson(`/api/sweeps/${sweepId}`)).body as unknown as { points: { runId: string }[] };
    expect(retried.recorded).toBe(true);
    expect(retried.points[0]!.runId).toBe(original.points[0]!.runId);
    expect(retried.points[1]!.runId).not.toBe(original.points[1]!.runId);
    await page.screenshot({ path: artifactPath('dashboard-sweep-retry.png'), fullPage: true });
    expect(await axeViolations()).toEqual([]);
  });

  it('shows a metric from each point\'s JSON output as a sortable column of the sweep grid', async () => {
    await writeFile(join(root, 'code/metric.sh'), 'printf \'{"scores": {"f1": %s}}\' "$1" > output/result.json\n');
    const r = await cli.run(['sweep', '--param', 'n=3,1,2', '--', 'sh', 'code/metric.sh', '{n}'], root);
    expect(r.code, r.stderr).toBe(0);
    const sweepId = sweepIdOf(r);
    // A fresh page: a hash change alone can show the last view's form before this sweep's data
    // arrives and resets it, losing what was typed (seen once under load).
    await page.goto('about:blank');
    await page.goto(`${base}/#/sweeps/${sweepId}`);
    await page.locator('#grid td.state').nth(2).waitFor({ timeout: 30_000 });
    await page.locator('#metric-file').fill('output/result.json');
    await page.locator('#metric-key').fill('scores.f1');
    await page.locator('#metric-show').click();
    await page.locator('#grid td.metric', { hasText: '3' }).waitFor({ timeout: 30_000 });
    expect(await page.locator('#grid td.metric').allTextContents()).toEqual(['3', '1', '2']);
    await page.locator('#metric-sort').click();
    expect(await page.locator('#grid td.metric').allTextContents()).toEqual(['1', '2', '3']);
    await page.locator('#metric-sort').click();
    expect(await page.locator('#grid td.metric').allTextContents()).toEqual(['3', '2', '1']);
    expect(await page.locator('#grid th[aria-sort]').getAttribute('aria-sort')).toBe('descending');
    expect(await axeViolations()).toEqual([]);
    await page.screenshot({ path: artifactPath('dashboard-sweep-metric.png'), fullPage: true });
  });

  it('shows a run\'s timeline, resources, source diff against its parent run, environment diff against a chosen run, and data', async () => {
    await writeFile(join(root, 'code/hello.sh'), 'echo changed > output/o.txt; echo hello again\n');
    const r = await cli.run(['run', '--cpus', '1', '--', 'sh', 'code/hello.sh'], root);
    expect(r.code, r.stderr).toBe(0);
    const runId = ((await getJson('/api/feed')).body[0] as { runId: string }).runId;
    await page.goto('about:blank');
    await page.goto(`${base}/#/runs/${runId}`);
    await page.locator('#timeline li').last().waitFor({ timeout: 30_000 });
    const states = (await page.locator('#timeline li strong').allTextContents());
    expect(states.filter((s) => s !== 'pending')).toEqual(['queued', 'submitted', 'running', 'exited', 'collected', 'recorded']);
    expect(await page.locator('#core-hours').textContent()).toMatch(/cpus asked × wall time/);
    expect(await page.locator('#gpu-hours').textContent()).toBe('none asked');
    await page.locator('#source-diff').click();
    await page.locator('#diff', { hasText: '+echo changed > output/o.txt; echo hello again' }).waitFor({ timeout: 30_000 });
    await page.locator('#env-against').fill(firstRun);
    await page.locator('#env-diff').click();
    await page.locator('#env-result', { hasText: `No package differs between ${firstRun} and ${runId}` }).waitFor({ timeout: 30_000 });
    await page.locator('#env-against').fill('run-zzzzzzzzzzzz');
    await page.locator('#env-diff').click();
    await page.getByRole('alert').filter({ hasText: 'no recorded run run-zzzzzzzzzzzz' }).waitFor({ timeout: 30_000 });
    expect(await page.locator('#data-none').textContent()).toBe('No tracked data read or written.');
    expect(await axeViolations()).toEqual([]);
    await page.screenshot({ path: artifactPath('dashboard-run-details.png'), fullPage: true });
    expect(pageErrors).toEqual([]);
  });

  it('reads on a phone-wide screen without a serious accessibility violation', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${base}/#/?state=succeeded`);
    await page.locator('#feed tr', { hasText: firstRun }).waitFor({ timeout: 30_000 });
    expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1)).toBe(true);
    expect(await axeViolations()).toEqual([]);
    await page.screenshot({ path: artifactPath('dashboard-phone.png'), fullPage: true });
    expect(pageErrors).toEqual([]);
  });
});

