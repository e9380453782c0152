import { describe, expect, it } from 'vitest';
import { SlurmBackend } from '../../../src/backends/slurm/slurm-backend.js';
import { useCliProject } from '../../helpers/cli-project.js';
import { repoState } from '../../helpers/project.js';
import { clusterConfig, slurmAddArgs } from './slurm-backend-env.js';

// The user's view of a request SLURM can never satisfy: one line with sbatch's reason, exit 2,
// nothing recorded, nothing left queued, the project as it was.
describe('the built CLI: a SLURM request no node can satisfy', () => {
  const p = useCliProject('refused', () => slurmAddArgs('hpc', `~/reprise-it/refusal-${Date.now()}`));

  it('--memory 500G fails the run with exit 2 and the scheduler\'s reason; the project is untouched', async () => {
    const before = repoState(p.root);
    const r = await p.cli.run(['run', '--on', 'hpc', '--memory', '500G', '--', 'true'], p.root);
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd().split('\n').at(-1)).toMatch(/^Error: 127\.0\.0\.1 refuses the job: Memory specification can not be satisfied; .*; ask for less \(--cpus, --memory, --gpus, --time\) or another partition$/);
    expect(repoState(p.root)).toEqual(before);
    expect(await p.cli.json<unknown[]>(['log'], p.root)).toEqual([]);
  });

  it('a job that merely waits (the node held by another job) says why: attached output, runs and show; then it runs', async () => {
    const admin = new SlurmBackend(clusterConfig('~/reprise-it'));
    const holder = (await admin.ssh.run(['sbatch', '--parsable', '--exclusive', '-J', 'reprise-it-holder', '--wrap', 'sleep 300'])).trim();
    try {
      const child = p.cli.spawn(['run', '--on', 'hpc', '--', 'echo', 'ran'], p.root);
      let stderr = '';
      let stdout = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d));
      child.stdout!.on('data', (d: Buffer) => (stdout += d));
      const exited = new Promise<number | null>((r) => child.on('close', r));
      for (let i = 0; i < 120 && !/waiting: \w+ \(squeue\)/.test(stderr); i++) await new Promise((r) => setTimeout(r, 500));
      expect(stderr).toMatch(/waiting: (Resources|Priority) \(squeue\)/);
      const runId = /run (run-[a-z2-7]+) on hpc/.exec(stderr)![1]!;
      const runs = await p.cli.json<{ runId: string; state: string; waiting?: string }[]>(['runs'], p.root);
      expect(runs.find((r) => r.runId === runId)?.waiting).toMatch(/^(Resources|Priority) \(squeue\)$/);
      const shown = await p.cli.json<{ recorded: boolean; waiting?: string }>(['show', runId.slice(0, 10)], p.root);
      expect(shown).toMatchObject({ recorded: false, waiting: expect.stringMatching(/^(Resources|Priority) \(squeue\)$/) });
      await admin.ssh.run(['scancel', holder]);
      expect(await exited, stderr).toBe(0);
      expect(stdout).toBe('ran\n');
    } finally {
      await admin.ssh.exec(['scancel', holder]);
      admin.ssh.close();
    }
  }, 180_000);
});
