import { afterAll, beforeAll, describe, it } from 'vitest';
import { join } from 'node:path';
import { expectHostileOutputsContained } from '../helpers/output-corpus.js';
import { expectArgvDelivered } from '../helpers/argv-corpus.js';
import { Cli, cliEnv } from '../helpers/cli.js';
import { BUSYBOX, requireDocker } from '../helpers/docker.js';
import { tempDir } from '../helpers/project.js';

describe('the built CLI: hostile arguments reach a local Docker job byte for byte', () => {
  let cli: Cli;
  let root: string;

  beforeAll(async () => {
    requireDocker();
    cli = new Cli(await cliEnv(await tempDir('reprise-argv-home-')));
    const work = await tempDir('reprise-argv-');
    if ((await cli.run(['init', 'argv', '--name', 'argv', '--base', BUSYBOX], work)).code !== 0) throw new Error('init failed');
    root = join(work, 'argv');
  });

  afterAll(async () => {
    await cli?.run(['agent', 'stop'], root);
  });

  it('quotes, $(), backticks, newlines, CR, ;, globs, leading dashes, empty and 32 KiB arguments', async () => {
    await expectArgvDelivered(cli, root, 'local');
  });

  it('outputs that are links out of output/, a hard link, a pipe, names with a newline or "..": nothing written outside, the rest named', async () => {
    await expectHostileOutputsContained(cli, root, 'local');
  }, 120_000);
});
