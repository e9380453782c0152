// Least privilege on the real SLURM test cluster: what a run leaves there (its directory, its
// batch script, the image cache) is readable by its owner only, not by another account's jobs.
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlurmBackend } from '../../../src/backends/slurm/slurm-backend.js';
import { tempDir } from '../../helpers/project.js';
import { buildTestImage, clusterConfig } from './slurm-backend-env.js';

const suite = `perm-${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const backend = new SlurmBackend(clusterConfig(`~/reprise-it/${suite}`));
const tag = `reprise-slurm-perm:${suite}`;
let digest: string;

beforeAll(() => {
  digest = buildTestImage(tag);
});

afterAll(async () => {
  await backend.ssh.exec(['sh', '-c', 'rm -rf "$HOME/reprise-it/$1"', 'sh', suite]);
  backend.close();
});

describe('SLURM run directories and image cache', () => {
  it('are 0700, as is the batch script', async () => {
    const sourcesDir = await tempDir('reprise-slurm-perm-');
    await mkdir(join(sourcesDir, 'output'));
    const runId = `run-${suite}`;
    const staged = await backend.stage({ runId, image: { digest, tag }, sourcesDir });
    const handle = await backend.submit({ runId, command: ['true'], env: {}, resources: {}, staged });
    try {
      const modes = await backend.ssh.run(['sh', '-c', 'cd "$HOME/reprise-it/$1" && stat -c "%a %n" runs "runs/$2" "runs/$2/job.sh" images', 'sh', suite, runId]);
      expect(modes).toBe(`700 runs\n700 runs/${runId}\n700 runs/${runId}/job.sh\n700 images\n`);
    } finally {
      await backend.cancel(handle);
      await backend.cleanup(handle);
    }
  }, 300_000);
});
