import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { SshClient } from '../../../src/backends/slurm/ssh-client.js';
import { useCliProject } from '../../helpers/cli-project.js';
import { expectLinkedOutputRefused, expectOutputFloodCut, type Canary } from '../../helpers/hostile-jobs.js';
import { clusterConfig, clusterTarget, slurmAddArgs } from './slurm-backend-env.js';

const FILE_LIMIT = 2000;

describe('the built CLI: hostile jobs on SLURM cannot make collect read outside their directory', () => {
  const p = useCliProject('slurm-hostile', () => slurmAddArgs('hpc', `~/reprise-it/hostile-${Date.now()}`));
  const ssh = new SshClient(clusterTarget({ identityFiles: [clusterConfig('~').identityFile] }));
  let canary: Canary;
  beforeAll(async () => {
    // The canary lives on the login node, where collect reads, outside every run's directory.
    const token = `canary-${randomBytes(6).toString('hex')}`;
    const home = (await ssh.run(['sh', '-c', 'echo "$HOME"'])).trim();
    // The folder's name is in the job's command (so in the record): never the token itself.
    canary = { dir: `${home}/reprise-canary-${randomBytes(6).toString('hex')}`, token };
    await ssh.run(['sh', '-c', 'mkdir -p "$1/deeper" && echo "$2" > "$1/secret.txt" && echo "$2" > "$1/deeper/secret.txt"', 'sh', canary.dir, token]);
    p.cli.env.REPRISE_MAX_OUTPUT_FILES = String(FILE_LIMIT);
  });
  afterAll(async () => {
    if (canary) await ssh.run(['rm', '-rf', '--', canary.dir]);
    ssh.close();
  });

  it('output/ replaced by a link to a canary folder on the cluster: nothing collected, the refusal named, no canary in history', async () => {
    await expectLinkedOutputRefused(p.cli, p.root, 'hpc', canary);
  }, 300_000);

  it('50,000 files in output/: the file limit is collected, the rest named by the first cut', async () => {
    await expectOutputFloodCut(p.cli, p.root, 'hpc', FILE_LIMIT);
  }, 900_000);
});
