import { describe, it } from 'vitest';
import { expectArgvDelivered } from '../../helpers/argv-corpus.js';
import { useCliProject } from '../../helpers/cli-project.js';
import { expectHostileOutputsContained } from '../../helpers/output-corpus.js';
import { slurmAddArgs } from './slurm-backend-env.js';

describe('the built CLI: hostile arguments and outputs on a SLURM job', () => {
  const p = useCliProject('slurm-argv', () => slurmAddArgs('hpc', `~/reprise-it/argv-${Date.now()}`));

  it('quotes, $(), backticks, newlines, ;, globs, leading dashes, empty and 32 KiB arguments', async () => {
    await expectArgvDelivered(p.cli, p.root, 'hpc');
  }, 120_000);

  it('outputs that are links out of output/, a hard link, a pipe, names with a newline or "..": nothing written outside, the rest named', async () => {
    await expectHostileOutputsContained(p.cli, p.root, 'hpc');
  }, 120_000);
});
