// `reprise lab --app vscode --on <cluster>` driven through the built CLI, the same session on
// every cluster backend: code-server in the job, reached through the backend's tunnel behind the
// lab's token; Chromium logs in, sees the workbench and saves an edit that the next checkpoint
// records; the tunnel's process killed, `reprise lab open` reopens it and the workbench answers
// again; `lab stop` records the end. The project spec is the Docker test's, so the lab image
// already built there is reused and only its transfer to the cluster is measured.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cli, cliEnv, collect } from './cli.js';
import { artifactPath, launchChromium } from './browser.js';
import { makeLabProject, waitFor } from './lab.js';
import { addNotes, NOTES, recordedEdit, saveThroughWorkbench, startVscodeLab, type VscodeReady } from './lab-vscode.js';
import { tempDir } from './project.js';
import type { LabView } from '../../src/project/lab-history.js';

/** Log in with the token through the tunnel (no cookie without it) and see the workbench in Chromium. */
export async function seeWorkbench(ready: VscodeReady, shot: string): Promise<void> {
  const anon = await fetch(ready.url, { redirect: 'manual' });
  expect(anon.status).toBe(302);
  expect(anon.headers.get('location')).toMatch(/login/);
  const wrong = await fetch(new URL('/login', ready.url), { method: 'POST', body: new URLSearchParams({ password: 'not-the-token' }), redirect: 'manual' });
  expect(wrong.headers.get('set-cookie') ?? '').not.toMatch(/code-server-session/);
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(ready.url);
    await page.locator('input[name="password"]').fill(ready.password!);
    await page.keyboard.press('Enter');
    await page.locator('.monaco-workbench').waitFor({ timeout: 180_000 });
    await page.locator('.explorer-folders-view').getByText('code', { exact: true }).waitFor({ timeout: 120_000 });
    await page.screenshot({ path: artifactPath(`${shot}.png`) });
  } finally {
    await browser.close();
  }
}

/** `reprise lab open ID --json --port 0` in the background until its ready line. */
async function openLab(cli: Cli, root: string, labId: string) {
  const child = cli.spawn(['lab', 'open', labId, '--json', '--port', '0'], root);
  let text = '';
  child.stdout!.on('data', (d: Buffer) => (text += d));
  child.stderr!.on('data', (d: Buffer) => (text += d));
  const done = collect(child);
  const ready = await waitFor(
    'reprise lab open to answer',
    () => {
      if (child.exitCode !== null) throw new Error(`reprise lab open exited ${child.exitCode} before it was ready:\n${text}`);
      const line = text.split('\n').find((l) => l.startsWith('{"labId"'));
      return line ? (JSON.parse(line) as VscodeReady) : undefined;
    },
    300_000,
  );
  return { ready, child, done, output: () => text };
}

/** `label` names the screenshots and the log lines (default: the kind), for two runtimes of one kind. */
export function describeClusterVscode(name: string, kind: string, addFlags: () => string[], label = kind): void {
  let cli: Cli;
  let root: string;
  const labIds: string[] = [];

  beforeAll(async () => {
    cli = new Cli(await cliEnv(await tempDir(`reprise-${name}-vscode-home-`)));
    const add = await cli.run(['backend', 'add', name, '--kind', kind, ...addFlags()], '/');
    expect(add.code, add.stderr).toBe(0);
    root = await makeLabProject(cli, await tempDir(`reprise-${name}-vscode-`), 'vscodedemo');
    addNotes(root);
  }, 900_000);

  afterAll(async () => {
    // A test that failed before `lab stop` leaves its session running: stopped, then the agent.
    for (const labId of labIds) await cli?.run(['lab', 'stop', labId], root ?? '/').catch(() => undefined);
    await cli?.run(['agent', 'stop'], root ?? '/');
  }, 300_000);

  describe(`reprise lab --app vscode on ${label}`, () => {
    it('opens code-server in a job through the tunnel; an edit saved in it is recorded; a killed tunnel is reopened by lab open; stop records', async () => {
      const started = Date.now();
      const lab = await startVscodeLab(cli, root, ['--on', name, '--checkpoint-every', '5s']);
      labIds.push(lab.ready.labId);
      const readySeconds = (Date.now() - started) / 1000;
      console.log(`vscode lab on ${label} ready after ${readySeconds.toFixed(0)}s (the lab image's transfer to the cluster included when it was not there)`);
      expect(lab.ready).toMatchObject({ app: 'vscode', url: `http://127.0.0.1:${lab.ready.port}/` });
      expect(lab.ready.password).toMatch(/^[0-9a-f]{48}$/);

      await seeWorkbench(lab.ready, `lab-vscode-${label}`);
      await saveThroughWorkbench(lab.ready, `lab-vscode-${label}-edit`, `print("saved in VS Code on ${label}")`, () => recordedEdit(root, lab.ready.labId, `print("saved in VS Code on ${label}")`));

      // The tunnel's process killed (a closed laptop lid, a crashed terminal): the session goes on.
      lab.child.kill('SIGKILL');
      await lab.done;
      await waitFor('the old tunnel to close', () => fetch(lab.ready.url).then(() => undefined, () => true), 30_000);
      const list = await cli.run(['lab', 'list', '--json'], root);
      expect(list.code, list.stderr).toBe(0);
      expect(list.stdout).toContain(lab.ready.labId);

      const reopened = await openLab(cli, root, lab.ready.labId);
      expect(reopened.ready).toMatchObject({ labId: lab.ready.labId, app: 'vscode', password: lab.ready.password });
      await seeWorkbench(reopened.ready, `lab-vscode-${label}-reopened`);
      await saveThroughWorkbench(reopened.ready, `lab-vscode-${label}-reopened-edit`, 'print("after lab open")', () => recordedEdit(root, lab.ready.labId, 'print("after lab open")'));

      const stop = await cli.run(['lab', 'stop', lab.ready.labId], root);
      expect(stop.code, stop.stderr + stop.stdout).toBe(0);
      // `lab open` does not stop the session on its own: it ends when the session does.
      expect((await reopened.done).code, reopened.output()).toBe(0);
      const view = JSON.parse((await cli.run(['show', lab.ready.labId, '--json'], root)).stdout) as LabView;
      expect(view.state).toBe('stopped');
      expect(view.backend).toMatchObject({ name, kind });
      expect(view.files.map((f) => f.path)).toContain(NOTES);
      expect(view.executions).toEqual([]);
      expect(view.labImage.digest).not.toBe(view.image.digest);
      expect(execFileSync('git', ['status', '--porcelain'], { cwd: root, encoding: 'utf8' })).toBe('');
      console.log(`vscode lab on ${label}: whole session ${((Date.now() - started) / 1000).toFixed(0)}s, lab image ${view.labImage.digest}`);
    }, 2_400_000);
  });
}
