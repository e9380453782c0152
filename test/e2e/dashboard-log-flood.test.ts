import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { KEEP_LINES } from '../../src/dashboard/web/log-tail.js';
import { Cli, cliEnv } from '../helpers/cli.js';
import { tempDir } from '../helpers/project.js';
import { BUSYBOX, requireDocker } from '../helpers/docker.js';
import { artifactPath, launchChromium } from '../helpers/browser.js';
import { startDashboard } from '../helpers/dashboard.js';

// A run printing 100,000 lines, its page open while they stream: the page keeps its last lines.
const LINES = 100_000;
let cli: Cli;
let root: string;
let server: ChildProcess | undefined;
let base: string;
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];

beforeAll(async () => {
  requireDocker();
  const work = await tempDir('reprise-dashflood-');
  cli = new Cli(await cliEnv(await tempDir('reprise-dashflood-home-')));
  expect((await cli.run(['init', 'flood', '--name', 'flood', '--base', BUSYBOX], work)).code).toBe(0);
  root = join(work, 'flood');
  ({ server, base } = await startDashboard((args) => cli.spawn(args, root), 'flood'));
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('pageerror', (e) => pageErrors.push(e.message));
}, 600_000);

afterAll(async () => {
  await browser?.close();
  server?.kill('SIGINT');
  await cli?.run(['agent', 'stop'], root);
});

/** The numbered lines the log view holds. */
const shownLines = async () => ((await page.locator('#log').textContent()) ?? '').split('\n').filter(Boolean);

describe('the live log of a run printing 100,000 lines', () => {
  it('keeps at most KEEP_LINES lines in the page, ends on the job\'s last line, and says how many came before', async () => {
    const half = LINES / 2;
    const r = await cli.run(['run', '--detach', '--', 'sh', '-c', `sleep 2; seq 1 ${half} | sed 's/^/line /'; sleep 1; seq ${half + 1} ${LINES} | sed 's/^/line /'`], root);
    expect(r.code, r.stderr).toBe(0);
    const runId = /run-[a-z2-7]{12}/.exec(r.stdout)![0];
    await page.goto(`${base}/#/runs/${runId}`);
    await page.locator('#log', { hasText: 'line ' }).waitFor({ timeout: 120_000 });
    await page.locator('#log-status', { hasText: 'ended: succeeded' }).waitFor({ timeout: 300_000 });
    const live = await shownLines();
    expect(live.length).toBeLessThanOrEqual(KEEP_LINES);
    expect(live.at(-1)).toBe(`line ${LINES}`);
    // What is kept is whole lines, in order, up to the last (a line the server let go under pressure would show as its marker).
    const numbers = live.map((l) => Number(/^line (\d+)$/.exec(l)?.[1]));
    expect(numbers.every((n, i) => Number.isInteger(n) && (i === 0 || n > numbers[i - 1]!))).toBe(true);
    expect(await page.locator('#log-dropped').textContent()).toMatch(new RegExp(`^\\d+ earlier lines are not kept on this page; the whole log: reprise logs ${runId}$`));
    await page.screenshot({ path: artifactPath('dashboard-log-flood.png'), fullPage: true });

    // The recorded run, opened afresh: the same tail, exactly, and the exact count of the lines before it.
    await page.goto('about:blank');
    await page.goto(`${base}/#/runs/${runId}`);
    await page.locator('#log-status', { hasText: 'ended: succeeded' }).waitFor({ timeout: 60_000 });
    const recorded = await shownLines();
    expect(recorded).toEqual(Array.from({ length: KEEP_LINES }, (_, i) => `line ${LINES - KEEP_LINES + i + 1}`));
    expect(await page.locator('#log-dropped').textContent()).toBe(`${LINES - KEEP_LINES} earlier lines are not kept on this page; the whole log: reprise logs ${runId}`);
    expect(pageErrors).toEqual([]);
  });
});
