import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Cli, cliEnv, freePort } from '../helpers/cli.js';
import { tempDir } from '../helpers/project.js';
import { BUSYBOX, requireDocker } from '../helpers/docker.js';
import { artifactPath, launchChromium } from '../helpers/browser.js';

let cli: Cli;
let root: string;
let server: ChildProcess | undefined;
let base: string;

beforeAll(async () => {
  requireDocker();
  const work = await tempDir('reprise-dash-');
  cli = new Cli(await cliEnv(await tempDir('reprise-dash-home-')));
  expect((await cli.run(['init', 'dash', '--name', 'dash', '--base', BUSYBOX], work)).code).toBe(0);
  root = join(work, 'dash');
  await writeFile(join(root, 'code/hello.sh'), 'echo "<b>not html</b>" > output/o.txt; echo hello dashboard\n');
  expect((await cli.run(['run', '--', 'sh', 'code/hello.sh'], root)).code).toBe(0);
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = cli.spawn(['dashboard', '--port', String(port)], root);
  await new Promise<void>((resolve, reject) => {
    server!.stdout!.on('data', (d: Buffer) => d.toString().includes('dashboard for dash') && resolve());
    server!.on('exit', (code) => reject(new Error(`dashboard exited ${code}`)));
  });
});

afterAll(async () => {
  server?.kill('SIGINT');
  await cli?.run(['agent', 'stop'], root);
});

const getJson = async (path: string) => {
  const res = await fetch(base + path);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> & unknown[] };
};

describe('reprise dashboard', () => {
  it('serves the page', async () => {
    const res = await fetch(base + '/');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await res.text()).toContain('<title>Reprise: dash</title>');
  });

  it('serves the feed, the live runs, one run and its log as JSON', async () => {
    const feed = await getJson('/api/feed');
    expect(feed.status).toBe(200);
    expect(feed.body).toHaveLength(1);
    const runId = (feed.body[0] as { runId: string; state: string }).runId;
    expect(feed.body[0]).toMatchObject({ state: 'succeeded', command: ['sh', 'code/hello.sh'] });
    const runs = await getJson('/api/runs');
    expect(runs.body).toEqual([expect.objectContaining({ runId, state: 'succeeded' })]);
    const run = await getJson(`/api/runs/${runId}`);
    expect(run.body).toMatchObject({ recorded: true, runId, outputs: [expect.objectContaining({ path: 'output/o.txt' })] });
    expect((await getJson(`/api/runs/${runId}/log`)).body).toEqual({ done: true, text: 'hello dashboard\n' });
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

  it('answers unknown paths, runs and methods with JSON errors', async () => {
    expect((await getJson('/nope')).status).toBe(404);
    expect((await getJson('/api/runs/run-zzzzzzzzzzzz')).status).toBe(404);
    expect((await fetch(base + '/api/feed', { method: 'POST' })).status).toBe(405);
  });

  it('shows the feed, the live runs and a run\'s log in a real browser, with no script error', async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(base + '/');
      const runId = ((await getJson('/api/feed')).body[0] as { runId: string }).runId;
      await page.locator('#feed tr', { hasText: runId }).waitFor({ timeout: 15_000 });
      await page.locator('#runs tr', { hasText: runId }).waitFor({ timeout: 15_000 });
      await page.locator('#feed tr', { hasText: runId }).click();
      await page.locator('#log', { hasText: 'hello dashboard' }).waitFor({ timeout: 15_000 });
      await page.screenshot({ path: artifactPath('dashboard-feed.png'), fullPage: true });
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
