// The cluster takes images from the site registry by digest (Charliecloud's ch-image, HTTPS,
// htpasswd credentials from the worker's Docker config) instead of this machine shipping them.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlurmBackend, type StageStep } from '../../../src/backends/slurm/slurm-backend.js';
import { dockerClient } from '../../../src/images/engine.js';
import { pushImage } from '../../../src/images/registry.js';
import { Cli, cliEnv } from '../../helpers/cli.js';
import { readInfraEnv } from '../../helpers/infra.js';
import { git, tempDir } from '../../helpers/project.js';
import { BUSYBOX } from '../../helpers/docker.js';
import { buildTestImage, clusterConfig, mismatchedReference, rmi } from './slurm-backend-env.js';

const suite = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const workdir = `~/reprise-it/pull-${suite}`;
const config = clusterConfig(workdir);
const site = readInfraEnv('slurm', ['SLURM_REGISTRY', 'SLURM_REGISTRY_DOCKER_CONFIG']);
const progress: { step: StageStep; detail: string; bytes?: number }[] = [];
const backend = new SlurmBackend(config, { onProgress: (step, detail, bytes) => progress.push({ step, detail, bytes }) });
let sourcesDir: string;
let savedDockerConfig: string | undefined;

const shippedBytes = () => progress.filter((p) => p.step === 'image-upload').reduce((n, p) => n + (p.bytes ?? 0), 0);

beforeAll(async () => {
  savedDockerConfig = process.env.DOCKER_CONFIG;
  process.env.DOCKER_CONFIG = site.SLURM_REGISTRY_DOCKER_CONFIG; // the worker's docker login
  sourcesDir = await tempDir('reprise-slurm-pull-src-');
  await mkdir(join(sourcesDir, 'output'), { recursive: true });
});

afterAll(async () => {
  if (savedDockerConfig === undefined) delete process.env.DOCKER_CONFIG;
  else process.env.DOCKER_CONFIG = savedDockerConfig;
  await backend.ssh.exec(['rm', '-rf', `reprise-it/pull-${suite}`]);
  backend.ssh.close();
});

describe('SLURM stage by registry digest', () => {
  it('the cluster pulls an image this machine no longer has: 0 image bytes shipped, twice', async () => {
    const tag = `reprise-slurm-pull:${suite}`;
    const digest = buildTestImage(tag);
    const reference = await pushImage(dockerClient(), `${site.SLURM_REGISTRY}/reprise-it`, { digest, tag });
    rmi(digest);
    const first = await backend.stage({ runId: `${suite}-a`, image: { digest, tag, reference }, sourcesDir });
    expect(progress.map((p) => p.step)).toContain('image-pull');
    expect(progress.map((p) => p.step)).not.toContain('image-pull-failed');
    const before = progress.length;
    const second = await backend.stage({ runId: `${suite}-b`, image: { digest, tag, reference }, sourcesDir });
    expect(second.image).toBe(first.image);
    expect(progress.slice(before).map((p) => p.step)).toEqual(['sources-upload', 'image-cached']);
    expect(shippedBytes()).toBe(0);
    // The credentials file the pull read is gone; the image runs with its ENV.
    const left = await backend.ssh.run(['sh', '-c', `ls -a ${workdir.replace('~/', '')}/images`]);
    expect(left).not.toMatch(/\.auth/);
    const out = await backend.ssh.run(['ch-run', '--set-env', first.image, '--', 'sh', '-c', 'echo "$GREETING"']);
    expect(out).toBe('hi from the image env\n');
  });

  it('a reference naming another image than the recorded digest is refused, never cached under that digest', async () => {
    const { recorded, reference } = await mismatchedReference(site.SLURM_REGISTRY, `reprise-slurm-pull:${suite}`);
    progress.length = 0;
    const err = await backend.stage({ runId: `${suite}-m`, image: { digest: recorded, reference }, sourcesDir }).catch((e: Error) => e);
    expect(String(err)).toMatch(new RegExp(`the cluster could not pull it either: .*${reference.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is not the recorded image ${recorded}`));
    const images = await backend.ssh.run(['sh', '-c', `ls -A ${workdir.replace('~/', '')}/images`]);
    expect(images).not.toContain(recorded.slice(7));
    expect(images).not.toMatch(/\.incoming/);
  });

  it('a digest the registry lacks falls back to shipping from this machine, and says why when it cannot', async () => {
    const tag = `reprise-slurm-pull:${suite}-b`;
    const digest = buildTestImage(tag);
    const missing = `${site.SLURM_REGISTRY}/reprise-it/absent@sha256:${'0'.repeat(64)}`;
    progress.length = 0;
    await backend.stage({ runId: `${suite}-c`, image: { digest, tag, reference: missing }, sourcesDir });
    expect(progress.map((p) => p.step)).toEqual(expect.arrayContaining(['image-pull', 'image-pull-failed', 'image-upload', 'image-convert']));
    expect(shippedBytes()).toBeGreaterThan(0);

    const other = buildTestImage(`${tag}-gone`);
    rmi(other);
    const err = await backend.stage({ runId: `${suite}-d`, image: { digest: other, reference: missing }, sourcesDir }).catch((e: Error) => e);
    expect(String(err)).toMatch(/the registry has no such image.*; the cluster could not pull it either: charliecloud pull of .* failed/);
  });
});

describe('the built CLI: verify --on a SLURM backend of a run whose image left this engine', () => {
  // Two CLI runs through the cluster: over a minute on a loaded 2-CPU machine.
  it('gives the same outputs, the image pulled on the cluster by its recorded digest', { timeout: 180_000 }, async () => {
    const cli = new Cli({ ...(await cliEnv(await tempDir('reprise-slurm-pull-home-'))), DOCKER_CONFIG: site.SLURM_REGISTRY_DOCKER_CONFIG });
    const c = clusterConfig(`~/reprise-it/pull-cli-${suite}`);
    const add = ['backend', 'add', 'hpc', '--kind', 'slurm', '--host', c.host, '--port', String(c.port), '--user', c.user, '--identity-file', c.identityFile,
      '--known-hosts-file', c.knownHostsFile, '--partition', c.partition!, '--workdir', c.workdir!];
    const added = await cli.run(add, '/');
    expect(added.code, added.stderr).toBe(0);
    expect((await cli.run(['registry', 'set', `${site.SLURM_REGISTRY}/team`], '/')).code).toBe(0);
    const work = await tempDir('reprise-slurm-pull-');
    expect((await cli.run(['init', 'pulled', '--name', 'pulled', '--base', BUSYBOX], work)).code).toBe(0);
    const root = join(work, 'pulled');
    await writeFile(join(root, '.reprise/environment.yaml'), `base: ${BUSYBOX}\ndockerfile:\n  - RUN echo slurm-${suite} > /etc/flavour\n`);
    await writeFile(join(root, 'code/job.sh'), 'cat /etc/flavour > output/flavour.txt\n');
    git(root, 'add', '-A');
    git(root, 'commit', '-qm', 'job');
    try {
      const ran = await cli.run(['run', '--', 'sh', 'code/job.sh'], root);
      expect(ran.code, ran.stderr).toBe(0);
      const [entry] = await cli.json<{ runId: string }[]>(['log'], root);
      const record = await cli.json<{ image: { digest: string; reference?: string } }>(['show', entry!.runId], root);
      expect(record.image.reference).toMatch(/@sha256:[0-9a-f]{64}$/);
      rmi(record.image.digest);
      const verify = await cli.run(['verify', entry!.runId, '--on', 'hpc', '--json'], root);
      expect(verify.code, verify.stderr).toBe(0);
      expect(JSON.parse(verify.stdout)).toMatchObject({ identical: true, files: [{ path: 'output/flavour.txt', verdict: 'same' }] });
      expect(() => execFileSync('docker', ['image', 'inspect', record.image.digest], { stdio: 'ignore' })).toThrow();
    } finally {
      await cli.run(['agent', 'stop'], root);
    }
  });
});
