import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { RepriseError } from '../../../src/errors.js';
import { buildEnvironmentImage, environmentBuild } from '../../../src/images/build.js';
import { resolveBuildTrust } from '../../../src/images/build-trust.js';
import { dockerClient } from '../../../src/images/engine.js';
import type { ImageRef } from '../../../src/images/types.js';
import { buildLabImage, LAB_START } from '../../../src/lab/image.js';
import { JUPYTERLAB_VERSION } from '../../../src/lab/apps/jupyterlab/index.js';
import { BUSYBOX, requireDocker } from '../../helpers/docker.js';
import { JupyterClient } from '../../helpers/jupyter-client.js';

// The lab image on a real project image (Debian's python3 + matplotlib from the real PyPI),
// run as a non-root uid on a read-only root filesystem, driven by a real Jupyter client over
// REST and the kernel websocket; every executed cell must land in executions.jsonl.
const run = promisify(execFile);
const docker = (...args: string[]) => run('docker', args, { encoding: 'utf8', maxBuffer: 16 << 20 }).then((r) => r.stdout.trim());
const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const PORT = 8888;

describe('the lab image', () => {
  const engine = dockerClient();
  let project: ImageRef;
  let lab: ImageRef | undefined;
  let container: string | undefined;
  let dir: string;

  beforeAll(async () => {
    requireDocker();
    dir = await mkdtemp(join(tmpdir(), 'reprise-lab-'));
    const spec = { base: 'local/debian-python:bookworm', packages: { apt: ['python3-pip'], pip: ['matplotlib==3.9.2'], conda: [] }, dockerfile: [] };
    const built = await buildEnvironmentImage(engine, { ...environmentBuild('lab-image-test', spec), trust: await resolveBuildTrust(undefined) });
    project = { digest: built.digest, tag: built.tag };
  }, 900_000);

  afterAll(async () => {
    if (container) {
      if (process.env.REPRISE_TEST_VERBOSE) console.log(await docker('logs', container).catch(() => ''));
      await docker('rm', '-f', container).catch(() => undefined);
    }
    // The lab image goes (each run builds it afresh); the project image stays for the next run.
    if (lab) await docker('rmi', '-f', lab.tag!).catch(() => undefined);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('is built FROM the project image, which keeps its id and labels, and is reused the second time', async () => {
    const before = await docker('image', 'inspect', '--format', '{{json .Config.Labels}}', project.digest);
    // A lab image of this project image left by another suite (same environment, same image id)
    // would be reused: remove it, so this test sees the build.
    const stale = (await docker('image', 'ls', '--format', '{{.Repository}}:{{.Tag}}', `reprise-lab/${project.digest.slice(7, 19)}`)).split('\n').filter(Boolean);
    if (stale.length) await docker('image', 'rm', '-f', ...stale);
    const lines: string[] = [];
    const steps: number[] = [];
    lab = await buildLabImage(engine, project, { trust: await resolveBuildTrust(undefined), onOutput: (l) => lines.push(l), onProgress: (p) => steps.push(p.step) });
    expect(lab.tag).toMatch(new RegExp(`^reprise-lab/${project.digest.slice(7, 19)}:[0-9a-f]{12}$`));
    expect(lab.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(lines.some((l) => /jupyterlab/i.test(l))).toBe(true);
    expect(steps.length).toBeGreaterThan(0);
    // Derived from the project image, which is unchanged.
    expect(await docker('image', 'inspect', '--format', '{{json .Config.Labels}}', project.digest)).toBe(before);
    expect(await docker('image', 'inspect', '--format', '{{.Id}}', project.tag!)).toBe(project.digest);
    const layers = async (ref: string) => JSON.parse(await docker('image', 'inspect', '--format', '{{json .RootFS.Layers}}', ref)) as string[];
    const [projectLayers, labLayers] = await Promise.all([layers(project.digest), layers(lab.digest)]);
    expect(labLayers.slice(0, projectLayers.length)).toEqual(projectLayers);
    expect(await docker('run', '--rm', lab.digest, 'python3', '-c', 'import jupyterlab, matplotlib; print(jupyterlab.__version__)')).toBe('4.4.10');

    const started = Date.now();
    const again = await buildLabImage(engine, project, { onOutput: () => expect.fail('a present lab image is not rebuilt') });
    expect(again).toEqual(lab);
    expect(Date.now() - started).toBeLessThan(10_000);
  }, 900_000);

  it('serves JupyterLab as a non-root uid on a read-only image and records every executed cell', async () => {
    expect(lab, 'the lab image (previous test)').toBeDefined();
    for (const sub of ['code', 'output']) await mkdir(join(dir, sub));
    for (const sub of ['', 'code', 'output']) await chmod(join(dir, sub), 0o777);
    const token = randomBytes(16).toString('hex');
    // The token arrives as a read-only file (as every backend delivers it), never in the environment.
    const tokenFile = join(dirname(dir), `token-${token.slice(0, 8)}`);
    await writeFile(tokenFile, token, { mode: 0o644 });
    container = await docker(
      'run', '-d', '--user', '12345:12345', '--read-only', '--tmpfs', '/tmp:rw,exec,mode=1777',
      '-e', 'HOME=/tmp', '-e', `REPRISE_LAB_PORT=${PORT}`, '-e', 'REPRISE_LAB_TOKEN_FILE=/run/secrets/reprise-lab-token',
      '-v', `${tokenFile}:/run/secrets/reprise-lab-token:ro`,
      '-v', `${dir}:/project`, lab!.digest, 'python3', LAB_START,
    );
    const ip = await docker('inspect', '--format', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', container);
    const client = new JupyterClient(`http://${ip}:${PORT}`, token);
    try {
      // Up within two minutes; the wrong token is refused.
      const deadline = Date.now() + 120_000;
      for (;;) {
        try {
          expect((await client.status()).started).toBeTruthy();
          break;
        } catch (err) {
          if (Date.now() > deadline) throw new Error(`lab not up: ${(err as Error).message}\n${await docker('logs', container)}`);
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
      await expect(new JupyterClient(`http://${ip}:${PORT}`, 'wrong').status()).rejects.toThrow(/HTTP 403/);

      const notebook = { cells: [], metadata: {}, nbformat: 4, nbformat_minor: 5 };
      const saved = await client.contents.put('code/n.ipynb', { type: 'notebook', format: 'json', content: notebook });
      expect(saved.path).toBe('code/n.ipynb');
      expect((await stat(join(dir, 'code', 'n.ipynb'))).isFile()).toBe(true);
      expect((await client.contents.get('code/n.ipynb')).type).toBe('notebook');

      const kernel = await client.startKernel();
      const hi = await client.execute(kernel, "print('hi')");
      expect(hi.status).toBe('ok');
      expect(hi.outputs).toContainEqual({ type: 'stream', name: 'stdout', text: 'hi\n' });
      const boom = await client.execute(kernel, '1/0');
      expect(boom.status).toBe('error');
      expect(boom.outputs.find((o) => o.type === 'error')?.text).toMatch(/^ZeroDivisionError: /);
      const write = await client.execute(kernel, "open('/project/output/x.csv','w').write('a,b\\n1,2\\n')");
      expect(write.outputs.find((o) => o.type === 'execute_result')?.text).toBe('8');
      expect(await readFile(join(dir, 'output', 'x.csv'), 'utf8')).toBe('a,b\n1,2\n');
      const plot = await client.execute(kernel, 'import matplotlib.pyplot as plt; plt.plot([1,2,3]); plt.show()', { timeoutMs: 180_000 });
      expect(plot.status).toBe('ok');
      expect(plot.outputs.some((o) => o.type === 'display_data' && typeof o.data?.['image/png'] === 'string')).toBe(true);

      const records = (await readFile(join(dir, '.reprise-lab', 'executions.jsonl'), 'utf8'))
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(records).toHaveLength(4);
      for (const r of records) {
        expect(r.kernel).toBe(kernel);
        expect(typeof r.started).toBe('string');
        expect(new Date(r.started as string).toISOString().slice(0, 19)).toBe((r.started as string).slice(0, 19));
        expect((r.started as string).endsWith('Z')).toBe(true);
        expect(typeof r.duration).toBe('number');
        expect(Array.isArray(r.images)).toBe(true);
      }
      expect(records.map((r) => r.n)).toEqual([1, 2, 3, 4]);
      expect(records[0]).toMatchObject({ code: "print('hi')", status: 'ok', stdout: 'hi\n', stderr: '', images: [] });
      expect(records[0]).not.toHaveProperty('error');
      expect(records[0]).not.toHaveProperty('result');
      expect(records[1]).toMatchObject({ code: '1/0', status: 'error' });
      expect(records[1]!.error).toMatch(/^ZeroDivisionError: division by zero$/);
      expect(records[2]).toMatchObject({ status: 'ok', result: '8' });
      const images = records[3]!.images as string[];
      expect(records[3]).toMatchObject({ status: 'ok' });
      expect(images.length).toBeGreaterThan(0);
      expect(images[0]).toMatch(new RegExp(`^images/${kernel.slice(0, 8)}-4-0\\.png$`));
      const png = await readFile(join(dir, '.reprise-lab', images[0]!));
      expect(png.subarray(0, 8).equals(PNG)).toBe(true);
    } finally {
      await client.close();
    }
  }, 600_000);

  it('refuses a project image without python3, in one line', async () => {
    const busybox = await docker('image', 'inspect', '--format', '{{.Id}}', BUSYBOX);
    const err = await buildLabImage(engine, { digest: busybox, tag: BUSYBOX }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RepriseError);
    expect((err as RepriseError).kind).toBe('BadInput');
    expect((err as RepriseError).message).toBe(`the project image has no python3, which JupyterLab ${JUPYTERLAB_VERSION} needs; add it with: reprise env add apt python3-pip (it brings python3)`);
    expect(await docker('images', '-q', `reprise-lab/${busybox.slice(7, 19)}`)).toBe('');
  }, 120_000);
});
