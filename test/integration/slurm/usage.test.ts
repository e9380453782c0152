import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SlurmBackend } from '../../../src/backends/slurm/slurm-backend.js';
import type { RunRecord } from '../../../src/project/run-record.js';
import { Cli, cliEnv } from '../../helpers/cli.js';
import { BUSYBOX, requireDocker } from '../../helpers/docker.js';
import { tempDir } from '../../helpers/project.js';
import { expectSweepRecorded, sweepIdOf } from '../../helpers/sweep.js';
import { clusterConfig, slurmAddArgs } from './slurm-backend-env.js';

// What a SLURM run used, from sacct on the real test cluster (slurmdbd, jobacct_gather/linux,
// gres gpu:a100:2 declared on its node): the record's figures are sacct's own.
describe('the built CLI on SLURM: what a run used, from sacct', { timeout: 300_000 }, () => {
  const admin = new SlurmBackend(clusterConfig('~/reprise-it'));
  const remoteDir = `~/reprise-it/usage-${Date.now()}`;
  let cli: Cli;
  let work: string;
  let home: string;
  let root: string;

  beforeAll(async () => {
    requireDocker();
    work = await tempDir('reprise-slurm-usage-');
    home = await tempDir('reprise-slurm-usage-home-');
    cli = new Cli(await cliEnv(home));
    const add = await cli.run(['backend', 'add', ...slurmAddArgs('hpc', remoteDir)], '/');
    expect(add.code, add.stderr).toBe(0);
    expect((await cli.run(['init', 'usage', '--name', 'usage', '--base', BUSYBOX], work)).code).toBe(0);
    root = join(work, 'usage');
    await writeFile(join(root, 'code/burn.sh'), 's=$(date +%s); while [ $(( $(date +%s) - s )) -lt 3 ]; do :; done; echo burnt\n');
  }, 300_000);

  afterAll(async () => {
    await cli?.run(['agent', 'stop'], root);
    await admin.ssh.run(['sh', '-c', 'rm -rf -- "$HOME/$1"', 'sh', remoteDir.slice(2)]).catch(() => undefined);
    admin.ssh.close();
    await rm(work, { recursive: true, force: true });
    await rm(home, { recursive: true, force: true });
  });

  it('a run given a CPU and an a100 records sacct\'s elapsed time, TotalCPU, core-hours and GPU-hours; show prints them', async () => {
    const r = await cli.run(['run', '--on', 'hpc', '--cpus', '1', '--gpus', 'a100:1', '--', 'sh', 'code/burn.sh'], root);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('burnt\n');
    const runId = (await cli.json<{ runId: string }[]>(['log'], root))[0]!.runId;
    const record = await cli.json<RunRecord>(['show', runId], root);
    const used = record.used!;
    expect(used.source).toBe('sacct');
    expect(used.wallSeconds).toBeGreaterThanOrEqual(2);

    // sacct, asked directly now, says the same.
    const rows = (await admin.ssh.run(['sacct', '-j', record.backend.jobId!, '--noheader', '--parsable2', '--format=JobID,ElapsedRaw,TotalCPU,AllocTRES'])).trim().split('\n');
    const [, elapsed, totalCpu, alloc] = rows.find((l) => l.startsWith(`${record.backend.jobId}|`))!.split('|');
    expect(used.wallSeconds).toBe(Number(elapsed));
    expect(alloc).toMatch(/(^|,)cpu=1(,|$)/);
    expect(alloc).toMatch(/gres\/gpu=1/);
    expect(used.coreHours).toBeCloseTo(Number(elapsed) / 3600, 6);
    expect(used.gpuHours).toBeCloseTo(Number(elapsed) / 3600, 6);
    // TotalCPU ("MM:SS.mmm"): the burn kept the CPU busy for most of its wall time.
    const [min, sec] = totalCpu!.split(':').map(Number);
    expect(used.cpuSeconds).toBeCloseTo(min! * 60 + sec!, 3);
    expect(used.cpuSeconds).toBeGreaterThan(0.5);

    const shown = await cli.run(['show', runId], root);
    expect(shown.stdout).toMatch(/^used {7}wall \d+s · cpu [\d.]+s · [\d.e-]+ core-h · [\d.e-]+ GPU-h( · peak [\d.]+ \w+)? \(sacct\)$/m);
    console.log(`slurm usage: ${JSON.stringify(used)} (sacct: ${rows.join(' / ')})`);
  });

  it('each point of a sweep submitted as one job array records its own element\'s sacct figures', async () => {
    const r = await cli.run(['sweep', '--on', 'hpc', '--array', '--param', 'n=1,2', '--', 'sh', '-c', 'sleep {n}'], root);
    expect(r.code, r.stderr).toBe(0);
    const summary = await expectSweepRecorded(cli, root, sweepIdOf(r), 2);
    for (const point of summary.points) {
      const record = await cli.json<RunRecord>(['show', point.runId], root);
      const jobId = record.backend.jobId!;
      expect(jobId).toMatch(/^\d+_\d+$/);
      const elapsed = (await admin.ssh.run(['sacct', '-j', jobId, '-X', '--noheader', '--parsable2', '--format=ElapsedRaw'])).trim();
      expect(record.used).toMatchObject({ source: 'sacct', wallSeconds: Number(elapsed) });
      expect(record.used!.coreHours).toBeCloseTo(Number(elapsed) / 3600, 6);
      expect(record.used!.gpuHours).toBeUndefined();
    }
  });
});
