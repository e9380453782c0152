// The hostile-job corpus in a lab on Kubernetes: the session replaces code/ and output/ by links
// to a canary folder on the worker's machine; checkpoints and the stop refuse them, named.
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cli, cliEnv } from '../../helpers/cli.js';
import { expectLabLinksRefused } from '../../helpers/hostile-corpus.js';
import { localCanary, type Canary } from '../../helpers/hostile-jobs.js';
import { makeLabProject } from '../../helpers/lab.js';
import { tempDir } from '../../helpers/project.js';
import { kubernetesAddArgs } from './kubernetes-backend-env.js';

describe('reprise lab on Kubernetes: code/ and output/ replaced by links to a canary', () => {
  let cli: Cli;
  let root: string;
  let canary: Canary;
  beforeAll(async () => {
    canary = localCanary();
    cli = new Cli(await cliEnv(await tempDir('reprise-k8s-hostile-lab-home-')));
    // The registry path of lab.test.ts: the lab image is usually there already.
    const add = await cli.run(['backend', 'add', ...kubernetesAddArgs('k8s', 'reprise-lab-it')], '/');
    expect(add.code, add.stderr).toBe(0);
    root = await makeLabProject(cli, await tempDir('reprise-k8s-hostile-lab-'), 'lab');
  }, 900_000);
  afterAll(async () => {
    await cli?.run(['agent', 'stop'], root ?? '/');
    if (canary) rmSync(canary.dir, { recursive: true, force: true });
  });

  it('checkpoints and stop copy nothing through the links, name both refusals, keep the files saved before; no canary', async () => {
    await expectLabLinksRefused(cli, root, 'k8s', canary);
  }, 1_200_000);
});
