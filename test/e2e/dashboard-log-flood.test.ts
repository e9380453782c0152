import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { get, type IncomingMessage } from 'node:http';
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
    // What is kept is whole lines, in order, up to the last (text the server let go under pressure shows as its marker).
    const numbers = live.filter((l) => !l.startsWith('[…')).map((l) => Number(/^line (\d+)$/.exec(l)?.[1]));
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

  it('a reader that falls behind still gets the last line: the server lets the oldest waiting text go, with a marker', async () => {
    const lines = 1_000_000;
    // A last burst of ~0.6 MB: it fits in what the server may keep waiting (1 MB), whole, whatever came before.
    const last = 60_000;
    const r = await cli.run(['run', '--detach', '--', 'sh', '-c', `sleep 2; seq 1 ${lines} | sed 's/^/line /'; sleep 10; seq 1 ${last} | sed 's/^/end /'`], root);
    expect(r.code, r.stderr).toBe(0);
    const runId = /run-[a-z2-7]{12}/.exec(r.stdout)![0];
    const res = await new Promise<IncomingMessage>((resolve, reject) => get(`${base}/api/runs/${runId}/log/stream`, resolve).on('error', reject));
    let raw = '';
    res.setEncoding('utf8');
    res.on('data', (d: string) => (raw += d));
    // Not read while the whole log is written and the run recorded: 11 MB wait on the server side.
    res.pause();
    await vi.waitFor(async () => expect(((await (await fetch(`${base}/api/runs/${runId}`)).json()) as { recorded?: boolean }).recorded).toBe(true), { timeout: 300_000, interval: 500 });
    res.resume();
    await new Promise((resolve) => res.on('end', resolve));
    const events = raw.split('\n\n').filter(Boolean).map((e) => ({ event: /^event: (.*)$/m.exec(e)?.[1], data: /^data: (.*)$/m.exec(e)?.[1] ?? '' }));
    expect(events.at(-1)).toMatchObject({ event: 'end' });
    expect(JSON.parse(events.at(-1)!.data)).toMatchObject({ state: 'succeeded' });
    const text = events.filter((e) => e.event === 'log').map((e) => JSON.parse(e.data) as string).join('');
    const got = text.split('\n').filter(Boolean);
    // The job sleeps before its last burst so that the worker's copy of the flood (given 5 s after the job exits) is done by then.
    expect(got.slice(-last)).toEqual(Array.from({ length: last }, (_, i) => `end ${i + 1}`));
    expect(text.length).toBeLessThan(lines * 8);
    expect(got.filter((l) => /^\[… \d+ bytes not shown while following; the whole log is in the record …\]$/.test(l)).length).toBeGreaterThan(0);
    // Every other line is a whole numbered line, in order (but the one a marker cut short).
    const numbers = got.slice(0, -last).filter((l, i) => !l.startsWith('[…') && !got[i + 1]?.startsWith('[…')).map((l) => Number(/^line (\d+)$/.exec(l)?.[1]));
    expect(numbers.every((n, i) => Number.isInteger(n) && (i === 0 || n > numbers[i - 1]!))).toBe(true);
  });
});
