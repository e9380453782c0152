import { describe, it } from 'vitest';
import { expectArgvDelivered } from '../helpers/argv-corpus.js';
import { useCliProject } from '../helpers/cli-project.js';
import { expectHostileOutputsContained } from '../helpers/output-corpus.js';

describe('the built CLI: hostile arguments and outputs on a local Docker job', () => {
  const p = useCliProject('argv');

  it('quotes, $(), backticks, newlines, CR, ;, globs, leading dashes, empty and 32 KiB arguments', async () => {
    await expectArgvDelivered(p.cli, p.root, 'local');
  });

  it('outputs that are links out of output/, a hard link, a pipe, names with a newline or "..": nothing written outside, the rest named', async () => {
    await expectHostileOutputsContained(p.cli, p.root, 'local');
  });
});
