import { afterAll, describe, expect, it } from 'vitest';
import { SlurmBackend } from '../../../src/backends/slurm/slurm-backend.js';
import type { RunRecord } from '../../../src/project/run-record.js';
import { useCliProject } from '../../helpers/cli-project.js';
import { repoState } from '../../helpers/project.js';
import { clusterConfig, slurmAddArgs } from './slurm-backend-env.js';

// GPUs by type on the real test cluster, without GPU hardware: test/infra/slurm declares
// `Gres=gpu:a100:2` on its node (gres.conf with device files made for the test) and accounts for
// gres in sacct. SLURM's own scheduling and accounting are what is proven; CUDA in the job is not.
// Each run may wait for the node behind other suites' jobs: minutes, not the 60 s default.
describe('the built CLI: SLURM GPUs by type (gres gpu:a100:2 on the test node)', { timeout: 240_000 }, () => {
  const p = useCliProject('gpus', () => slurmAddArgs('hpc', `~/reprise-it/gpus-${Date.now()}`));
  const admin = new SlurmBackend(clusterConfig('~/reprise-it'));
  afterAll(() => admin.ssh.close());
  let a100JobId = '';

  /** What sacct itself says the job was given. */
  const sacctTres = async (jobId: string) => (await admin.ssh.run(['sacct', '-X', '-n', '-P', '-o', 'AllocTRES', '-j', jobId])).trim();

  it('--gpus a100:1 is scheduled with --gres=gpu:a100:1; the record keeps what sacct says was granted; show prints it', async () => {
    const r = await p.cli.run(['run', '--on', 'hpc', '--gpus', 'a100:1', '--', 'echo', 'on a gpu node'], p.root);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('on a gpu node\n');
    const [entry] = await p.cli.json<{ runId: string }[]>(['log'], p.root);
    const record = await p.cli.json<RunRecord>(['show', entry!.runId], p.root);
    expect(record.resources).toEqual({ gpus: 1, gpuType: 'a100' });
    expect(record.granted).toMatchObject({ 'gres/gpu:a100': '1', 'gres/gpu': '1' });
    a100JobId = record.backend.jobId!;
    const tres = await sacctTres(a100JobId);
    expect(tres).toContain('gres/gpu:a100=1');
    expect(Object.entries(record.granted!).map(([k, v]) => `${k}=${v}`).sort()).toEqual(tres.split(',').sort());
    const shown = await p.cli.run(['show', entry!.runId], p.root);
    expect(shown.stdout).toMatch(/^resources {2}gpus=a100:1$/m);
    expect(shown.stdout).toMatch(/^granted {4}.*gres\/gpu:a100=1/m);
  });

  it('--gpus h100:1 (a type no node has) fails at once with sbatch\'s reason: exit 2, nothing recorded, nothing queued', async () => {
    const before = repoState(p.root);
    const logBefore = await p.cli.json<unknown[]>(['log'], p.root);
    const t0 = Date.now();
    const r = await p.cli.run(['run', '--on', 'hpc', '--gpus', 'h100:1', '--', 'true'], p.root);
    const seconds = (Date.now() - t0) / 1000;
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.trimEnd().split('\n').at(-1)).toMatch(/^Error: 127\.0\.0\.1 refuses the job asking for --gpus h100:1: (Batch job submission failed: )?Requested node configuration is not available; ask for less \(--cpus, --memory, --gpus, --time\) or another partition$/);
    expect(seconds).toBeLessThan(60);
    expect(repoState(p.root)).toEqual(before);
    expect(await p.cli.json<unknown[]>(['log'], p.root)).toEqual(logBefore);
    const runId = /run (run-[a-z2-7]+) on hpc/.exec(r.stderr)![1]!;
    expect((await admin.ssh.run(['squeue', '-h', '-n', `reprise-${runId}`, '-o', '%i'])).trim()).toBe('');
    console.log(`h100:1 refused in ${seconds.toFixed(1)} s`);
  });

  it('plain --gpus 1 still works (--gres=gpu:1): any GPU of the node', async () => {
    const r = await p.cli.run(['run', '--on', 'hpc', '--gpus', '1', '--', 'true'], p.root);
    expect(r.code, r.stderr).toBe(0);
    const [entry] = await p.cli.json<{ runId: string }[]>(['log'], p.root);
    const record = await p.cli.json<RunRecord>(['show', entry!.runId], p.root);
    expect(record.resources).toEqual({ gpus: 1 });
    expect(record.granted).toMatchObject({ 'gres/gpu': '1' });
    expect(await sacctTres(record.backend.jobId!)).toMatch(/gres\/gpu=1/);
  });

  /** How the job asked: TresPerNode for --gres, TresPerJob for --gpus (scontrol keeps ended jobs for MinJobAge). */
  const askedAs = async (jobId: string) => /\b(TresPerNode|TresPerJob)=(\S+)/.exec(await admin.ssh.run(['scontrol', 'show', 'job', '-o', jobId]))?.slice(1, 3);

  it('a backend with gpuFlag: gpus asks with --gpus=a100:1 instead of --gres (and the default backend with --gres)', async () => {
    const add = await p.cli.run(['backend', 'add', ...slurmAddArgs('hpc-gpus', `~/reprise-it/gpus-flag-${Date.now()}`), '--gpu-flag', 'gpus'], '/');
    expect(add.code, add.stderr).toBe(0);
    const r = await p.cli.run(['run', '--on', 'hpc-gpus', '--gpus', 'a100:1', '--', 'true'], p.root);
    expect(r.code, r.stderr).toBe(0);
    const [entry] = await p.cli.json<{ runId: string }[]>(['log'], p.root);
    const record = await p.cli.json<RunRecord>(['show', entry!.runId], p.root);
    expect(await askedAs(record.backend.jobId!)).toEqual(['TresPerJob', 'gres:gpu:a100:1']);
    expect(record.granted).toMatchObject({ 'gres/gpu:a100': '1' });
    // The first test's run, on the backend without the setting.
    expect(await askedAs(a100JobId)).toEqual(['TresPerNode', 'gres:gpu:a100:1']);
  });

  it('a run without GPUs records no grant (records stay as they were)', async () => {
    const r = await p.cli.run(['run', '--on', 'hpc', '--', 'true'], p.root);
    expect(r.code, r.stderr).toBe(0);
    const [entry] = await p.cli.json<{ runId: string }[]>(['log'], p.root);
    expect(await p.cli.json<RunRecord>(['show', entry!.runId], p.root)).not.toHaveProperty('granted');
  });
});
