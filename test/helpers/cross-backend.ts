import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Cli, cliEnv } from './cli.js';
import { git, tempDir } from './project.js';
import { BUSYBOX, requireDocker } from './docker.js';

/**
 * The product's promise, driven through the built CLI: a run recorded on local Docker is
 * verified on another backend (`reprise verify RUN --on NAME`) and gives the same outputs.
 */
export function describeCrossBackendVerify(name: string, kind: string, addFlags: () => string[]): void {
  let cli: Cli;
  let root: string;

  beforeAll(async () => {
    requireDocker();
    cli = new Cli(await cliEnv(await tempDir(`reprise-${name}-cli-home-`)));
    const add = await cli.run(['backend', 'add', name, '--kind', kind, ...addFlags()], '/');
    expect(add.code, add.stderr).toBe(0);
    const work = await tempDir(`reprise-${name}-cli-`);
    expect((await cli.run(['init', 'xb', '--name', 'xb', '--base', BUSYBOX], work)).code).toBe(0);
    root = join(work, 'xb');
    await writeFile(join(root, 'input/n.txt'), '7\n');
    await writeFile(join(root, 'code/sq.sh'), 'n=$(cat input/n.txt); echo "square of $n"; echo $((n * n)) > output/square.txt\n');
  });

  afterAll(async () => {
    await cli?.run(['agent', 'stop'], root);
  });

  describe(`the built CLI with a ${kind} backend`, () => {
    it('backend check reports the cluster', async () => {
      const r = await cli.run(['backend', 'check', name], root);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^${name} \\(${kind}\\): ok, version`));
    });

    it(`a run recorded on local Docker is verified on ${kind}: same outputs`, async () => {
      const local = await cli.run(['run', '--', 'sh', 'code/sq.sh'], root);
      expect(local.code, local.stderr).toBe(0);
      const [original] = await cli.json<{ runId: string }[]>(['log'], root);
      const verify = await cli.run(['verify', original!.runId, '--on', name, '--json'], root);
      expect(verify.code, verify.stderr).toBe(0);
      expect(JSON.parse(verify.stdout)).toMatchObject({ original: original!.runId, identical: true, files: [{ path: 'output/square.txt', verdict: 'same' }] });
      expect(git(root, 'log', '-1', '--format=%(trailers:key=Reprise-Backend,valueonly)').trim()).toBe(`${name} (${kind})`);
      expect(git(root, 'log', '-1', '--format=%(trailers:key=Reprise-Rerun-Of,valueonly)').trim()).toBe(original!.runId);
      expect(git(root, 'status', '--porcelain')).toBe('');
    });
  });
}
