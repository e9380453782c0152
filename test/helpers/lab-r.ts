// An R session in the lab, on any backend: the project's environment gets R and IRkernel from
// Debian's packages; JupyterLab's launcher must list the R kernel (seen by headless Chromium),
// and the cells an R kernel runs (a print, an error, a plot) must be recorded as Python's are.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { Cli } from './cli.js';
import { artifactPath, launchChromium } from './browser.js';
import { JupyterClient } from './jupyter-client.js';
import { PYTHON_BASE, type LabHandle } from './lab.js';
import type { LabView } from '../../src/project/lab-history.js';

/** Debian's R and IRkernel next to the Python JupyterLab needs (the image is reused by its environment hash). */
export function makeRLabProject(cli: Cli, work: string, name: string): Promise<string> {
  return makeProject(cli, work, name, ['python3-pip', 'r-base-core', 'r-cran-irkernel']);
}

export async function makeProject(cli: Cli, work: string, name: string, apt: string[]): Promise<string> {
  const init = await cli.run(['init', name, '--name', name, '--base', PYTHON_BASE], work);
  if (init.code !== 0) throw new Error(`init failed: ${init.stderr}`);
  const root = join(work, name);
  for (const pkg of apt) {
    const r = await cli.run(['env', 'add', 'apt', pkg], root);
    if (r.code !== 0) throw new Error(`env add apt ${pkg} failed: ${r.stderr}`);
  }
  return root;
}

/** The launcher, in Chromium through the tunnel, lists a notebook card named "R"; a screenshot of it is kept. */
export async function launcherShowsR(lab: LabHandle, name: string): Promise<string> {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(lab.url);
    const card = page.locator('.jp-Launcher .jp-LauncherCard[data-category="Notebook"]', { has: page.locator('.jp-LauncherCard-label', { hasText: /^R$/ }) });
    await card.first().waitFor({ timeout: 120_000 });
    const labels = await page.locator('.jp-Launcher .jp-LauncherCard[data-category="Notebook"] .jp-LauncherCard-label').allInnerTexts();
    expect(labels.map((l) => l.trim())).toEqual(expect.arrayContaining(['R']));
    const file = artifactPath(`${name}.png`);
    await page.screenshot({ path: file });
    expect(readFileSync(file).subarray(0, 4)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47]));
    return file;
  } finally {
    await browser.close();
  }
}

export const R_CELLS = ['cat("hello from R\\n")', 'stop("boom in R")', 'plot(1:10, main = "a plot from R")', 'cat("after a restart\\n")'];

/**
 * Runs the R cells through the R kernel (the first at once after the kernel starts, the last at
 * once after it restarts: a recorder that joined the kernel's IOPub late would miss them), stops
 * the lab, and checks what its record holds.
 */
export async function exerciseRLab(cli: Cli, root: string, lab: LabHandle): Promise<LabView> {
  const jupyter = new JupyterClient(lab.base, lab.token);
  try {
    const kernel = await jupyter.startKernel('ir');
    const hi = await jupyter.execute(kernel, R_CELLS[0]!, { timeoutMs: 120_000 });
    expect(hi.status).toBe('ok');
    expect(hi.outputs.filter((o) => o.type === 'stream').map((o) => o.text).join('')).toBe('hello from R\n');
    const boom = await jupyter.execute(kernel, R_CELLS[1]!);
    expect(boom.status).toBe('error');
    const plot = await jupyter.execute(kernel, R_CELLS[2]!, { timeoutMs: 120_000 });
    expect(plot.status, JSON.stringify(plot.outputs).slice(0, 500)).toBe('ok');
    expect(plot.outputs.some((o) => o.data && 'image/png' in o.data)).toBe(true);
    await jupyter.restartKernel(kernel);
    const again = await jupyter.execute(kernel, R_CELLS[3]!, { timeoutMs: 120_000 });
    expect(again.status).toBe('ok');
  } finally {
    await jupyter.close();
  }
  const stop = await cli.run(['lab', 'stop', lab.labId], root);
  expect(stop.code, stop.stderr + stop.stdout).toBe(0);
  const ended = await lab.done;
  expect(ended.code, lab.output()).toBe(0);

  const view = JSON.parse((await cli.run(['show', lab.labId, '--json'], root)).stdout) as LabView;
  expect(view.state).toBe('stopped');
  expect(view.executions.map((e) => [e.code, e.status, e.n])).toEqual([
    [R_CELLS[0], 'ok', 1],
    [R_CELLS[1], 'error', 2],
    [R_CELLS[2], 'ok', 3],
    [R_CELLS[3], 'ok', 1],
  ]);
  const [hi, boom, plot] = view.executions;
  expect(hi!.stdout).toBe('hello from R\n');
  expect(boom!.error).toMatch(/boom in R/);
  expect(plot!.images.length).toBeGreaterThan(0);
  const png = plot!.images.find((i) => i.endsWith('.png'));
  expect(png, JSON.stringify(plot!.images)).toMatch(new RegExp(`^\\.reprise/activity/${lab.labId}/.+\\.png$`));
  expect(readFileSync(join(root, png!)).subarray(0, 4)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47]));
  return view;
}
