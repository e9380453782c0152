import { afterAll, beforeAll, describe, it } from 'vitest';
import { join } from 'node:path';
import { expectHostileOutputsContained } from '../../helpers/output-corpus.js';
import { expectArgvDelivered } from '../../helpers/argv-corpus.js';
import { Cli, cliEnv } from '../../helpers/cli.js';
import { BUSYBOX, requireDocker } from '../../helpers/docker.js';
import { tempDir } from '../../helpers/project.js';
import { clusterConfig } from './slurm-backend-env.js';

describe('the built CLI: hostile arguments reach a SLURM job byte for byte', () => {
  let cli: Cli;
  let root: string;

  beforeAll(async () => {
    requireDocker();
    cli = new Cli(await cliEnv(await tempDir('reprise-slurm-argv-home-')));
    const c = clusterConfig(`~/reprise-it/argv-${Date.now()}`);
    const add = ['backend', 'add', 'hpc', '--kind', 'slurm', '--host', c.host, '--port', String(c.port), '--user', c.user, '--identity-file', c.identityFile,
      '--known-hosts-file', c.knownHostsFile, '--partition', c.partition!, '--workdir', c.workdir!];
    if ((await cli.run(add, '/')).code !== 0) throw new Error('backend add failed');
    const work = await tempDir('reprise-slurm-argv-');
    if ((await cli.run(['init', 'argv', '--name', 'argv', '--base', BUSYBOX], work)).code !== 0) throw new Error('init failed');
    root = join(work, 'argv');
  });

  afterAll(async () => {
    await cli?.run(['agent', 'stop'], root);
  });

  it('quotes, $(), backticks, newlines, ;, globs, leading dashes, empty and 32 KiB arguments', async () => {
    await expectArgvDelivered(cli, root, 'hpc');
  }, 120_000);

  it('outputs that are links out of output/, a hard link, a pipe, names with a newline or "..": nothing written outside, the rest named', async () => {
    await expectHostileOutputsContained(cli, root, 'hpc');
  }, 120_000);
});
