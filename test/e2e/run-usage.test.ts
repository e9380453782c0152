import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { Cli, cliEnv, freePort } from '../helpers/cli.js';
import { tempDir } from '../helpers/project.js';
import { BUSYBOX, requireDocker } from '../helpers/docker.js';
import { artifactPath, launchChromium } from '../helpers/browser.js';
import type { RunRecord } from '../../src/project/run-record.js';

// What a Docker run used, measured by the engine: recorded, shown by `reprise show` and on the
// dashboard's Run view, through the built CLI.
let cli: Cli;
let work: string;
let home: string;
let root: string;
let server: ChildProcess | undefined;
let browser: Browser | undefined;

beforeAll(async () => {
  requireDocker();
  work = await tempDir('reprise-usage-');
  home = await tempDir('reprise-usage-home-');
  cli = new Cli(await cliEnv(home));
  expect((await cli.run(['init', 'usage', '--name', 'usage', '--base', BUSYBOX], work)).code).toBe(0);
  root = join(work, 'usage');
  // Busy for 2 to 3 s of wall time (whole seconds by date), all of it on the CPU.
  // At its end it prints the container's own CPU total (cgroup v1 cpuacct, ns) to check the record against.
  await writeFile(join(root, 'code/burn.sh'), 's=$(date +%s); while [ $(( $(date +%s) - s )) -lt 3 ]; do :; done; echo "burnt $(cat /sys/fs/cgroup/cpuacct/cpuacct.usage 2>/dev/null)"\n');
}, 300_000);

afterAll(async () => {
  await browser?.close();
  server?.kill('SIGINT');
  await cli?.run(['agent', 'stop'], root);
  await rm(work, { recursive: true, force: true });
  await rm(home, { recursive: true, force: true });
});

describe('the built CLI on Docker: what a run used', { timeout: 300_000 }, () => {
  let runId = '';
  let record: RunRecord;

  it('a run that burns CPU for 2-3 s records its wall time, CPU time, core-hours and peak memory from docker stats', async () => {
    const r = await cli.run(['run', '--', 'sh', 'code/burn.sh'], root);
    expect(r.code, r.stderr).toBe(0);
    const inside = /^burnt (\d*)$/m.exec(r.stdout);
    expect(inside, r.stdout).not.toBeNull();
    runId = (await cli.json<{ runId: string }[]>(['log'], root))[0]!.runId;
    record = await cli.json<RunRecord>(['show', runId], root);
    const used = record.used!;
    expect(used.source).toBe('docker stats');
    expect(used.wallSeconds).toBeGreaterThanOrEqual(2);
    expect(used.wallSeconds).toBeLessThan(30);
    // On a shared machine the burn gets what CPU it can: some, always.
    expect(used.cpuSeconds).toBeGreaterThan(0.1);
    expect(used.cpuSeconds!).toBeLessThanOrEqual(used.wallSeconds * 2 + 1);
    expect(used.coreHours).toBeGreaterThan(0);
    expect(used.coreHours).toBeCloseTo(used.cpuSeconds! / 3600, 5);
    expect(used.gpuHours).toBeUndefined();
    expect(used.peakMemoryBytes).toBeGreaterThan(0);
    if (inside![1]) {
      // Against the job's own reading a moment before its end: the engine's last sample is at most ~1 s older.
      const insideSeconds = Number(inside![1]) / 1e9;
      expect(used.cpuSeconds!).toBeLessThanOrEqual(insideSeconds + 0.1);
      expect(used.cpuSeconds!).toBeGreaterThanOrEqual(insideSeconds - 2.1);
      console.log(`docker cpu: recorded ${used.cpuSeconds} s, the job's own cgroup ${insideSeconds.toFixed(3)} s at its end`);
    }
    // The committed record is the same file show read.
    const committed = JSON.parse(execFileSync('git', ['show', `HEAD:.reprise/activity/${runId}.json`], { cwd: root, encoding: 'utf8' })) as RunRecord;
    expect(committed.used).toEqual(used);
    console.log(`docker usage: ${JSON.stringify(used)}`);
  });

  it('reprise show prints the figures on one line', async () => {
    const shown = await cli.run(['show', runId], root);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/^used {7}wall \d+(\.\d)?s · cpu \d+(\.\d)?s · [\d.e-]+ core-h · peak [\d.]+ (B|KiB|MiB|GiB) \(docker stats\)$/m);
  });

  it('a cancelled run records what its job used until the cancel', async () => {
    const started = await cli.run(['run', '--detach', '--', 'sh', '-c', 'while :; do :; done'], root);
    expect(started.code, started.stderr).toBe(0);
    const cancelledId = started.stdout.trim();
    for (let i = 0; i < 120; i++) {
      const rows = await cli.json<{ runId: string; state: string }[]>(['runs'], root);
      if (rows.some((row) => row.runId === cancelledId && row.state === 'running')) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    await new Promise((r) => setTimeout(r, 3000));
    const cancel = await cli.run(['cancel', cancelledId], root);
    expect(cancel.code, cancel.stderr).toBe(0);
    let cancelled: RunRecord | undefined;
    for (let i = 0; i < 120 && !cancelled; i++) {
      const entry = (await cli.json<{ runId: string }[]>(['log'], root)).find((e) => e.runId === cancelledId);
      if (entry) cancelled = await cli.json<RunRecord>(['show', cancelledId], root);
      else await new Promise((r) => setTimeout(r, 500));
    }
    expect(cancelled).toMatchObject({ state: 'cancelled', exitCode: 130 });
    expect(cancelled!.used).toMatchObject({ source: 'docker stats' });
    expect(cancelled!.used!.wallSeconds).toBeGreaterThanOrEqual(2);
    expect(cancelled!.used!.cpuSeconds).toBeGreaterThan(0.1);
    console.log(`docker usage of a cancelled run: ${JSON.stringify(cancelled!.used)}`);
  });

  it("the dashboard's Run view shows what was used", async () => {
    const port = await freePort();
    server = cli.spawn(['dashboard', '--port', String(port)], root);
    await new Promise<void>((resolve, reject) => {
      let out = '';
      server!.stdout!.on('data', (d: Buffer) => {
        out += d;
        if (/dashboard for usage: http:/.test(out)) resolve();
      });
      server!.on('exit', (code) => reject(new Error(`dashboard exited ${code}`)));
    });
    browser = await launchChromium();
    // bypassCSP: axe-core is evaluated in the page, which the page's CSP (script-src 'self') would refuse.
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, bypassCSP: true });
    await page.goto(`http://127.0.0.1:${port}/#/runs/${runId}`);
    await page.locator('#used-core-hours').waitFor({ timeout: 30_000 });
    expect(await page.locator('#core-hours').textContent()).toBe('no cpus asked');
    expect(await page.locator('#used').textContent()).toBe('docker stats');
    expect(await page.locator('#used-wall').textContent()).toBe(`${record.used!.wallSeconds.toFixed(1)} s`);
    expect(await page.locator('#used-cpu').textContent()).toBe(`${record.used!.cpuSeconds!.toFixed(1)} s`);
    expect(await page.locator('#used-core-hours').textContent()).toMatch(/^0\.000\d+ h$/);
    expect(await page.locator('#used-memory').textContent()).toMatch(/^[\d.]+ (B|KiB|MiB|GiB)$/);
    expect(await page.locator('#used-gpu-hours').count()).toBe(0);
    await page.evaluate(readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8'));
    const violations = await page.evaluate(async () => {
      const axe = (window as unknown as { axe: { run: (ctx: string) => Promise<{ violations: { id: string; impact: string }[] }> } }).axe;
      return (await axe.run('#resources')).violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => v.id);
    });
    expect(violations).toEqual([]);
    await page.screenshot({ path: artifactPath('dashboard-run-used.png'), fullPage: true });
  });
});
