import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { useCliProject } from '../../helpers/cli-project.js';
import { expectLinkedOutputRefused, expectOutputFloodCut, localCanary, type Canary } from '../../helpers/hostile-jobs.js';
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
});
