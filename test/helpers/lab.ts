// A lab session driven as a user would, on any backend: `reprise lab --json` in the background,
// a real Jupyter client through its tunnel (REST + kernel websocket), then `reprise lab stop`,
// and what the project's history holds afterwards.
import { execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cli, cliEnv, collect, type CliResult } from './cli.js';
import { tempDir } from './project.js';
import { JupyterClient } from './jupyter-client.js';
import type { LabView } from '../../src/project/lab-history.js';

export interface LabHandle {
  labId: string;
  url: string;
  port: number;
  token: string;
  base: string;
  process: ChildProcess;
  done: Promise<CliResult>;
  /** Everything the process wrote so far (its stdout and stderr together). */
  output: () => string;
  /** The session's result, as `--json` prints it when the process ends (after the ready line). */
  result: () => Promise<{ state: string; reason?: string; exitCode?: number; checkpoints: number; executions: number }>;
}

/** Start `reprise lab --json` and wait for its ready line (the lab answers through the tunnel). */
export async function startLab(cli: Cli, root: string, args: string[], timeoutMs = 600_000): Promise<LabHandle> {
  const child = cli.spawn(['lab', '--json', '--port', '0', ...args], root);
  let text = '';
  let stdout = '';
  child.stdout!.on('data', (d: Buffer) => ((text += d), (stdout += d)));
  child.stderr!.on('data', (d: Buffer) => (text += d));
  const done = collect(child);
  const until = Date.now() + timeoutMs;
  for (;;) {
    const line = text.split('\n').find((l) => l.startsWith('{"labId"'));
    if (line) {
      const ready = JSON.parse(line) as { labId: string; url: string; port: number };
      const url = new URL(ready.url);
      const result = async () => {
        await done;
        const rest = stdout.slice(stdout.indexOf('\n') + 1).trim();
        if (!rest) throw new Error(`reprise lab printed no result:\n${text}`);
        return JSON.parse(rest) as Awaited<ReturnType<LabHandle['result']>>;
      };
      return { ...ready, token: url.searchParams.get('token')!, base: `${url.protocol}//${url.host}/`, process: child, done, output: () => text, result };
    }
    if (child.exitCode !== null) throw new Error(`reprise lab exited ${child.exitCode} before it was ready:\n${text}`);
    if (Date.now() > until) {
      child.kill('SIGINT');
      throw new Error(`reprise lab not ready after ${timeoutMs / 1000}s:\n${text}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The lab's checkpoint commits so far (newest first). */
export function labCommits(root: string, labId: string): string[] {
  return execFileSync('git', ['log', '--format=%H', `--grep=^Reprise-Lab: ${labId}$`], { cwd: root, encoding: 'utf8' }).split('\n').filter(Boolean);
}

export async function waitFor<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

export const NOTEBOOK = {
  cells: [{ cell_type: 'code', source: "print('from the notebook')", metadata: {}, outputs: [], execution_count: null }],
  metadata: { kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' } },
  nbformat: 4,
  nbformat_minor: 5,
};

/**
 * The whole session the issue asks for: a notebook saved through the contents API, cells that
 * print, fail, write output/x.csv and draw a PNG; a checkpoint while it runs; then stop, and the
 * commits, the record of executions and the files checked.
 */
export async function exerciseLab(cli: Cli, root: string, lab: LabHandle): Promise<LabView> {
  const jupyter = new JupyterClient(lab.base, lab.token);
  try {
    await jupyter.status();
    await jupyter.contents.put('code/analysis.ipynb', { type: 'notebook', format: 'json', content: NOTEBOOK } as never);
    const kernel = await jupyter.startKernel();
    const hi = await jupyter.execute(kernel, "print('hi from the lab')");
    expect(hi.status).toBe('ok');
    const boom = await jupyter.execute(kernel, '1/0');
    expect(boom.status).toBe('error');
    const csv = await jupyter.execute(kernel, "open('/project/output/x.csv', 'w').write('a,b\\n1,2\\n')");
    expect(csv.status).toBe('ok');
    const plot = await jupyter.execute(kernel, 'import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()', { timeoutMs: 180_000 });
    expect(plot.status, JSON.stringify(plot.outputs).slice(0, 500)).toBe('ok');
    expect(plot.outputs.some((o) => o.data && 'image/png' in o.data)).toBe(true);
    // A checkpoint while the session goes on brings the notebook and the cells back.
    await waitFor('a checkpoint with the notebook', () => {
      const head = labCommits(root, lab.labId)[0];
      return head && existsSync(join(root, 'code/analysis.ipynb')) ? head : undefined;
    });
  } finally {
    await jupyter.close();
  }
  const stop = await cli.run(['lab', 'stop', lab.labId], root);
  expect(stop.code, stop.stderr + stop.stdout).toBe(0);
  expect(stop.stdout).toMatch(new RegExp(`lab ${lab.labId} stopped`));
  const ended = await lab.done;
  expect(ended.code, lab.output()).toBe(0);

  const view = JSON.parse((await cli.run(['show', lab.labId, '--json'], root)).stdout) as LabView;
  expect(view.state).toBe('stopped');
  const cells = view.executions.map((e) => [e.code.split('\n')[0], e.status]);
  expect(cells).toEqual([
    ["print('hi from the lab')", 'ok'],
    ['1/0', 'error'],
    ["open('/project/output/x.csv', 'w').write('a,b\\n1,2\\n')", 'ok'],
    ['import matplotlib.pyplot as plt', 'ok'],
  ]);
  expect(view.executions[0]!.stdout).toBe('hi from the lab\n');
  expect(view.executions[1]!.error).toMatch(/ZeroDivisionError/);
  const png = view.executions[3]!.images[0]!;
  expect(png).toMatch(new RegExp(`^\\.reprise/activity/${lab.labId}/.+\\.png$`));
  expect(readFileSync(join(root, png)).subarray(0, 4)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47]));
  expect(readFileSync(join(root, 'output/x.csv'), 'utf8')).toBe('a,b\n1,2\n');
  expect(JSON.stringify(JSON.parse(readFileSync(join(root, 'code/analysis.ipynb'), 'utf8')).cells[0].source)).toContain('from the notebook');
  expect(view.files.map((f) => f.path)).toEqual(expect.arrayContaining(['code/analysis.ipynb', 'output/x.csv']));
  // Every checkpoint is a commit with the lab's trailers; the working tree is clean.
  expect(labCommits(root, lab.labId).length).toBe(view.commits.length);
  expect(execFileSync('git', ['status', '--porcelain'], { cwd: root, encoding: 'utf8' })).toBe('');
  const log = await cli.run(['log'], root);
  expect(log.stdout).toContain(`${lab.labId}  stopped`);
  return view;
}

/** Every established TCP connection process `pid` holds to port `port`, killed with `ss -K`; how many there were. */
export function cutConnections(pid: number, port: number): number {
  const ss = (args: string[]) => execFileSync('ss', args, { encoding: 'utf8' });
  const lines = ss(['-tnpH', 'state', 'established', 'dport', '=', `:${port}`]).split('\n');
  const ports = lines.filter((l) => l.includes(`pid=${pid},`)).map((l) => /:(\d+)\s+\S+:\d+\s/.exec(l)?.[1]).filter((p): p is string => Boolean(p));
  for (const p of ports) ss(['-K', 'dport', '=', `:${port}`, 'sport', '=', `:${p}`]);
  return ports.length;
}

export const PYTHON_BASE = 'local/debian-python:bookworm';

/** A project whose image has Python with matplotlib from PyPI (as the main job's example): what a lab needs. */
export async function makeLabProject(cli: Cli, work: string, name: string): Promise<string> {
  const init = await cli.run(['init', name, '--name', name, '--base', PYTHON_BASE], work);
  if (init.code !== 0) throw new Error(`init failed: ${init.stderr}`);
  const root = join(work, name);
  for (const add of [['apt', 'python3-pip'], ['pip', 'matplotlib==3.9.2']]) {
    const r = await cli.run(['env', 'add', ...add], root);
    if (r.code !== 0) throw new Error(`env add ${add.join(' ')} failed: ${r.stderr}`);
  }
  return root;
}

/**
 * The lab on a cluster backend, driven through the built CLI: the whole session (exerciseLab),
 * then the cluster-side faults: the session's job killed on the cluster (`kill()`), with the
 * files saved before it kept. `cut()` drops the tunnel's transport mid-session (SSH connection,
 * port-forward) and the next request must go through again.
 */
export function describeClusterLab(name: string, kind: string, addFlags: () => string[], faults: { kill: (labId: string) => void; cutPort?: () => number }): void {
  let cli: Cli;
  let root: string;

  beforeAll(async () => {
    cli = new Cli(await cliEnv(await tempDir(`reprise-${name}-lab-home-`)));
    const add = await cli.run(['backend', 'add', name, '--kind', kind, ...addFlags()], '/');
    expect(add.code, add.stderr).toBe(0);
    root = await makeLabProject(cli, await tempDir(`reprise-${name}-lab-`), 'lab');
  }, 900_000);

  afterAll(async () => {
    await cli?.run(['agent', 'stop'], root ?? '/');
  });

  describe(`reprise lab on ${kind}`, () => {
    it('opens JupyterLab in a job, tunnelled here; cells, files and images recorded; a cut tunnel comes back', async () => {
      const lab = await startLab(cli, root, ['--on', name, '--checkpoint-every', '5s']);
      console.log(`lab screenshot: ${screenshotLab(lab.url, `lab-${kind}`)}`);
      if (faults.cutPort) {
        const j = new JupyterClient(lab.base, lab.token);
        await j.status();
        expect(cutConnections(lab.process.pid!, faults.cutPort()), 'the tunnel holds a connection to cut').toBeGreaterThan(0);
        // The first request after the cut may fail; the tunnel opens a new stream for the next.
        await waitFor('Jupyter through a new stream', () => j.status().then(() => true, () => undefined), 60_000);
        await j.close();
      }
      const view = await exerciseLab(cli, root, lab);
      expect(view.backend).toMatchObject({ name, kind });
    }, 1_800_000);

    it('has its job killed on the cluster: ends failed with the reason, and the files saved before are kept', async () => {
      const lab = await startLab(cli, root, ['--on', name, '--checkpoint-every', '5s']);
      const j = new JupyterClient(lab.base, lab.token);
      const kernel = await j.startKernel();
      expect((await j.execute(kernel, "open('/project/output/before-kill.txt', 'w').write('kept')")).status).toBe('ok');
      await j.close();
      // At least one checkpoint has it: what a killed job's node may no longer give back.
      await waitFor('a checkpoint with the file', () => (existsSync(join(root, 'output/before-kill.txt')) ? true : undefined));
      faults.kill(lab.labId);
      const ended = await lab.done;
      expect(ended.code, lab.output()).toBe(1);
      expect(await lab.result()).toMatchObject({ state: 'failed' });
      expect(readFileSync(join(root, 'output/before-kill.txt'), 'utf8')).toBe('kept');
      const view = JSON.parse((await cli.run(['show', lab.labId, '--json'], root)).stdout) as LabView;
      expect(view.state).toBe('failed');
      expect(view.executions).toHaveLength(1);
    }, 1_800_000);
  });
}

/**
 * Debian's headless Chromium opens the lab through its tunnel and keeps a screenshot (a test
 * artifact: $REPRISE_TEST_ARTIFACTS or the temp dir); returns its path. The page's DOM must show
 * JupyterLab's shell, so a login page or an error does not pass.
 */
export function screenshotLab(url: string, name: string): string {
  const dir = process.env.REPRISE_TEST_ARTIFACTS ?? join(tmpdir(), 'reprise-test-artifacts');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.png`);
  const flags = ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', '--window-size=1280,800', '--virtual-time-budget=30000', '--user-data-dir=' + join(dir, `.chromium-${name}`)];
  const dom = execFileSync('chromium', [...flags, '--dump-dom', url], { encoding: 'utf8', timeout: 180_000, stdio: ['ignore', 'pipe', 'ignore'] });
  expect(dom).toMatch(/jp-LabShell/);
  execFileSync('chromium', [...flags, `--screenshot=${file}`, url], { timeout: 180_000, stdio: 'ignore' });
  const png = readFileSync(file);
  expect(png.subarray(0, 4)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47]));
  expect(png.length, 'a rendered page, not a blank one').toBeGreaterThan(20_000);
  return file;
}
