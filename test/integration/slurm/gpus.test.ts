import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SlurmBackend } from '../../../src/backends/slurm/slurm-backend.js';
import type { RunRecord } from '../../../src/project/run-record.js';
import { useCliProject } from '../../helpers/cli-project.js';
import { BUSYBOX } from '../../helpers/docker.js';
import { PYTHON_BASE } from '../../helpers/lab.js';
import { repoState, tempDir } from '../../helpers/project.js';
import { clusterConfig, slurmAddArgs } from './slurm-backend-env.js';

// GPUs by type on the real test cluster, without GPU hardware: test/infra/slurm declares
// `Gres=gpu:a100:2` on its node (gres.conf with device files made for the test) and accounts for
// gres in sacct. SLURM's own scheduling and accounting are what is proven; CUDA in the job is not.
// Charliecloud GPU jobs run the image with the site's NVIDIA libraries injected (ch-fromhost
// --nvidia, which runs the image's /sbin/ldconfig: a Debian base, busybox has none); the site's
// libraries are fakes test/infra/slurm installs (a nvidia-container-cli listing a fake nvidia-smi
// and libnvidia-ml.so.1). Real NVIDIA libraries and CUDA in the container are not proven.
// Each run may wait for the node behind other suites' jobs: minutes, not the 60 s default.
describe('the built CLI: SLURM GPUs by type (gres gpu:a100:2 on the test node)', { timeout: 240_000 }, () => {
  const workdir = `reprise-it/gpus-${Date.now()}`;
  const p = useCliProject('gpus', () => slurmAddArgs('hpc', `~/${workdir}`), PYTHON_BASE);
  const admin = new SlurmBackend(clusterConfig('~/reprise-it'));
  afterAll(async () => {
    for (const dir of [workdir, `${workdir}-flag`]) await removeWorkdir(dir);
    admin.ssh.close();
  });
  /** A backend's folder on the cluster, images (a Debian base: 170 MB each, and its -nvidia copy) and all. */
  const removeWorkdir = (dir: string) => admin.ssh.run(['sh', '-c', 'chmod -R u+w -- "$HOME/$1" 2>/dev/null; rm -rf -- "$HOME/$1"', 'sh', dir]).catch(() => undefined);
  const FAKE_SMI = 'NVIDIA-SMI (fake, test/infra/slurm): 2 x a100 on the Reprise test cluster';
  /** `ls -A` of a backend's images folder on the cluster, and each entry's inode and mtime. */
  const images = async (dir: string) =>
    (await admin.ssh.run(['sh', '-c', 'cd "$HOME/$1/images" && for f in $(ls -A); do echo "$f $(stat -c "%i %Y" "$f")"; done', 'sh', dir])).trim().split('\n').filter(Boolean);
  let a100JobId = '';

  /** What sacct itself says the job was given. */
  const sacctTres = async (jobId: string) => (await admin.ssh.run(['sacct', '-X', '-n', '-P', '-o', 'AllocTRES', '-j', jobId])).trim();

  it('--gpus a100:1 is scheduled with --gres=gpu:a100:1; the record keeps what sacct says was granted; show prints it', async () => {
    const t0 = Date.now();
    const r = await p.cli.run(['run', '--on', 'hpc', '--gpus', 'a100:1', '--', 'echo', 'on a gpu node'], p.root);
    expect(r.code, r.stderr).toBe(0);
    console.log(`first GPU run (image shipped, converted, -nvidia made on the node): ${((Date.now() - t0) / 1000).toFixed(1)} s`);
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
    const add = await p.cli.run(['backend', 'add', ...slurmAddArgs('hpc-gpus', `~/${workdir}-flag`), '--gpu-flag', 'gpus'], '/');
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

  it('charliecloud GPU runs get the node\'s NVIDIA files (fake nvidia-smi runs in the container); the -nvidia image is made once and reused; CPU runs keep the plain image', async () => {
    // The first test's GPU run made <digest>-nvidia beside <digest>: nothing else is there.
    const before = await images(workdir);
    expect(before.map((l) => l.split(' ')[0])).toEqual([expect.stringMatching(/^[0-9a-f]{64}$/), expect.stringMatching(/^[0-9a-f]{64}-nvidia$/)]);
    const show = 'nvidia-smi; cat /usr/local/lib/libnvidia-ml.so.1';
    const t0 = Date.now();
    const r = await p.cli.run(['run', '--on', 'hpc', '--gpus', 'a100:1', '--', 'sh', '-c', show], p.root);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${FAKE_SMI}\nfake libnvidia-ml for the Reprise test cluster (test/infra/slurm)\n`);
    console.log(`GPU run with the -nvidia image reused: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    // Reused, not made again: same entries, same inodes and mtimes.
    expect(await images(workdir)).toEqual(before);
    const cpu = await p.cli.run(['run', '--on', 'hpc', '--', 'sh', '-c', 'command -v nvidia-smi || echo no nvidia-smi; ls /usr/local/lib'], p.root);
    expect(cpu.code, cpu.stderr).toBe(0);
    expect(cpu.stdout).toMatch(/^no nvidia-smi\n/);
    expect(cpu.stdout).not.toContain('libnvidia-ml');
  });

  it('a node without nvidia-container-cli (the job\'s PATH lacks it): exit 125, one line saying what failed and the fix, no -nvidia image nor copy left', async () => {
    const dir = `${workdir}-nocli`;
    const add = await p.cli.run(['backend', 'add', ...slurmAddArgs('hpc-nocli', `~/${dir}`), '--sbatch-arg', '--export=ALL,PATH=/usr/bin:/bin'], '/');
    expect(add.code, add.stderr).toBe(0);
    try {
      const r = await p.cli.run(['run', '--on', 'hpc-nocli', '--gpus', 'a100:1', '--', 'nvidia-smi'], p.root);
      expect(r.code).toBe(125);
      const lines = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.startsWith('reprise: '));
      expect(lines).toEqual([expect.stringMatching(/^reprise: node \S+ lacks the NVIDIA container libraries \('nvidia-container-cli list' failed\): install libnvidia-container on the GPU nodes; or use runtime apptainer, which passes --nv$/)]);
      expect((await images(dir)).map((l) => l.split(' ')[0])).toEqual([expect.stringMatching(/^[0-9a-f]{64}$/)]);
      console.log(`no CLI: ${JSON.stringify({ code: r.code, stdout: r.stdout, stderr: r.stderr.split('\n').slice(-3) })}`);
    } finally {
      await removeWorkdir(dir);
    }
  });

  it('an image ch-fromhost cannot prepare (busybox: no /sbin/ldconfig): exit 125, one line with ch-fromhost\'s reason, its copy removed', async () => {
    const work = await tempDir('reprise-gpus-busybox-');
    const init = await p.cli.run(['init', 'bb', '--name', 'bb', '--base', BUSYBOX], work);
    expect(init.code, init.stderr).toBe(0);
    const dir = `${workdir}-busybox`;
    const add = await p.cli.run(['backend', 'add', ...slurmAddArgs('hpc-bb', `~/${dir}`)], '/');
    expect(add.code, add.stderr).toBe(0);
    try {
      const r = await p.cli.run(['run', '--on', 'hpc-bb', '--gpus', 'a100:1', '--', 'true'], join(work, 'bb'));
      expect(r.code).toBe(125);
      const lines = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.startsWith('reprise: '));
      expect(lines).toEqual([expect.stringMatching(/^reprise: ch-fromhost --nvidia failed on node \S+ \(ch-fromhost: .+\): the image needs \/sbin\/ldconfig .*; or use runtime apptainer, which passes --nv$/)]);
      console.log(`busybox: ${lines[0]}`);
      expect((await images(dir)).map((l) => l.split(' ')[0])).toEqual([expect.stringMatching(/^[0-9a-f]{64}$/)]);
    } finally {
      await removeWorkdir(dir);
    }
  });
});
