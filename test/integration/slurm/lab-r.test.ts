// `reprise lab --on hpc` with R: JupyterLab and IRkernel in a batch job on the compute node
// (Charliecloud), reached through the SSH tunnel; the launcher lists R (Chromium), and an R print,
// an R error and an R plot are recorded with the plot as a PNG.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cli, cliEnv } from '../../helpers/cli.js';
import { startLab } from '../../helpers/lab.js';
import { exerciseRLab, launcherShowsR, makeRLabProject } from '../../helpers/lab-r.js';
import { tempDir } from '../../helpers/project.js';
import { slurmAddArgs } from './slurm-backend-env.js';

let cli: Cli;
let root: string;

beforeAll(async () => {
  cli = new Cli(await cliEnv(await tempDir('reprise-hpc-lab-r-home-')));
  const add = await cli.run(['backend', 'add', ...slurmAddArgs('hpc', `~/reprise-it/lab-r-${Date.now()}`)], '/');
  expect(add.code, add.stderr).toBe(0);
  root = await makeRLabProject(cli, await tempDir('reprise-hpc-lab-r-'), 'rlab');
}, 900_000);

afterAll(async () => {
  await cli?.run(['agent', 'stop'], root ?? '/');
});

describe('reprise lab with R on slurm', () => {
  it('lists the R kernel in the launcher and records an R print, an R error and an R plot as PNG', async () => {
    // The R lab image (hundreds of MB) is converted and copied to the cluster the first time.
    const lab = await startLab(cli, root, ['--on', 'hpc', '--checkpoint-every', '600s'], 1_500_000);
    console.log(`launcher screenshot: ${await launcherShowsR(lab, 'lab-r-launcher-slurm')}`);
    const view = await exerciseRLab(cli, root, lab);
    expect(view.backend).toMatchObject({ name: 'hpc', kind: 'slurm' });
  }, 2_400_000);
});
