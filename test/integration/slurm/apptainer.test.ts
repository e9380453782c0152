// The apptainer runtime end to end on the real test cluster, through the built CLI: a backend
// added with `--runtime apptainer`, checked, and a run that prints and writes an output, recorded.
// Needs Apptainer on the cluster: `SLURM_APPTAINER=1 test/infra/slurm up` builds it
// (test/infra/apptainer-install.sh); without it this suite fails with that instruction.
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlurmBackend } from '../../../src/backends/slurm/slurm-backend.js';
import { Cli, cliEnv } from '../../helpers/cli.js';
import { BUSYBOX, requireDocker } from '../../helpers/docker.js';
import { git, tempDir } from '../../helpers/project.js';
import { clusterConfig, slurmAddArgs } from './slurm-backend-env.js';

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
