import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { Cli, cliEnv } from '../../helpers/cli.js';
import { repoState, tempDir } from '../../helpers/project.js';
import { BUSYBOX, requireDocker } from '../../helpers/docker.js';
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
});
