import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Cli, cliEnv } from '../../helpers/cli.js';
import { git, tempDir } from '../../helpers/project.js';
import { BUSYBOX, requireDocker } from '../../helpers/docker.js';
import { loadClusterEnv } from './kubernetes-backend-env.js';

// The laptop's registry is the one the cluster's nodes pull from: a recorded run's image reaches
// Kubernetes by its digest, with nothing taken from this machine's engine (which no longer has it).
describe('a recorded image reaches Kubernetes by registry digest', () => {
  let cli: Cli;
  let root: string;
  const c = loadClusterEnv();
  const registry = `${c.K8S_REGISTRY}/reprise-team`;

  beforeAll(async () => {
    requireDocker();
    cli = new Cli(await cliEnv(await tempDir('reprise-k8s-digest-home-')));
    const add = await cli.run(['backend', 'add', 'k8s', '--kind', 'kubernetes', '--kubeconfig', c.KUBECONFIG, '--context', c.K8S_CONTEXT, '--namespace', c.K8S_NAMESPACE, '--registry', registry], '/');
    expect(add.code, add.stderr).toBe(0);
    expect((await cli.run(['registry', 'set', registry], '/')).code).toBe(0);
    const work = await tempDir('reprise-k8s-digest-');
    expect((await cli.run(['init', 'digest', '--name', 'digest', '--base', BUSYBOX], work)).code).toBe(0);
    root = join(work, 'digest');
    // A layer of its own, so that removing it from the engine removes something real.
    await writeFile(join(root, '.reprise/environment.yaml'), `base: ${BUSYBOX}\ndockerfile:\n  - RUN echo k8s-digest-${Date.now()} > /etc/flavour\n`);
    await writeFile(join(root, 'code/job.sh'), 'cat /etc/flavour > output/flavour.txt\n');
    git(root, 'add', '-A');
    git(root, 'commit', '-qm', 'job');
  });

  afterAll(async () => {
    await cli?.run(['agent', 'stop'], root);
  });

  it('verify --on k8s of a local run whose image left the engine: same outputs, the engine still without it', async () => {
    const local = await cli.run(['run', '--', 'sh', 'code/job.sh'], root);
    expect(local.code, local.stderr).toBe(0);
    const [entry] = await cli.json<{ runId: string }[]>(['log'], root);
    const record = await cli.json<{ image: { digest: string; reference?: string } }>(['show', entry!.runId], root);
    expect(record.image.reference).toMatch(new RegExp(`^${registry.replace(/\./g, '\\.')}/digest@sha256:[0-9a-f]{64}$`));

    execFileSync('docker', ['rmi', '-f', record.image.digest], { stdio: 'ignore' });
    const verify = await cli.run(['verify', entry!.runId, '--on', 'k8s', '--json'], root);
    expect(verify.code, verify.stderr).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ identical: true, files: [{ path: 'output/flavour.txt', verdict: 'same' }] });
    expect(() => execFileSync('docker', ['image', 'inspect', record.image.digest], { stdio: 'ignore' })).toThrow();
  });
});
