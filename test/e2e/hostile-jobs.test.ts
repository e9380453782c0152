import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { useCliProject } from '../helpers/cli-project.js';
import { expectLinkedOutputRefused, expectOutputFloodCut, localCanary, type Canary } from '../helpers/hostile-jobs.js';

const FILE_LIMIT = 2000;

describe('the built CLI: hostile jobs on local Docker cannot make collect read outside their directory', () => {
  const p = useCliProject('hostile');
  let canary: Canary;
  beforeAll(() => {
    canary = localCanary();
    // Read by the agent's worker, which the first run starts.
    p.cli.env.REPRISE_MAX_OUTPUT_FILES = String(FILE_LIMIT);
  });
  afterAll(() => rmSync(canary.dir, { recursive: true, force: true }));

  it('output/ replaced by a link to a canary folder: nothing collected, the refusal named, no canary in history', async () => {
    await expectLinkedOutputRefused(p.cli, p.root, 'local', canary);
  }, 180_000);

  it('50,000 files in output/: the file limit is collected, the rest named by the first cut', async () => {
    await expectOutputFloodCut(p.cli, p.root, 'local', FILE_LIMIT);
  }, 600_000);
});
