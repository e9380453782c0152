// `reprise lab` on local Docker, driven through the built CLI and a real Jupyter client over the
// tunnel: cells captured (text, errors, files, a matplotlib PNG), a notebook saved through the
// contents API found in code/, checkpoints while it runs, stop; then the faults and bad input the
// issue names: a tunnel killed mid-session, the time limit, the job killed from outside, a local
// port taken, an image without Python — each with a clear message and nothing lost.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cli, cliEnv, freePort } from '../helpers/cli.js';
import { BUSYBOX, requireDocker } from '../helpers/docker.js';
import { artifactPath, launchChromium } from '../helpers/browser.js';
import { exerciseLab, labCommits, makeLabProject, screenshotLab, startLab, waitFor } from '../helpers/lab.js';
import { JupyterClient } from '../helpers/jupyter-client.js';
import { WebhookReceiver } from '../helpers/notify-receivers.js';
import { repoState, tempDir } from '../helpers/project.js';
import type { LabView } from '../../src/project/lab-history.js';

let cli: Cli;
let root: string;
let work: string;

beforeAll(async () => {
  requireDocker();
  cli = new Cli(await cliEnv(await tempDir('reprise-lab-home-')));
  work = await tempDir('reprise-lab-');
  root = await makeLabProject(cli, work, 'labdemo');
}, 900_000);

afterAll(async () => {
  await cli?.run(['agent', 'stop'], root ?? '/');
});

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const show = async (labId: string) => JSON.parse((await cli.run(['show', labId, '--json'], root)).stdout) as LabView;

describe('reprise lab on local Docker', () => {
  it('opens JupyterLab, records cells, files and images, and stops cleanly', async () => {
    const lab = await startLab(cli, root, ['--checkpoint-every', '3s']);
    expect(lab.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/lab\?token=[0-9a-f]{48}$/);
    // What a user sees: JupyterLab in a browser, through the tunnel.
    console.log(`lab screenshot: ${screenshotLab(lab.url, 'lab-docker')}`);
    const view = await exerciseLab(cli, root, lab);
    expect(view.backend.kind).toBe('docker');
    // The lab image is the project's image plus a layer: the batch image is unchanged.
    expect(view.labImage.digest).not.toBe(view.image.digest);
    const list = JSON.parse((await cli.run(['lab', 'list', '--json'], root)).stdout) as { labId: string; state: string }[];
    expect(list).toContainEqual(expect.objectContaining({ labId: lab.labId, state: 'stopped' }));
    // The dashboard lists the session, its cells and serves the cell's image.
    const port = await freePort();
    const dash = cli.spawn(['dashboard', '--port', String(port)], root);
    try {
      await waitFor('the dashboard', () => fetch(`http://127.0.0.1:${port}/api/labs`).then((r) => (r.ok ? true : undefined), () => undefined));
      const labs = (await (await fetch(`http://127.0.0.1:${port}/api/labs`)).json()) as { labId: string; executions: number }[];
      expect(labs).toContainEqual(expect.objectContaining({ labId: lab.labId, executions: 4 }));
      const one = (await (await fetch(`http://127.0.0.1:${port}/api/labs/${lab.labId}`)).json()) as LabView;
      expect(one.executions).toHaveLength(4);
      const image = await fetch(`http://127.0.0.1:${port}/api/labs/${lab.labId}/images/${one.executions[3]!.images[0]!.split('/').pop()}`);
      expect(image.headers.get('content-type')).toBe('image/png');
      expect(Buffer.from(await image.arrayBuffer()).subarray(0, 4)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47]));
      expect((await fetch(`http://127.0.0.1:${port}/api/labs/${lab.labId}/images/..%2F..%2Fproject.yaml`)).status).toBe(404);
      // The web app's lab page shows the session's cells and the plot, in a real browser.
      const browser = await launchChromium();
      try {
        const page = await browser.newPage();
        await page.goto(`http://127.0.0.1:${port}/#/labs/${lab.labId}`);
        await page.locator('ol.cells > li').nth(3).waitFor({ timeout: 30_000 });
        expect(await page.locator('ol.cells > li').count()).toBe(4);
        await page.locator('ol.cells img').first().waitFor({ timeout: 30_000 });
        await page.screenshot({ path: artifactPath('dashboard-lab.png'), fullPage: true });
      } finally {
        await browser.close();
      }
    } finally {
      dash.kill('SIGINT');
    }
    // Nothing of the session is left running.
    expect(execFileSync('docker', ['ps', '-q', '--filter', `label=org.reprise.run=${lab.labId}`], { encoding: 'utf8' }).trim()).toBe('');
  }, 900_000);

  it('--open gives the browser a private page, never the token on a command line; the token is not in the container\'s config; the lab reads the project\'s secrets', async () => {
    const seen = await tempDir('reprise-browser-');
    const browser = join(seen, 'fake-browser');
    writeFileSync(
      browser,
      `#!/bin/sh\nf=\${1#file://}\nstat -c %a "$f" > ${seen}/mode\nstat -c %a "$(dirname "$f")" > ${seen}/dirmode\ncat "$f" > ${seen}/page.html\nprintf '%s\\n' "$@" > ${seen}/argv.tmp && mv ${seen}/argv.tmp ${seen}/argv\n`,
      { mode: 0o755 },
    );
    // Labs get the project's secrets too.
    const secretFile = join(seen, 'lab-key.txt');
    writeFileSync(secretFile, 'lab-secret-value');
    expect((await cli.run(['secret', 'add', 'LAB_KEY', secretFile], root)).code).toBe(0);
    cli.env.BROWSER = browser;
    let lab: Awaited<ReturnType<typeof startLab>>;
    try {
      lab = await startLab(cli, root, ['--open']);
    } finally {
      delete cli.env.BROWSER;
    }
    const argv = await waitFor('the browser to be started', () => (existsSync(join(seen, 'argv')) ? readFileSync(join(seen, 'argv'), 'utf8') : undefined));
    expect(argv).toMatch(/^file:\/\/\/.+\/open\.html\n$/);
    expect(argv).not.toContain(lab.token);
    expect(readFileSync(join(seen, 'mode'), 'utf8').trim()).toBe('600');
    expect(readFileSync(join(seen, 'dirmode'), 'utf8').trim()).toBe('700');
    expect(readFileSync(join(seen, 'page.html'), 'utf8')).toContain(`location.replace(${JSON.stringify(lab.url)})`);
    // No process of this machine has the token on its command line (the CLI, the worker, docker, the browser).
    const withToken = readdirSync('/proc')
      .filter((pid) => /^\d+$/.test(pid))
      .filter((pid) => {
        try {
          return readFileSync(`/proc/${pid}/cmdline`).includes(lab.token);
        } catch {
          return false;
        }
      });
    expect(withToken).toEqual([]);
    // The job reads the token from a file: it is not in the container's environment or config.
    const container = execFileSync('docker', ['ps', '-q', '--filter', `label=org.reprise.run=${lab.labId}`], { encoding: 'utf8' }).trim();
    expect(container).not.toBe('');
    expect(execFileSync('docker', ['inspect', container], { encoding: 'utf8' })).not.toContain(lab.token);
    const j = new JupyterClient(lab.base, lab.token);
    const kernel = await j.startKernel();
    // Its hash, not the value: executed cells and their outputs are recorded.
    const read = await j.execute(kernel, "import hashlib; print(hashlib.sha256(open('/run/secrets/LAB_KEY', 'rb').read()).hexdigest())");
    expect(read.outputs.filter((o) => o.type === 'stream').map((o) => o.text).join('')).toBe(`${createHash('sha256').update('lab-secret-value').digest('hex')}\n`);
    await j.close();
    expect((await cli.run(['lab', 'stop', lab.labId], root)).code).toBe(0);
    await lab.done;
    expect((await cli.run(['secret', 'remove', 'LAB_KEY'], root)).code).toBe(0);
  }, 900_000);

  it('survives its tunnel being killed: lab open makes a new one to the same kernel, and nothing is lost', async () => {
    const lab = await startLab(cli, root, ['--checkpoint-every', '60s']);
    const first = new JupyterClient(lab.base, lab.token);
    const kernel = await first.startKernel();
    expect((await first.execute(kernel, 'x = 41')).status).toBe('ok');
    await first.close();
    lab.process.kill('SIGKILL'); // the laptop's end of the tunnel dies, the session does not
    await lab.done;
    const open = cli.spawn(['lab', 'open', lab.labId, '--json', '--port', '0'], root);
    let text = '';
    open.stdout!.on('data', (d: Buffer) => (text += d));
    const ready = JSON.parse(await waitFor('a new tunnel', () => text.split('\n').find((l) => l.startsWith('{"labId"')))) as { url: string };
    const url = new URL(ready.url);
    const again = new JupyterClient(`${url.protocol}//${url.host}/`, url.searchParams.get('token')!);
    const x = await again.execute(kernel, "print(x + 1); open('/project/output/after-tunnel.txt', 'w').write('kept')");
    expect(x.outputs.filter((o) => o.type === 'stream').map((o) => o.text).join('')).toBe('42\n');
    await again.close();
    const stop = await cli.run(['lab', 'stop', lab.labId.slice(0, 10)], root);
    expect(stop.code, stop.stderr).toBe(0);
    open.kill('SIGINT');
    expect(readFileSync(join(root, 'output/after-tunnel.txt'), 'utf8')).toBe('kept');
    const view = await show(lab.labId);
    expect(view.executions.map((e) => e.code.split('\n')[0])).toEqual(['x = 41', "print(x + 1); open('/project/output/after-tunnel.txt', 'w').write('kept')"]);
  }, 900_000);

  it('survives an agent restart (worker SIGKILLed, Temporal server restarted): one job, every cell recorded once', async () => {
    const lab = await startLab(cli, root, ['--checkpoint-every', '3s']);
    const jupyter = new JupyterClient(lab.base, lab.token);
    const kernel = await jupyter.startKernel();
    expect((await jupyter.execute(kernel, "print('before')")).status).toBe('ok');
    await waitFor('a checkpoint with the first cell', async () => ((await show(lab.labId).catch(() => undefined))?.executions?.length ? true : undefined));
    const agent = JSON.parse((await cli.run(['agent', 'status', '--json'], root)).stdout) as { workerPid: number; temporalPid: number };
    process.kill(agent.workerPid, 'SIGKILL');
    process.kill(agent.temporalPid, 'SIGTERM');
    await waitFor('the old agent gone', () => (alive(agent.workerPid) || alive(agent.temporalPid) ? undefined : true));
    const start = await cli.run(['agent', 'start'], root);
    expect(start.code, start.stderr).toBe(0);
    // Jupyter never noticed: the same kernel, through the same tunnel.
    expect((await jupyter.execute(kernel, "print('after')")).status).toBe('ok');
    await jupyter.close();
    expect(execFileSync('docker', ['ps', '-aq', '--filter', `label=org.reprise.run=${lab.labId}`], { encoding: 'utf8' }).trim().split('\n')).toHaveLength(1);
    const stop = await cli.run(['lab', 'stop', lab.labId], root);
    expect(stop.code, stop.stderr).toBe(0);
    const view = await show(lab.labId);
    expect(view.state).toBe('stopped');
    expect(view.executions.map((e) => e.code)).toEqual(["print('before')", "print('after')"]);
    // Checkpoint numbers 1..n, each committed once.
    const numbers = view.commits.map((c) => Number(execFileSync('git', ['log', '-1', '--format=%(trailers:key=Reprise-Lab-Checkpoint,valueonly)', c], { cwd: root, encoding: 'utf8' }).trim()));
    expect(numbers).toEqual(numbers.map((_, i) => i + 1));
    lab.process.kill('SIGINT');
  }, 900_000);

  it('hits its time limit: ends as timed out, with its files and cells recorded, and one notice says so', async () => {
    // Only failed labs are announced: the stopped sessions of the other tests send nothing here.
    const hook = await WebhookReceiver.start();
    expect((await cli.run(['notify', 'add', 'labs', '--webhook', hook.url, '--on', 'failed'], root)).code).toBe(0);
    const lab = await startLab(cli, root, ['--time', '40s', '--checkpoint-every', '60s']);
    const jupyter = new JupyterClient(lab.base, lab.token);
    const kernel = await jupyter.startKernel();
    expect((await jupyter.execute(kernel, "open('/project/output/before-limit.txt', 'w').write('saved')")).status).toBe('ok');
    await jupyter.close();
    const ended = await lab.done;
    expect(ended.code, lab.output()).toBe(1);
    expect(await lab.result()).toMatchObject({ state: 'timed out', reason: 'time limit 0:00:40 exceeded', exitCode: 124 });
    expect(readFileSync(join(root, 'output/before-limit.txt'), 'utf8')).toBe('saved');
    const view = await show(lab.labId);
    expect(view.state).toBe('timed out');
    expect(view.executions).toHaveLength(1);
    // The worker announces it once the record is committed (the CLI has already returned).
    await hook.waitFor(1);
    expect(hook.accepted()).toEqual([expect.objectContaining({ kind: 'lab', id: lab.labId, state: 'timed out', endState: 'failed', reason: 'time limit 0:00:40 exceeded', backend: 'local' })]);
    expect((await cli.run(['notify', 'remove', 'labs'], root)).code).toBe(0);
    await new Promise((r) => setTimeout(r, 2000));
    expect(hook.requests).toHaveLength(1);
    await hook.stop();
  }, 900_000);

  it('has its container killed from outside: ends as failed with the reason, files kept', async () => {
    const lab = await startLab(cli, root, ['--checkpoint-every', '60s']);
    const jupyter = new JupyterClient(lab.base, lab.token);
    const kernel = await jupyter.startKernel();
    expect((await jupyter.execute(kernel, "open('/project/code/written.py', 'w').write('y = 1\\n')")).status).toBe('ok');
    await jupyter.close();
    execFileSync('docker', ['kill', `reprise-${lab.labId}`], { stdio: 'ignore' });
    const ended = await lab.done;
    expect(ended.code).toBe(1);
    expect((await lab.result()).reason).toMatch(/^ended by SIGKILL/);
    expect(readFileSync(join(root, 'code/written.py'), 'utf8')).toBe('y = 1\n');
    expect((await show(lab.labId)).state).toBe('failed');
    expect(labCommits(root, lab.labId)).toHaveLength(1);
  }, 900_000);

  it('refuses a taken local port, an image without Python and bad flags: one line, exit 2, nothing changed', async () => {
    const before = repoState(root);
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
    const port = (taken.address() as { port: number }).port;
    try {
      const r = await cli.run(['lab', '--port', String(port)], root);
      expect(r.code).toBe(2);
      expect(r.stderr.trim()).toBe(`Error: local port ${port} is taken; choose another with --port N (or --port 0 for any free one)`);
    } finally {
      taken.close();
    }
    for (const [args, message] of [
      [['lab', '--checkpoint-every', '1s'], /--checkpoint-every: at least 2s/],
      [['lab', '--checkpoint-every', 'soon'], /--checkpoint-every: /],
      [['lab', '--on', 'nowhere'], /nowhere/],
      [['lab', 'stop'], /no lab session is running in this project/],
      [['show', 'lab-zzzz'], /no recorded lab session "lab-zzzz"/],
    ] as const) {
      const r = await cli.run([...args], root);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(message);
    }
    expect(repoState(root)).toEqual(before);

    const bare = await cli.run(['init', 'nopython', '--name', 'nopython', '--base', BUSYBOX], work);
    expect(bare.code).toBe(0);
    const noPython = join(work, 'nopython');
    const was = repoState(noPython);
    const r = await cli.run(['lab', '--port', '0'], noPython);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/has no python3/);
    expect(repoState(noPython)).toEqual(was);
  }, 900_000);
});
