import { afterAll, beforeAll, describe, it } from 'vitest';
import { join } from 'node:path';
import { expectHostileOutputsContained } from '../../helpers/output-corpus.js';
import { expectArgvDelivered } from '../../helpers/argv-corpus.js';
import { Cli, cliEnv } from '../../helpers/cli.js';
import { BUSYBOX, requireDocker } from '../../helpers/docker.js';
import { tempDir } from '../../helpers/project.js';
import { loadClusterEnv } from './kubernetes-backend-env.js';

describe('the built CLI: hostile arguments reach a Kubernetes job byte for byte', () => {
  let cli: Cli;
  let root: string;

  beforeAll(async () => {
    requireDocker();
    const c = loadClusterEnv();
    cli = new Cli(await cliEnv(await tempDir('reprise-k8s-argv-home-')));
    const add = ['backend', 'add', 'k8s', '--kind', 'kubernetes', '--kubeconfig', c.KUBECONFIG, '--context', c.K8S_CONTEXT, '--namespace', c.K8S_NAMESPACE, '--registry', `${c.K8S_REGISTRY}/reprise-argv`];
    if ((await cli.run(add, '/')).code !== 0) throw new Error('backend add failed');
    const work = await tempDir('reprise-k8s-argv-');
    if ((await cli.run(['init', 'argv', '--name', 'argv', '--base', BUSYBOX], work)).code !== 0) throw new Error('init failed');
    root = join(work, 'argv');
  });

  afterAll(async () => {
    await cli?.run(['agent', 'stop'], root);
  });

  it('quotes, $(), backticks, newlines, ;, globs, leading dashes, empty and 32 KiB arguments', async () => {
    await expectArgvDelivered(cli, root, 'k8s');
  }, 120_000);

  it('outputs that are links out of output/, a hard link, a pipe, names with a newline or "..": nothing written outside, the rest named', async () => {
    await expectHostileOutputsContained(cli, root, 'k8s');
  }, 120_000);
});
