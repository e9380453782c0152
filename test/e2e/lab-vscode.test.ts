// `reprise lab --app vscode` on local Docker, driven through the built CLI: code-server (Node 24
// from PyPI, code-server from npm) in a lab image of its own, reached through the lab's tunnel
// with the lab's token as its password; headless Chromium logs in, sees the workbench, opens a
// file and saves an edit; the next checkpoint records it; stop. Then `--app rstudio` on an
// image without RStudio Server: one line, exit 2, nothing changed.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cli, cliEnv } from '../helpers/cli.js';
import { requireDocker } from '../helpers/docker.js';
import { makeLabProject, waitFor } from '../helpers/lab.js';
import { addNotes, NOTES, recordedEdit, saveThroughWorkbench, startVscodeLab } from '../helpers/lab-vscode.js';
import { repoState, tempDir } from '../helpers/project.js';
import type { LabView } from '../../src/project/lab-history.js';

let cli: Cli;
let root: string;
let firstLabImage: string | undefined;
const labIds: string[] = [];

beforeAll(async () => {
  requireDocker();
  cli = new Cli(await cliEnv(await tempDir('reprise-lab-vscode-home-')));
  root = await makeLabProject(cli, await tempDir('reprise-lab-vscode-'), 'vscodedemo');
  addNotes(root);
}, 900_000);

afterAll(async () => {
  await cli?.run(['agent', 'stop'], root ?? '/');
  // A test that failed before `lab stop` leaves its session's container running: removed by name.
  for (const labId of labIds) spawnSync('docker', ['rm', '-f', `reprise-${labId}`], { stdio: 'ignore' });
});

describe('reprise lab --app vscode on local Docker', () => {
  it('opens code-server through the tunnel behind the lab token; a file saved in it is recorded at the next checkpoint', async () => {
    const started = Date.now();
    const { ready, done, output } = await startVscodeLab(cli, root, ['--checkpoint-every', '3s']);
    labIds.push(ready.labId);
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

    // A user in a browser: the login page, the workbench, a file opened, edited and saved; the next checkpoint records it.
    await saveThroughWorkbench(ready, 'lab-vscode-docker', 'print("saved in VS Code")', () => recordedEdit(root, ready.labId, 'print("saved in VS Code")'));

    const stop = await cli.run(['lab', 'stop', ready.labId], root);
    expect(stop.code, stop.stderr + stop.stdout).toBe(0);
    const ended = await done;
    expect(ended.code, output()).toBe(0);
    const view = JSON.parse((await cli.run(['show', ready.labId, '--json'], root)).stdout) as LabView;
    expect(view.state).toBe('stopped');
    // The record names the app the session opened, as lab list does.
    expect(view.app).toBe('vscode');
    const listed = JSON.parse((await cli.run(['lab', 'list', '--json'], root)).stdout) as { labId: string; app: string }[];
    expect(listed.find((l) => l.labId === ready.labId)?.app).toBe('vscode');
    expect(view.files.map((f) => f.path)).toContain(NOTES);
    expect(view.executions).toEqual([]);
    // The lab image is the project's image plus a layer: the batch image is unchanged.
    expect(view.labImage.digest).not.toBe(view.image.digest);
    firstLabImage = view.labImage.digest;
    expect(execFileSync('git', ['status', '--porcelain'], { cwd: root, encoding: 'utf8' })).toBe('');
    expect(execFileSync('docker', ['ps', '-q', '--filter', `label=org.reprise.run=${ready.labId}`], { encoding: 'utf8' }).trim()).toBe('');
  }, 2_400_000);

  it('starts as a uid with no passwd entry on a read-only image (as on SLURM): answers and takes the token as password', async () => {
    expect(firstLabImage).toBeDefined();
    const dir = await tempDir('reprise-lab-vscode-ro-');
    mkdirSync(join(dir, 'project/code'), { recursive: true });
    chmodSync(join(dir, 'project'), 0o777);
    writeFileSync(join(dir, 'token'), 'ro-token-123\n', { mode: 0o644 });
    const name = `reprise-vscode-ro-${process.pid}`;
    execFileSync('docker', [
      'run', '-d', '--rm', '--name', name, '--user', '4242:4242', '--read-only', '--tmpfs', '/tmp',
      '-e', 'REPRISE_LAB_PORT=8080', '-e', 'REPRISE_LAB_TOKEN_FILE=/run/secrets/reprise-lab-token',
      '-v', `${join(dir, 'token')}:/run/secrets/reprise-lab-token:ro`, '-v', `${join(dir, 'project')}:/project`,
      firstLabImage!, 'python3', '/opt/reprise-vscode/start.py',
    ]);
    try {
      const ip = execFileSync('docker', ['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', name], { encoding: 'utf8' }).trim();
      const base = `http://${ip}:8080`;
      await waitFor('code-server to answer', () => fetch(`${base}/healthz`).then((r) => (r.ok ? true : undefined), () => undefined), 120_000);
      const login = await fetch(`${base}/login`, { method: 'POST', body: new URLSearchParams({ password: 'ro-token-123' }), redirect: 'manual' });
      expect(login.status).toBe(302);
      const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
      expect(cookie).toMatch(/^code-server-session=/);
      const home = await fetch(`${base}/?folder=/project`, { headers: { cookie } });
      expect(home.status).toBe(200);
      expect(await home.text()).toContain('workbench');
    } finally {
      execFileSync('docker', ['rm', '-f', name], { stdio: 'ignore' });
    }
  }, 300_000);

  it('reuses the VS Code lab image: a second session starts without building', async () => {
    const started = Date.now();
    const { ready, done, output } = await startVscodeLab(cli, root, ['--checkpoint-every', '30s']);
    labIds.push(ready.labId);
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
    // The refusal is one line (after the progress line saying the lab image was being prepared).
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('Error:'));
    expect(errors, r.stderr).toHaveLength(1);
    expect(errors[0]).toMatch(/has no RStudio Server \(rserver\), which --app rstudio needs/);
    const unknown = await cli.run(['lab', '--port', '0', '--app', 'emacs'], root);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/emacs/);
    expect(repoState(root)).toEqual(before);
  }, 600_000);
});
