// `reprise lab --app vscode` on local Docker, driven through the built CLI: code-server (Node 24
// from PyPI, code-server from npm) in a lab image of its own, reached through the lab's tunnel
// with the lab's token as its password; headless Chromium logs in, sees the workbench, opens a
// file and saves an edit; the next checkpoint records it; stop. Then `--app rstudio` on an
// image without RStudio Server: one line, exit 2, nothing changed.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cli, cliEnv, collect } from '../helpers/cli.js';
import { requireDocker } from '../helpers/docker.js';
import { artifactPath, launchChromium } from '../helpers/browser.js';
import { labCommits, makeLabProject, waitFor } from '../helpers/lab.js';
import { git, repoState, tempDir } from '../helpers/project.js';
import type { LabView } from '../../src/project/lab-history.js';

let cli: Cli;
let root: string;
let firstLabImage: string | undefined;

beforeAll(async () => {
  requireDocker();
  cli = new Cli(await cliEnv(await tempDir('reprise-lab-vscode-home-')));
  root = await makeLabProject(cli, await tempDir('reprise-lab-vscode-'), 'vscodedemo');
  mkdirSync(join(root, 'code'), { recursive: true });
  writeFileSync(join(root, 'code/notes.py'), 'print("before")\n');
  git(root, 'add', 'code/notes.py');
  git(root, 'commit', '-qm', 'a file to edit');
}, 900_000);

afterAll(async () => {
  await cli?.run(['agent', 'stop'], root ?? '/');
});

interface Ready { labId: string; url: string; port: number; app: string; password?: string }

/** `reprise lab --json …` in the background until its ready line; the process and its output so far. */
async function startVscode(args: string[]) {
  const child = cli.spawn(['lab', '--json', '--port', '0', '--app', 'vscode', ...args], root);
  let text = '';
  child.stdout!.on('data', (d: Buffer) => (text += d));
  child.stderr!.on('data', (d: Buffer) => (text += d));
  const done = collect(child);
  const ready = await waitFor(
    'the VS Code lab to answer',
    () => {
      if (child.exitCode !== null) throw new Error(`reprise lab exited ${child.exitCode} before it was ready:\n${text}`);
      const line = text.split('\n').find((l) => l.startsWith('{"labId"'));
      return line ? (JSON.parse(line) as Ready) : undefined;
    },
    1_500_000,
  );
  return { ready, child, done, output: () => text };
}

describe('reprise lab --app vscode on local Docker', () => {
  it('opens code-server through the tunnel behind the lab token; a file saved in it is recorded at the next checkpoint', async () => {
    const started = Date.now();
    const { ready, done, output } = await startVscode(['--checkpoint-every', '3s']);
    console.log(`vscode lab ready after ${((Date.now() - started) / 1000).toFixed(0)}s (cold build of the lab image included when it was not cached)`);
    expect(ready.app).toBe('vscode');
    expect(ready.url).toBe(`http://127.0.0.1:${ready.port}/`);
    expect(ready.password).toMatch(/^[0-9a-f]{48}$/);
    const token = ready.password!;

    // Without the token, nothing but the login page.
    const anon = await fetch(ready.url, { redirect: 'manual' });
    expect(anon.status).toBe(302);
    expect(anon.headers.get('location')).toMatch(/login/);
    const wrong = await fetch(new URL('/login', ready.url), { method: 'POST', body: new URLSearchParams({ password: 'not-the-token' }), redirect: 'manual' });
    expect(wrong.headers.get('set-cookie') ?? '').not.toMatch(/code-server-session/);

    // The token is nowhere on a command line or in the container's config (only in code-server's private config file).
    const container = `reprise-${ready.labId}`;
    expect(execFileSync('docker', ['exec', container, 'sh', '-c', 'cat /proc/[0-9]*/cmdline | tr "\\0" " "'], { encoding: 'utf8' })).not.toContain(token);
    expect(execFileSync('docker', ['inspect', container], { encoding: 'utf8' })).not.toContain(token);
    expect(execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })).not.toContain(token);

    // A user in a browser: the login page, the workbench, a file opened, edited and saved.
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      await page.goto(ready.url);
      await page.locator('input[name="password"]').fill(token);
      await page.keyboard.press('Enter');
      await page.locator('.monaco-workbench').waitFor({ timeout: 180_000 });
      await page.locator('.explorer-folders-view').getByText('code', { exact: true }).waitFor({ timeout: 120_000 });
      await page.screenshot({ path: artifactPath('lab-vscode-docker.png') });
      // Quick Open (Ctrl+P) finds the file; the edit goes at its end; Ctrl+S saves it in place.
      await page.keyboard.press('Control+P');
      await page.locator('.quick-input-widget input').waitFor({ timeout: 60_000 });
      await page.keyboard.type('notes.py');
      await page.locator('.quick-input-list .monaco-list-row').first().waitFor({ timeout: 60_000 });
      await page.keyboard.press('Enter');
      await page.locator('.monaco-editor .view-lines').getByText('before').waitFor({ timeout: 60_000 });
      await page.locator('.monaco-editor .view-lines').click();
      await page.keyboard.press('Control+End');
      await page.keyboard.type('print("saved in VS Code")');
      await page.keyboard.press('Control+S');
      await page.screenshot({ path: artifactPath('lab-vscode-docker-saved.png') });
    } finally {
      await browser.close();
    }

    // The next checkpoint brings the saved file back and commits it.
    const head = await waitFor(
      'a checkpoint with the edit made in VS Code',
      () => {
        const commit = labCommits(root, ready.labId)[0];
        return commit && readFileSync(join(root, 'code/notes.py'), 'utf8').includes('saved in VS Code') ? commit : undefined;
      },
      120_000,
    );
    expect(git(root, 'show', `${head}:code/notes.py`)).toContain('print("saved in VS Code")');

    const stop = await cli.run(['lab', 'stop', ready.labId], root);
    expect(stop.code, stop.stderr + stop.stdout).toBe(0);
    const ended = await done;
    expect(ended.code, output()).toBe(0);
    const view = JSON.parse((await cli.run(['show', ready.labId, '--json'], root)).stdout) as LabView;
    expect(view.state).toBe('stopped');
    expect(view.files.map((f) => f.path)).toContain('code/notes.py');
    expect(view.executions).toEqual([]);
    // The lab image is the project's image plus a layer: the batch image is unchanged.
    expect(view.labImage.digest).not.toBe(view.image.digest);
    firstLabImage = view.labImage.digest;
    expect(execFileSync('git', ['status', '--porcelain'], { cwd: root, encoding: 'utf8' })).toBe('');
    expect(execFileSync('docker', ['ps', '-q', '--filter', `label=org.reprise.run=${ready.labId}`], { encoding: 'utf8' }).trim()).toBe('');
  }, 2_400_000);

  it('reuses the VS Code lab image: a second session starts without building', async () => {
    const started = Date.now();
    const { ready, done, output } = await startVscode(['--checkpoint-every', '30s']);
    const seconds = (Date.now() - started) / 1000;
    console.log(`vscode lab ready after ${seconds.toFixed(0)}s with the lab image cached`);
    expect((await cli.run(['lab', 'stop', ready.labId], root)).code).toBe(0);
    expect((await done).code, output()).toBe(0);
    // The present image was found by its label: no build step ran, so the worker wrote no build log.
    expect(existsSync(join(cli.env.REPRISE_HOME!, 'runs', ready.labId, 'build.log'))).toBe(false);
    const view = JSON.parse((await cli.run(['show', ready.labId, '--json'], root)).stdout) as LabView;
    expect(firstLabImage).toBeDefined();
    expect(view.labImage.digest).toBe(firstLabImage);
  }, 600_000);

  it('refuses --app rstudio on an image without RStudio Server: one line naming it, exit 2, nothing changed', async () => {
    const before = repoState(root);
    const r = await cli.run(['lab', '--port', '0', '--app', 'rstudio'], root);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/has no RStudio Server \(rserver\), which --app rstudio needs/);
    const unknown = await cli.run(['lab', '--port', '0', '--app', 'emacs'], root);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/emacs/);
    expect(repoState(root)).toEqual(before);
  }, 600_000);
});
