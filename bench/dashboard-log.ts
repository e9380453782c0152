/**
 * The dashboard's live log, in headless Chromium against `reprise dashboard` of the built CLI.
 *
 *  (a) A run on local Docker printing --lines numbered lines at full speed, in four bursts, with
 *      its page open while it runs: the page's responsiveness during the stream (setTimeout(0)
 *      lag probe, long tasks, `page.evaluate` round trip and a click), the dashboard server's RSS
 *      (sampled every 200 ms: before, peak, after) against the log's size, the page's DOM at the
 *      end (Chromium's node count, what the log view holds) and whether its last line is the job's.
 *  (b) Per backend: a job printing a line with its own timestamp every 0.5 s for 10 s; a
 *      MutationObserver in the page records when each line appears; latency median and p95.
 *      The timestamp is the kernel's boot clock (/proc/uptime, 10 ms steps): the SLURM and
 *      Kubernetes test clusters run in containers on this same kernel, so job and page share it.
 *
 *   node --import tsx bench/dashboard-log.ts [--lines 100000] [--backends docker,slurm,kubernetes] [--keep]
 *
 * Needs `npm run build`, Docker with local/busybox:latest, Debian's chromium, and for slurm and
 * kubernetes the test clusters (test/infra/.state). Exit 0 when it measured, 1 when it could not.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../test/helpers/browser.js';
import { anyFreePort, binRun, closeSandbox, interrupt, load1, log, mustExec, openSandbox, printAgentLogs, repoRoot, type Sandbox } from './lib.js';

const BUSYBOX = 'local/busybox:latest';
const STATE = join(repoRoot, 'test', 'infra', '.state');
const KINDS = ['docker', 'slurm', 'kubernetes'] as const;
type Kind = (typeof KINDS)[number];
/** The backend name each kind is added under (docker: the default backend). */
const ON: Record<Kind, string[]> = { docker: [], slurm: ['--on', 'hpc'], kubernetes: ['--on', 'k8s'] };

const { values } = parseArgs({ options: { lines: { type: 'string', default: '100000' }, backends: { type: 'string', default: KINDS.join(',') }, keep: { type: 'boolean', default: false } } });
const LINES = Number(values.lines);
const backends = values.backends.split(',').filter(Boolean) as Kind[];
const unknown = backends.filter((b) => !KINDS.includes(b));
if (!Number.isInteger(LINES) || LINES < 2 || unknown.length) {
  process.stderr.write(`usage: node --import tsx bench/dashboard-log.ts [--lines N≥2] [--backends ${KINDS.join(',')}]${unknown.length ? ` (unknown backend ${unknown.join(', ')})` : ''}\n`);
  process.exit(2);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ms = (x: number) => `${x.toFixed(0)} ms`;
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
/** Nearest-rank percentile. */
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)]! : NaN;
};

function readEnvFile(file: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) vars[m[1]!] = m[2]!;
  }
  return vars;
}

/** Resident set of a process, from /proc (bytes; NaN once it is gone). */
async function rss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const m = /^VmRSS:\s+(\d+) kB/m.exec(status);
  return m ? Number(m[1]) * 1024 : NaN;
}

/** Date.now() minus the boot clock, in ms: the smallest of 50 readings (/proc/uptime is cut to 10 ms). */
function bootOffsetMs(): number {
  let best = Infinity;
  for (let i = 0; i < 50; i++) best = Math.min(best, Date.now() - Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * 1000);
  return best;
}

/** `reprise dashboard` on a free port; resolves with its base URL once it prints its login URL. */
async function startDashboard(sb: Sandbox, project: string): Promise<{ child: ChildProcess; base: string }> {
  const port = await anyFreePort();
  const child = spawn(process.execPath, [binRun, 'dashboard', '--port', String(port)], { cwd: project, env: sb.env, stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const seen = (d: Buffer) => {
      out += d;
      if (/dashboard for \S+: http:\S+/.test(out)) resolve();
    };
    child.stdout.on('data', seen);
    child.stderr.on('data', (d: Buffer) => (out += d));
    child.on('exit', (code) => reject(new Error(`dashboard exited ${code}: ${out}`)));
  });
  return { child, base: `http://127.0.0.1:${port}` };
}

async function startDetached(sb: Sandbox, project: string, args: string[]): Promise<string> {
  const r = await mustExec('run --detach', process.execPath, [binRun, 'run', '--detach', ...args], { cwd: project, env: sb.env });
  return /run-[a-z2-7]{12}/.exec(r.stdout)![0];
}

const waitEnded = (page: Page, timeoutMs: number) => page.locator('#log-status', { hasText: 'ended:' }).waitFor({ timeout: timeoutMs });

// --- (a) the 100,000-line run ------------------------------------------------------------------

const BURSTS = 4;

interface Flood {
  logBytes: number;
  streamSeconds: number;
  rssBefore: number;
  rssPeak: number;
  rssAfter: number;
  lag: { max: number; p95: number; n: number };
  longTasks: { n: number; max: number; total: number };
  roundTrip: { max: number; p95: number; n: number };
  click: { max: number; n: number };
  dom: { nodes: number; logChildNodes: number; logChars: number; logLines: number; jsHeap: number };
  lastShown: string;
  lastJob: string;
  status: string;
}

async function flood(sb: Sandbox, project: string, browser: Browser, dashboardPid: number, base: string): Promise<Flood> {
  // Four bursts at full speed, a second apart, so the stream lasts a few seconds however fast the machine.
  const bursts = Array.from({ length: BURSTS }, (_, i) => `seq ${Math.floor((i * LINES) / BURSTS) + 1} ${Math.floor(((i + 1) * LINES) / BURSTS)} | sed 's/^/line /'`);
  // The final sleep: the worker copies the job's output for at most 5 s after it exits, which a loaded machine can miss.
  const script = `sleep 3; ${bursts.join('; sleep 1; ')}; sleep 3`;
  let logBytes = 0;
  for (let i = 1; i <= LINES; i++) logBytes += `line ${i}\n`.length;
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  // Probes from the first script on: a setTimeout(0) loop (lag = how late each turn came) and long tasks.
  // A string, not a function: tsx would wrap named functions in a helper the page does not have.
  await page.addInitScript(`
    window.lag = [];
    window.longTasks = [];
    let last = performance.now();
    const turn = () => { const now = performance.now(); window.lag.push(now - last); last = now; setTimeout(turn, 0); };
    setTimeout(turn, 0);
    new PerformanceObserver((list) => list.getEntries().forEach((e) => window.longTasks.push(e.duration))).observe({ type: 'longtask', buffered: true });
  `);
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable');
  const rssSamples: number[] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      rssSamples.push(await rss(dashboardPid));
      await sleep(200);
    }
  })();
  await sleep(1000);
  const rssBefore = Math.max(...rssSamples);
  const runId = await startDetached(sb, project, ['--', 'sh', '-c', script]);
  log(`flood: ${runId} (${LINES} lines, ${mib(logBytes)}), page open`);
  await page.goto(`${base}/#/runs/${runId}`);
  await page.locator('#log', { hasText: /line \d/ }).waitFor({ timeout: 300_000 });
  const t0 = Date.now();
  await page.evaluate(() => ((window as unknown as { lag: number[] }).lag.length = 0));
  // Round trips and clicks while the log streams, until the page says the run ended.
  const trips: number[] = [];
  const clicks: number[] = [];
  let ended = false;
  const ending = waitEnded(page, 600_000).then(() => (ended = true));
  while (!ended) {
    const t = performance.now();
    await page.evaluate(() => document.querySelectorAll('#log').length);
    trips.push(performance.now() - t);
    if (trips.length % 4 === 0) {
      const c = performance.now();
      await page.locator('#log').click({ timeout: 30_000 });
      clicks.push(performance.now() - c);
    }
    await Promise.race([ending, sleep(250)]);
  }
  const streamSeconds = (Date.now() - t0) / 1000;
  const probes = await page.evaluate(() => {
    const w = window as unknown as { lag: number[]; longTasks: number[] };
    const el = document.querySelector('#log')!;
    const text = el.textContent ?? '';
    const lines = text.split('\n').filter(Boolean);
    return {
      lag: w.lag,
      longTasks: w.longTasks,
      nodes: document.getElementsByTagName('*').length,
      logChildNodes: el.querySelectorAll('*').length + el.childNodes.length,
      logChars: text.length,
      logLines: lines.length,
      lastShown: lines.at(-1) ?? '',
      status: document.querySelector('#log-status')?.textContent ?? '',
    };
  });
  const metrics = Object.fromEntries(((await cdp.send('Performance.getMetrics')) as { metrics: { name: string; value: number }[] }).metrics.map((m) => [m.name, m.value]));
  await sleep(3000);
  sampling = false;
  await sampler;
  const rssAfter = rssSamples.at(-1)!;
  await page.close();
  const real = rssSamples.filter((x) => !Number.isNaN(x));
  return {
    logBytes,
    streamSeconds,
    rssBefore,
    rssPeak: Math.max(...real),
    rssAfter,
    lag: { max: Math.max(...probes.lag), p95: pct(probes.lag, 95), n: probes.lag.length },
    longTasks: { n: probes.longTasks.length, max: probes.longTasks.length ? Math.max(...probes.longTasks) : 0, total: probes.longTasks.reduce((a, b) => a + b, 0) },
    roundTrip: { max: Math.max(...trips), p95: pct(trips, 95), n: trips.length },
    click: { max: clicks.length ? Math.max(...clicks) : NaN, n: clicks.length },
    dom: { nodes: metrics.Nodes ?? probes.nodes, logChildNodes: probes.logChildNodes, logChars: probes.logChars, logLines: probes.logLines, jsHeap: metrics.JSHeapUsedSize ?? NaN },
    lastShown: probes.lastShown,
    lastJob: `line ${LINES}`,
    status: probes.status,
  };
}

// --- (b) line latency per backend ---------------------------------------------------------------

interface Latency {
  kind: Kind;
  seen: number;
  of: number;
  median: number;
  p95: number;
  max: number;
}

const TICKS = 20;

async function latency(sb: Sandbox, project: string, browser: Browser, base: string, kind: Kind): Promise<Latency> {
  const script = `for i in $(seq 1 ${TICKS}); do echo "tick $i $(cut -d' ' -f1 /proc/uptime)"; sleep 0.5; done`;
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  // Installed before the app's script: every change of the page records when each tick line first shows.
  await page.addInitScript(() => {
    const seen: Record<string, [number, number]> = {};
    (window as unknown as { ticks: typeof seen }).ticks = seen;
    new MutationObserver(() => {
      const now = Date.now();
      const text = document.querySelector('#log')?.textContent ?? '';
      for (const m of text.matchAll(/^tick (\d+) ([\d.]+)$/gm)) seen[m[1]!] ??= [Number(m[2]) * 1000, now];
    }).observe(document, { subtree: true, childList: true, characterData: true });
  });
  const runId = await startDetached(sb, project, [...ON[kind], '--', 'sh', '-c', script]);
  log(`${kind}: ${runId}, page open`);
  await page.goto(`${base}/#/runs/${runId}`);
  await waitEnded(page, 1_200_000);
  const status = await page.locator('#log-status').textContent();
  const ticks = await page.evaluate(() => (window as unknown as { ticks: Record<string, [number, number]> }).ticks);
  await page.close();
  const offset = bootOffsetMs();
  const lat = Object.values(ticks).map(([bootMs, shown]) => shown - (bootMs + offset));
  if (!lat.length) throw new Error(`${kind}: no tick line was seen in the page (${status})`);
  const s = [...lat].sort((a, b) => a - b);
  return { kind, seen: lat.length, of: TICKS, median: pct(s, 50), p95: pct(s, 95), max: s.at(-1)! };
}

// --- main ----------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const sb = await openSandbox('dashlog');
  const project = join(sb.work, 'dashlog');
  const onSignal = () => interrupt();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let browser: Browser | undefined;
  let dashboard: ChildProcess | undefined;
  const loads = [load1()];
  try {
    const cli = (what: string, args: string[]) => mustExec(what, process.execPath, [binRun, ...args], { env: sb.env, cwd: project });
    await mustExec('init', process.execPath, [binRun, 'init', project, '--name', 'dashlog', '--base', BUSYBOX], { env: sb.env });
    if (backends.includes('slurm')) {
      const s = readEnvFile(join(STATE, 'slurm.env'));
      await cli('backend add hpc', ['backend', 'add', 'hpc', '--kind', 'slurm', '--host', s.SLURM_SSH_HOST!, '--port', s.SLURM_SSH_PORT!, '--user', s.SLURM_SSH_USER!,
        '--identity-file', s.SLURM_SSH_IDENTITY!, '--known-hosts-file', s.SLURM_SSH_KNOWN_HOSTS!, '--partition', s.SLURM_PARTITION!, '--workdir', `~/reprise-bench-dashlog-${Date.now()}`]);
    }
    if (backends.includes('kubernetes')) {
      const k = readEnvFile(join(STATE, 'kubernetes.env'));
      await cli('backend add k8s', ['backend', 'add', 'k8s', '--kind', 'kubernetes', '--kubeconfig', k.KUBECONFIG!, '--context', k.K8S_CONTEXT!, '--namespace', k.K8S_NAMESPACE!,
        '--registry', `${k.K8S_REGISTRY}/reprise-bench-dashlog`]);
    }
    await cli('agent start', ['agent', 'start']);
    const started = await startDashboard(sb, project);
    dashboard = started.child;
    browser = await launchChromium();
    const f = await flood(sb, project, browser, dashboard.pid!, started.base);
    loads.push(load1());
    const lats: Latency[] = [];
    for (const kind of backends) {
      lats.push(await latency(sb, project, browser, started.base, kind));
      loads.push(load1());
    }

    const bounded = f.lastShown === f.lastJob;
    console.log(`\nDashboard live log (${new Date().toISOString()}, 1-min load ${loads.map((l) => l.toFixed(1)).join(' → ')})\n`);
    console.log(`(a) ${LINES} lines (${mib(f.logBytes)}) on local Docker in ${BURSTS} bursts a second apart, page open while they stream (${f.streamSeconds.toFixed(1)} s from the first line shown to "ended")\n`);
    console.log('| measure | value |\n|---|---:|');
    console.log(`| dashboard server RSS before / peak / after | ${mib(f.rssBefore)} / ${mib(f.rssPeak)} / ${mib(f.rssAfter)} |`);
    console.log(`| RSS growth at peak against the log's size | ${mib(f.rssPeak - f.rssBefore)} for ${mib(f.logBytes)} (×${((f.rssPeak - f.rssBefore) / f.logBytes).toFixed(2)}) |`);
    console.log(`| page: setTimeout(0) turn, p95 / max (${f.lag.n} turns) | ${ms(f.lag.p95)} / ${ms(f.lag.max)} |`);
    console.log(`| page: long tasks (> 50 ms): count, longest, total | ${f.longTasks.n}, ${ms(f.longTasks.max)}, ${ms(f.longTasks.total)} |`);
    console.log(`| page.evaluate round trip, p95 / max (${f.roundTrip.n}) | ${ms(f.roundTrip.p95)} / ${ms(f.roundTrip.max)} |`);
    console.log(`| click on the log, max (${f.click.n}) | ${ms(f.click.max)} |`);
    console.log(`| DOM at the end: Chromium's node count; nodes inside the log view | ${f.dom.nodes}; ${f.dom.logChildNodes} |`);
    console.log(`| log view holds (characters, lines) | ${f.dom.logChars}, ${f.dom.logLines} of ${LINES} |`);
    console.log(`| JS heap used at the end | ${mib(f.dom.jsHeap)} |`);
    console.log(`| last line shown = job's last line | ${bounded ? 'yes' : 'NO'} ("${f.lastShown}" vs "${f.lastJob}"; status: ${f.status}) |`);
    console.log(`\n(b) a line every 0.5 s (${TICKS} lines): time from the job's timestamp to the line in the page (MutationObserver).`);
    console.log('    Clock: the kernel boot clock (/proc/uptime, 10 ms steps); the Docker job, the SLURM and the Kubernetes test clusters all run on this host\'s kernel, so job and page share it.\n');
    console.log('| backend | lines seen | median | p95 | max |\n|---|---:|---:|---:|---:|');
    for (const l of lats) console.log(`| ${l.kind} | ${l.seen}/${l.of} | ${ms(l.median)} | ${ms(l.p95)} | ${ms(l.max)} |`);
    const docker = lats.find((l) => l.kind === 'docker');
    if (docker) for (const l of lats.filter((x) => x !== docker)) console.log(`\n${l.kind}/docker median latency: ×${(l.median / docker.median).toFixed(1)}`);
    return 0;
  } catch (err) {
    process.stderr.write(`bench failed: ${(err as Error).message}\n`);
    await printAgentLogs(sb);
    return 1;
  } finally {
    await browser?.close();
    dashboard?.kill('SIGINT');
    await closeSandbox(sb, values.keep);
  }
}

process.exitCode = await main();
