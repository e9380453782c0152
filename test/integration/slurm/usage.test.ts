import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SlurmBackend } from '../../../src/backends/slurm/slurm-backend.js';
import type { RunRecord } from '../../../src/project/run-record.js';
import { useCliProject } from '../../helpers/cli-project.js';
import { PYTHON_BASE } from '../../helpers/lab.js';
import { expectSweepRecorded, sweepIdOf } from '../../helpers/sweep.js';
import { clusterConfig, slurmAddArgs } from './slurm-backend-env.js';

// What a SLURM run used, from sacct on the real test cluster (slurmdbd, jobacct_gather/linux,
// gres gpu:a100:2 declared on its node): the record's figures are sacct's own. A Debian base: a
// Charliecloud GPU job injects the node's NVIDIA libraries with ch-fromhost, which needs /sbin/ldconfig.
describe('the built CLI on SLURM: what a run used, from sacct', { timeout: 300_000 }, () => {
  const admin = new SlurmBackend(clusterConfig('~/reprise-it'));
  const remoteDir = `~/reprise-it/usage-${Date.now()}`;
  const p = useCliProject('usage', () => slurmAddArgs('hpc', remoteDir), PYTHON_BASE);

  beforeAll(async () => {
    await writeFile(join(p.root, 'code/burn.sh'), 's=$(date +%s); while [ $(( $(date +%s) - s )) -lt 3 ]; do :; done; echo burnt\n');
  });

  afterAll(async () => {
    await admin.ssh.run(['sh', '-c', 'rm -rf -- "$HOME/$1"', 'sh', remoteDir.slice(2)]).catch(() => undefined);
    admin.ssh.close();
  });

  it('a run given a CPU and an a100 records sacct\'s elapsed time, TotalCPU, core-hours and GPU-hours; show prints them', async () => {
    const r = await p.cli.run(['run', '--on', 'hpc', '--cpus', '1', '--gpus', 'a100:1', '--', 'sh', 'code/burn.sh'], p.root);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('burnt\n');
    const runId = (await p.cli.json<{ runId: string }[]>(['log'], p.root))[0]!.runId;
    const record = await p.cli.json<RunRecord>(['show', runId], p.root);
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

    const shown = await p.cli.run(['show', runId], p.root);
    expect(shown.stdout).toMatch(/^used {7}wall \d+s · cpu [\d.]+s · [\d.e-]+ core-h · [\d.e-]+ GPU-h( · peak [\d.]+ \w+)? \(sacct\)$/m);
    console.log(`slurm usage: ${JSON.stringify(used)} (sacct: ${rows.join(' / ')})`);
  });

  it('each point of a sweep submitted as one job array records its own element\'s sacct figures', async () => {
    const r = await p.cli.run(['sweep', '--on', 'hpc', '--array', '--param', 'n=1,2', '--', 'sh', '-c', 'sleep {n}'], p.root);
    expect(r.code, r.stderr).toBe(0);
    const summary = await expectSweepRecorded(p.cli, p.root, sweepIdOf(r), 2);
    for (const point of summary.points) {
      const record = await p.cli.json<RunRecord>(['show', point.runId], p.root);
      const jobId = record.backend.jobId!;
      expect(jobId).toMatch(/^\d+_\d+$/);
      const elapsed = (await admin.ssh.run(['sacct', '-j', jobId, '-X', '--noheader', '--parsable2', '--format=ElapsedRaw'])).trim();
      expect(record.used).toMatchObject({ source: 'sacct', wallSeconds: Number(elapsed) });
      expect(record.used!.coreHours).toBeCloseTo(Number(elapsed) / 3600, 6);
      expect(record.used!.gpuHours).toBeUndefined();
    }
  });
});
