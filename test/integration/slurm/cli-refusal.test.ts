import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { Cli, cliEnv } from '../../helpers/cli.js';
import { repoState, tempDir } from '../../helpers/project.js';
import { BUSYBOX, requireDocker } from '../../helpers/docker.js';
import { SlurmBackend } from '../../../src/backends/slurm/slurm-backend.js';
import { clusterConfig } from './slurm-backend-env.js';

// The user's view of a request SLURM can never satisfy: one line with sbatch's reason, exit 2,
// nothing recorded, nothing left queued, the project as it was.
describe('the built CLI: a SLURM request no node can satisfy', () => {
  let cli: Cli;
  let root: string;

  beforeAll(async () => {
    requireDocker();
    cli = new Cli(await cliEnv(await tempDir('reprise-slurm-refusal-home-')));
    const c = clusterConfig(`~/reprise-it/refusal-${Date.now()}`);
    const add = ['backend', 'add', 'hpc', '--kind', 'slurm', '--host', c.host, '--port', String(c.port), '--user', c.user, '--identity-file', c.identityFile,
      '--known-hosts-file', c.knownHostsFile, '--partition', c.partition!, '--workdir', c.workdir!];
    expect((await cli.run(add, '/')).code).toBe(0);
    const work = await tempDir('reprise-slurm-refusal-');
    expect((await cli.run(['init', 'refused', '--name', 'refused', '--base', BUSYBOX], work)).code).toBe(0);
    root = join(work, 'refused');
  });

  afterAll(async () => {
    await cli?.run(['agent', 'stop'], root);
  });


  it('--memory 500G fails the run with exit 2 and the scheduler\'s reason; the project is untouched', async () => {
    const before = repoState(root);
    const r = await cli.run(['run', '--on', 'hpc', '--memory', '500G', '--', 'true'], root);
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd().split('\n').at(-1)).toMatch(/^Error: 127\.0\.0\.1 refuses the job: Memory specification can not be satisfied; .*; ask for less \(--cpus, --memory, --gpus, --time\) or another partition$/);
    expect(repoState(root)).toEqual(before);
    expect(await cli.json<unknown[]>(['log'], root)).toEqual([]);
  });

  it('a job that merely waits (the node held by another job) says why: attached output, runs and show; then it runs', async () => {
    const admin = new SlurmBackend(clusterConfig('~/reprise-it'));
    const holder = (await admin.ssh.run(['sbatch', '--parsable', '--exclusive', '-J', 'reprise-it-holder', '--wrap', 'sleep 300'])).trim();
    try {
      const child = cli.spawn(['run', '--on', 'hpc', '--', 'echo', 'ran'], root);
      let stderr = '';
      let stdout = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d));
      child.stdout!.on('data', (d: Buffer) => (stdout += d));
      const exited = new Promise<number | null>((r) => child.on('close', r));
      for (let i = 0; i < 120 && !/waiting: \w+ \(squeue\)/.test(stderr); i++) await new Promise((r) => setTimeout(r, 500));
      expect(stderr).toMatch(/waiting: (Resources|Priority) \(squeue\)/);
      const runId = /run (run-[a-z2-7]+) on hpc/.exec(stderr)![1]!;
      const runs = await cli.json<{ runId: string; state: string; waiting?: string }[]>(['runs'], root);
      expect(runs.find((r) => r.runId === runId)?.waiting).toMatch(/^(Resources|Priority) \(squeue\)$/);
      const shown = await cli.json<{ recorded: boolean; waiting?: string }>(['show', runId.slice(0, 10)], root);
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
