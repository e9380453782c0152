// The apptainer runtime end to end on the real test cluster, through the built CLI: a backend
// added with `--runtime apptainer`, checked, and a run that prints and writes an output, recorded.
// Then the registry pull (`apptainer build … docker://`) from the site registry (HTTPS, its own CA
// in the cluster's system trust store, htpasswd credentials from the worker's Docker config): the
// recorded image pulled and cached, another image under that digest refused.
// Needs Apptainer on the cluster: `SLURM_APPTAINER=1 test/infra/slurm up` builds it
// (test/infra/apptainer-install.sh); without it this suite fails with that instruction.
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlurmBackend, type StageStep } from '../../../src/backends/slurm/slurm-backend.js';
import { dockerClient } from '../../../src/images/engine.js';
import { pushImage } from '../../../src/images/registry.js';
import { Cli, cliEnv } from '../../helpers/cli.js';
import { BUSYBOX, requireDocker } from '../../helpers/docker.js';
import { readInfraEnv } from '../../helpers/infra.js';
import { git, tempDir } from '../../helpers/project.js';
import { buildTestImage, clusterConfig, mismatchedReference, rmi, slurmAddArgs } from './slurm-backend-env.js';

const suite = `app-${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const workdir = `~/reprise-it/${suite}`;
let cli: Cli;
let root: string;

async function requireApptainer(): Promise<void> {
  const backend = new SlurmBackend({ ...clusterConfig(workdir), runtime: 'apptainer' });
  try {
    await backend.ssh.run(['apptainer', '--version']);
  } catch {
    throw new Error('Apptainer is not installed on the test cluster: start it with SLURM_APPTAINER=1 test/infra/slurm up');
  } finally {
    backend.close();
  }
}

beforeAll(async () => {
  requireDocker();
  await requireApptainer();
  cli = new Cli(await cliEnv(await tempDir('reprise-apptainer-home-')));
  const add = await cli.run(['backend', 'add', ...slurmAddArgs('hpc', workdir), '--runtime', 'apptainer'], '/');
  expect(add.code, add.stderr).toBe(0);
  const work = await tempDir('reprise-apptainer-');
  expect((await cli.run(['init', 'ap', '--name', 'ap', '--base', BUSYBOX], work)).code).toBe(0);
  root = join(work, 'ap');
  await writeFile(join(root, 'input/n.txt'), '6\n');
  await writeFile(
    join(root, 'code/run.sh'),
    'n=$(cat input/n.txt); echo "hello from $REPRISE_RUN_ID in $(pwd)"; echo "runtime: ${APPTAINER_NAME:-none}"; echo $((n * 7)) > output/answer.txt\n',
  );
});

afterAll(async () => {
  await cli?.run(['agent', 'stop'], root ?? '/');
  const backend = new SlurmBackend({ ...clusterConfig(workdir), runtime: 'apptainer' });
  await backend.ssh.exec(['sh', '-c', 'rm -rf "$HOME/reprise-it/$1"', 'sh', suite]).catch(() => undefined);
  backend.close();
});

describe('the apptainer runtime on the slurm test cluster', () => {
  it('backend check reports SLURM and the Apptainer version', async () => {
    const r = await cli.run(['backend', 'check', 'hpc'], root);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^hpc \(slurm\): ok, version/);
    expect(r.stdout).toMatch(/apptainer version \d+\.\d+/);
  });

  it('runs a command in a SIF image built on the cluster: output recorded, log kept', async () => {
    const r = await cli.run(['run', '--on', 'hpc', '--json', '--', 'sh', 'code/run.sh'], root);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const result = JSON.parse(r.stdout) as { runId: string; state: string; exitCode: number };
    expect(result).toMatchObject({ state: 'succeeded', exitCode: 0 });
    expect(git(root, 'show', 'HEAD:output/answer.txt')).toBe('42\n');
    expect(git(root, 'log', '-1', '--format=%(trailers:key=Reprise-Backend,valueonly)').trim()).toBe('hpc (slurm)');
    expect(git(root, 'status', '--porcelain')).toBe('');
    const logs = await cli.run(['logs', result.runId], root);
    expect(logs.code, logs.stderr).toBe(0);
    // The project is bound at /project and the command starts in the run's directory there;
    // APPTAINER_NAME is set by Apptainer inside its containers: this ran under apptainer exec.
    expect(logs.stdout).toContain(`hello from ${result.runId} in /project\n`);
    expect(logs.stdout).toMatch(/runtime: [0-9a-f]{64}\.sif\n/);
    // The image cache on the cluster holds one SIF file per digest; the run directory is gone.
    const backend = new SlurmBackend({ ...clusterConfig(workdir), runtime: 'apptainer' });
    try {
      expect((await backend.ssh.run(['sh', '-c', 'ls -A "$HOME/reprise-it/$1/images"', 'sh', suite])).trim()).toMatch(/^[0-9a-f]{64}\.sif$/);
      expect(await backend.ssh.run(['sh', '-c', 'ls -A "$HOME/reprise-it/$1/runs"', 'sh', suite])).toBe('');
    } finally {
      backend.close();
    }
  }, 300_000);

  it('runs contained: no home or other host directory, no login environment, only the run\'s project bound', async () => {
    const backend = new SlurmBackend({ ...clusterConfig(workdir), runtime: 'apptainer' });
    let canary: string;
    try {
      canary = (await backend.ssh.run(['sh', '-c', 'f="$HOME/reprise-it/$1/canary"; echo secret > "$f"; printf %s "$f"', 'sh', suite])).trim();
    } finally {
      backend.close();
    }
    const probe = 'cat "$1" 2>/dev/null || echo "canary: unreadable"; echo "slurm: ${SLURM_JOB_ID:-none}"; echo "run: ${REPRISE_RUN_ID:-none}"; ls /project';
    const r = await cli.run(['run', '--on', 'hpc', '--json', '--', 'sh', '-c', probe, 'sh', canary], root);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const { runId } = JSON.parse(r.stdout) as { runId: string };
    const logs = (await cli.run(['logs', runId], root)).stdout;
    expect(logs).toContain('canary: unreadable\n');
    expect(logs).not.toContain('secret');
    expect(logs).toContain('slurm: none\n');
    expect(logs).toContain(`run: ${runId}\n`);
  }, 300_000);

  it('a command the image lacks exits 127, as on the other runtimes', async () => {
    const r = await cli.run(['run', '--on', 'hpc', '--json', '--', 'no-such-command-here'], root);
    expect(JSON.parse(r.stdout)).toMatchObject({ exitCode: 127 });
  }, 300_000);
});

describe('the apptainer runtime pulls from the site registry by the recorded digest', () => {
  const pullSuite = `${suite}-pull`;
  const pullWorkdir = `~/reprise-it/${pullSuite}`;
  const site = readInfraEnv('slurm', ['SLURM_REGISTRY', 'SLURM_REGISTRY_DOCKER_CONFIG']);
  const progress: { step: StageStep; detail: string; bytes?: number }[] = [];
  let backend: SlurmBackend;
  let sourcesDir: string;
  let savedDockerConfig: string | undefined;
  const shippedBytes = () => progress.filter((p) => p.step === 'image-upload').reduce((n, p) => n + (p.bytes ?? 0), 0);
  const images = async () => (await backend.ssh.run(['sh', '-c', 'ls -A "$HOME/reprise-it/$1/images"', 'sh', pullSuite])).split('\n').filter(Boolean);

  beforeAll(async () => {
    savedDockerConfig = process.env.DOCKER_CONFIG;
    process.env.DOCKER_CONFIG = site.SLURM_REGISTRY_DOCKER_CONFIG; // the worker's docker login
    backend = new SlurmBackend({ ...clusterConfig(pullWorkdir), runtime: 'apptainer' }, { onProgress: (step, detail, bytes) => progress.push({ step, detail, bytes }) });
    sourcesDir = await tempDir('reprise-apptainer-pull-src-');
    await mkdir(join(sourcesDir, 'output'), { recursive: true });
  });

  afterAll(async () => {
    if (savedDockerConfig === undefined) delete process.env.DOCKER_CONFIG;
    else process.env.DOCKER_CONFIG = savedDockerConfig;
    await backend?.ssh.exec(['sh', '-c', 'rm -rf "$HOME/reprise-it/$1"', 'sh', pullSuite]).catch(() => undefined);
    backend?.close();
  });

  // The control: without it the refusal below would also pass if Apptainer could not reach or
  // trust the registry at all, or if the check could never find the config it hashes.
  it('the recorded image, gone from this machine, is pulled by Apptainer and cached as a SIF: 0 image bytes shipped, then reused', async () => {
    const tag = `reprise-apptainer-pull:${pullSuite}`;
    const digest = buildTestImage(tag);
    const reference = await pushImage(dockerClient(), `${site.SLURM_REGISTRY}/reprise-it`, { digest, tag });
    rmi(digest);
    progress.length = 0;
    const first = await backend.stage({ runId: `${pullSuite}-a`, image: { digest, tag, reference }, sourcesDir });
    expect(first.image).toMatch(new RegExp(`/images/${digest.slice(7)}\\.sif$`));
    expect(progress.map((p) => p.step)).toContain('image-pull');
    expect(progress.map((p) => p.step), JSON.stringify(progress)).not.toContain('image-pull-failed');
    const before = progress.length;
    const second = await backend.stage({ runId: `${pullSuite}-b`, image: { digest, tag, reference }, sourcesDir });
    expect(second.image).toBe(first.image);
    expect(progress.slice(before).map((p) => p.step)).toEqual(['sources-upload', 'image-cached']);
    expect(shippedBytes()).toBe(0);
    // Only the SIF is left: no credentials file, no partial image, no Apptainer cache.
    expect(await images()).toEqual([`${digest.slice(7)}.sif`]);
    const out = await backend.ssh.run(['apptainer', 'exec', '--containall', first.image, 'sh', '-c', 'echo "$GREETING"']);
    expect(out).toBe('hi from the image env\n');
  }, 300_000);

  it('a reference naming another image than the recorded digest is refused, naming both, and nothing is cached under that digest', async () => {
    const { pushed, recorded, reference } = await mismatchedReference(site.SLURM_REGISTRY, `reprise-apptainer-pull:${pullSuite}`);
    const before = await images();
    progress.length = 0;
    const err = await backend.stage({ runId: `${pullSuite}-m`, image: { digest: recorded, reference }, sourcesDir }).catch((e: Error) => e);
    // This machine's fallback pulled the reference too (and refused it): not left in its engine.
    rmi(pushed);
    expect(err).toBeInstanceOf(Error);
    // The check runs only after `apptainer build` succeeded: Apptainer did pull the other image,
    // and the refusal is the digest check's, not a failed pull's.
    const quote = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    expect(String(err)).toMatch(new RegExp(`the cluster could not pull it either: apptainer pull of ${quote(reference)} .*${quote(reference)} is not the recorded image ${recorded}`));
    expect(progress.map((p) => p.step)).toEqual(expect.arrayContaining(['image-pull', 'image-pull-failed']));
    expect(shippedBytes()).toBe(0);
    const after = await images();
    expect(after).toEqual(before);
    expect(after.join('\n')).not.toContain(recorded.slice(7));
    expect(after.join('\n')).not.toMatch(/\.incoming/);
  }, 300_000);
});
