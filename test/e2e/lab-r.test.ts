// `reprise lab` with R on local Docker: a project whose environment has Debian's R and IRkernel
// gets the R kernel in JupyterLab's launcher (Chromium through the tunnel), and the R cells it
// runs (a print, an error, a plot) are recorded with the plot as a PNG; the project image is
// not changed by the lab.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cli, cliEnv } from '../helpers/cli.js';
import { requireDocker } from '../helpers/docker.js';
import { startLab, type LabHandle } from '../helpers/lab.js';
import { exerciseRLab, launcherShowsR, makeProject, makeRLabProject } from '../helpers/lab-r.js';
import { tempDir } from '../helpers/project.js';

// The ready line's kernels (the kernelspec names JupyterLab offers).
const kernelsOf = (lab: LabHandle) => (lab as LabHandle & { kernels?: string[] }).kernels;

let cli: Cli;
let root: string;

beforeAll(async () => {
  requireDocker();
  cli = new Cli(await cliEnv(await tempDir('reprise-lab-r-home-')));
  root = await makeRLabProject(cli, await tempDir('reprise-lab-r-'), 'rlab');
}, 900_000);

afterAll(async () => {
  await cli?.run(['agent', 'stop'], root ?? '/');
});

describe('reprise lab with R on local Docker', () => {
  it('lists the R kernel in the launcher and records an R print, an R error and an R plot as PNG', async () => {
    // Building R from Debian's packages and the lab image on top takes minutes the first time.
    // One checkpoint, the final one: a periodic checkpoint in flight when `lab stop` cancels the
    // session can take the final one's number (an existing race, not R's).
    const lab = await startLab(cli, root, ['--checkpoint-every', '600s'], 1_200_000);
    const specs = (await (await fetch(`${lab.base}api/kernelspecs`, { headers: { Authorization: `token ${lab.token}` } })).json()) as { kernelspecs: Record<string, { spec: { language: string } }> };
    expect(specs.kernelspecs.ir?.spec.language).toBe('R');
    expect(Object.keys(specs.kernelspecs)).toContain('python3');
    expect(kernelsOf(lab)).toEqual(expect.arrayContaining(['ir', 'python3']));
    expect(lab.output()).not.toMatch(/no R kernel/);
    console.log(`launcher screenshot: ${await launcherShowsR(lab, 'lab-r-launcher-docker')}`);
    const view = await exerciseRLab(cli, root, lab);
    expect(view.backend.kind).toBe('docker');
    expect(view.labImage.digest).not.toBe(view.image.digest);
    // The project image has no JupyterLab: the lab's additions live in the lab image only.
    const tag = view.image.tag ?? view.image.digest;
    expect(() => execFileSync('docker', ['run', '--rm', '--entrypoint', 'python3', tag, '-c', 'import jupyterlab'], { stdio: 'ignore' })).toThrow();
  }, 1_800_000);

  it('says in one line that IRkernel is missing when the environment has R without it', async () => {
    const noKernel = await makeProject(cli, await tempDir('reprise-lab-r-nokernel-'), 'ronly', ['python3-pip', 'r-base-core']);
    const lab = await startLab(cli, noKernel, ['--checkpoint-every', '600s'], 1_200_000);
    expect(kernelsOf(lab)).toEqual(['python3']);
    const lines = lab.output().split('\n').filter((l) => /no R kernel/.test(l));
    expect(lines).toEqual(['this lab has no R kernel although the environment names R packages (IRkernel is missing); add it with: reprise env add apt r-cran-irkernel']);
    const stop = await cli.run(['lab', 'stop', lab.labId], noKernel);
    expect(stop.code, stop.stderr).toBe(0);
    expect((await lab.done).code).toBe(0);
    await cli.run(['agent', 'stop'], noKernel);
  }, 1_800_000);
});
