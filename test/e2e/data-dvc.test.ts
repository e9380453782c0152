// Interop with real DVC (PyPI `dvc`, a test client only): a project made with `dvc add` is read
// and run by Reprise, and data tracked by Reprise is pushed, pulled and checked out by DVC.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { useCliProject } from '../helpers/cli-project.js';
import { git, tempDir } from '../helpers/project.js';

const PATH = `${join(homedir(), '.local/bin')}:${process.env.PATH}`;
const hasDvc = (() => {
  try {
    execFileSync('dvc', ['--version'], { env: { ...process.env, PATH }, stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const dvc = (cwd: string, ...args: string[]) => execFileSync('dvc', args, { cwd, env: { ...process.env, PATH }, encoding: 'utf8' });
const md5 = (b: Buffer | string) => createHash('md5').update(b).digest('hex');

// Never skipped: without DVC the suite fails with the way to install it.
describe('DVC interop', () => {
  beforeAll(() => {
    if (!hasDvc) throw new Error('dvc is not installed: pip install --user dvc dvc-s3 (scripts/test-all.sh does)');
  });

  describe('a project whose data was added with real dvc add', () => {
    const ctx = useCliProject('datadvcin');

    it('is read by data status, run by Reprise from the shared cache, restored by data checkout', async () => {
      const { root, cli } = ctx;
      dvc(root, 'init', '-q');
      await mkdir(join(root, 'input/set/deep'), { recursive: true });
      const table = randomBytes(100_000);
      await writeFile(join(root, 'input/table.bin'), table);
      await writeFile(join(root, 'input/set/x.txt'), 'x\n');
      await writeFile(join(root, 'input/set/deep/y.txt'), 'y\n');
      dvc(root, 'add', '-q', 'input/table.bin', 'input/set');
      git(root, 'add', '-A');
      git(root, 'commit', '-qm', 'data via dvc');
      const pointer = (await readFile(join(root, 'input/set.dvc'), 'utf8')).match(/md5: (\S+)/)![1]!;

      const status = await cli.json<{ tracked: { path: string; state: string; md5: string }[] }>(['data', 'status'], root);
      expect(status.tracked).toEqual([
        expect.objectContaining({ path: 'input/set', state: 'ok', md5: pointer }),
        expect.objectContaining({ path: 'input/table.bin', state: 'ok', md5: md5(table) }),
      ]);

      await rm(join(root, 'input/set'), { recursive: true });
      const r = await cli.run(['run', '--', 'sh', '-c', 'md5sum input/table.bin input/set/deep/y.txt'], root);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`${md5(table)}  input/table.bin`);
      expect(r.stdout).toContain(`${md5('y\n')}  input/set/deep/y.txt`);
      const [entry] = await cli.json<{ runId: string }[]>(['log', '-n', '1'], root);
      const record = await cli.json<{ data: { inputs: { path: string; md5: string }[] } }>(['show', entry!.runId], root);
      expect(record.data.inputs.map((i) => [i.path, i.md5])).toEqual([
        ['input/set', pointer],
        ['input/table.bin', md5(table)],
      ]);

      await cli.json(['data', 'checkout'], root);
      expect(await readFile(join(root, 'input/set/deep/y.txt'), 'utf8')).toBe('y\n');
      expect(dvc(root, 'status')).toContain('up to date');
    });
  });

  describe('a project whose data Reprise tracked', () => {
    const ctx = useCliProject('datadvcout');

    it('is pushed by dvc from Reprise\'s cache, pulled byte-identical in a clean clone, checked out from a shared cache', async () => {
      const { root, cli } = ctx;
      await mkdir(join(root, 'input/images/sub'), { recursive: true });
      const blob = randomBytes(250_000);
      await writeFile(join(root, 'input/model.bin'), blob);
      await writeFile(join(root, 'input/images/1.txt'), 'one\n');
      await writeFile(join(root, 'input/images/sub/2 é.txt'), 'two\n');
      await cli.json(['data', 'add', 'input/model.bin', 'input/images'], root);
      expect(dvc(root, 'status')).toContain('up to date');

      const store = await tempDir('reprise-dvc-store-');
      dvc(root, 'remote', 'add', '--local', 'store', store);
      dvc(root, 'push', '-q', '-r', 'store');
      expect(existsSync(join(store, 'files/md5', md5(blob).slice(0, 2), md5(blob).slice(2)))).toBe(true);

      const pulled = join(await tempDir('reprise-dvc-clone-'), 'clone');
      git('/', 'clone', '-q', root, pulled);
      dvc(pulled, 'remote', 'add', '--local', 'store', store);
      dvc(pulled, 'pull', '-q', '-r', 'store');
      expect((await readFile(join(pulled, 'input/model.bin'))).equals(blob)).toBe(true);
      expect(await readFile(join(pulled, 'input/images/sub/2 é.txt'), 'utf8')).toBe('two\n');
      expect(dvc(pulled, 'status')).toContain('up to date');

      const shared = join(await tempDir('reprise-dvc-shared-'), 'clone');
      git('/', 'clone', '-q', root, shared);
      dvc(shared, 'cache', 'dir', '--local', join(root, '.dvc/cache'));
      dvc(shared, 'checkout', '-q');
      expect((await readFile(join(shared, 'input/model.bin'))).equals(blob)).toBe(true);
      expect(await readFile(join(shared, 'input/images/1.txt'), 'utf8')).toBe('one\n');
      // And Reprise reads that clone's local cache setting too.
      const status = await cli.json<{ tracked: { state: string; cached: boolean }[] }>(['data', 'status'], shared);
      expect(status.tracked.map((t) => [t.state, t.cached])).toEqual([
        ['ok', true],
        ['ok', true],
      ]);
    });
  });
});
