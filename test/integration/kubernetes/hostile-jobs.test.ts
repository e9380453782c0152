import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { useCliProject } from '../../helpers/cli-project.js';
import { expectForgedArchiveContained, expectLinkedOutputRefused, expectOutputFloodCut, localCanary, type Canary } from '../../helpers/hostile-jobs.js';
import { kubernetesAddArgs } from './kubernetes-backend-env.js';

const FILE_LIMIT = 2000;

describe('the built CLI: hostile pods cannot make collect read outside their directory nor fill the worker disk', () => {
  const p = useCliProject('k8s-hostile', () => kubernetesAddArgs('k8s', 'reprise-hostile'));
  let canary: Canary;
  beforeAll(() => {
    // On the worker's machine: where a link the pod's archive makes would point.
    canary = localCanary();
    p.cli.env.REPRISE_MAX_OUTPUT_FILES = String(FILE_LIMIT);
  });
  afterAll(() => rmSync(canary.dir, { recursive: true, force: true }));

  it('output/ replaced by a link: nothing collected, the refusal named, no canary in history', async () => {
    await expectLinkedOutputRefused(p.cli, p.root, 'k8s', canary);
  }, 300_000);

  it('50,000 files in output/: the file limit is collected, the rest named by the first cut', async () => {
    await expectOutputFloodCut(p.cli, p.root, 'k8s', FILE_LIMIT);
  }, 900_000);

  // Last: it changes the project's image. The pod's uid (1000) owns a folder at the head of the
  // image's PATH, as conda images' /opt/conda/bin is their user's: the container runtime finds
  // the `sh` collect execs there, so the job chooses the archive collect receives.
  it("collect receives a tar with a repeated member name (the job's own `sh` on PATH): the first kept, the others named, no link made, no canary", async () => {
    const env = join(p.root, '.reprise/environment.yaml');
    const spec = readFileSync(env, 'utf8').replace(/^dockerfile: \[\]\n?/m, '');
    writeFileSync(env, `${spec}dockerfile:\n  - RUN mkdir -p /opt/conda/bin && chown 1000:1000 /opt/conda/bin\n  - ENV PATH=/opt/conda/bin:$PATH\n`);
    await expectForgedArchiveContained(p.cli, p.root, 'k8s', canary, '/opt/conda/bin');
  }, 600_000);
});
