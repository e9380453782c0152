// The hostile-job corpus in a lab on SLURM: the session replaces code/ and output/ by links to a
// canary folder on the login node (where collect's tar runs); checkpoints and the stop refuse
// them, named.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SshClient } from '../../../src/backends/slurm/ssh-client.js';
import { Cli, cliEnv } from '../../helpers/cli.js';
import { expectLabLinksRefused } from '../../helpers/hostile-corpus.js';
import type { Canary } from '../../helpers/hostile-jobs.js';
import { makeLabProject } from '../../helpers/lab.js';
import { tempDir } from '../../helpers/project.js';
import { clusterConfig, clusterTarget, slurmAddArgs } from './slurm-backend-env.js';

describe('reprise lab on SLURM: code/ and output/ replaced by links to a canary', () => {
  const ssh = new SshClient(clusterTarget({ identityFiles: [clusterConfig('~').identityFile] }));
  let cli: Cli;
  let root: string;
  let canary: Canary;
  beforeAll(async () => {
    const home = (await ssh.run(['sh', '-c', 'echo "$HOME"'])).trim();
    canary = { dir: `${home}/reprise-canary-${randomBytes(6).toString('hex')}`, token: `canary-${randomBytes(6).toString('hex')}` };
    await ssh.run(['sh', '-c', 'mkdir -p "$1" && echo "$2" > "$1/secret.txt"', 'sh', canary.dir, canary.token]);
    cli = new Cli(await cliEnv(await tempDir('reprise-slurm-hostile-lab-home-')));
    // One workdir for every run of this suite: the lab image is shipped to it once.
    const add = await cli.run(['backend', 'add', ...slurmAddArgs('hpc', '~/reprise-it/hostile-lab')], '/');
    expect(add.code, add.stderr).toBe(0);
    root = await makeLabProject(cli, await tempDir('reprise-slurm-hostile-lab-'), 'lab');
  }, 900_000);
  afterAll(async () => {
    await cli?.run(['agent', 'stop'], root ?? '/');
    if (canary) await ssh.run(['rm', '-rf', '--', canary.dir]);
    ssh.close();
  });

  it('checkpoints and stop copy nothing through the links, name both refusals, keep the files saved before; no canary', async () => {
    await expectLabLinksRefused(cli, root, 'hpc', canary);
  }, 1_500_000);
});
