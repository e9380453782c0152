// The hostile-job corpus in a lab on local Docker, through the built CLI (docker-collect.test.ts
// has the backend-level cases): the session replaces code/ and output/ by links to a canary
// folder on this machine; checkpoints and the stop refuse them, named.
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { Cli, cliEnv } from '../helpers/cli.js';
import { requireDocker } from '../helpers/docker.js';
import { expectLabLinksRefused } from '../helpers/hostile-corpus.js';
import { localCanary, type Canary } from '../helpers/hostile-jobs.js';
import { makeLabProject } from '../helpers/lab.js';
import { tempDir } from '../helpers/project.js';

describe('reprise lab on local Docker: code/ and output/ replaced by links to a canary', () => {
  let cli: Cli;
  let root: string;
  let canary: Canary;
  beforeAll(async () => {
    requireDocker();
    canary = localCanary();
    cli = new Cli(await cliEnv(await tempDir('reprise-hostile-lab-home-')));
    root = await makeLabProject(cli, await tempDir('reprise-hostile-lab-'), 'labdemo');
  }, 900_000);
  afterAll(async () => {
    await cli?.run(['agent', 'stop'], root ?? '/');
    if (canary) rmSync(canary.dir, { recursive: true, force: true });
  });

  it('checkpoints and stop copy nothing through the links, name both refusals, keep the files saved before; no canary', async () => {
    await expectLabLinksRefused(cli, root, 'local', canary);
  }, 900_000);
});
