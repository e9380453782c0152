import { describe, expect, it } from 'vitest';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createBranch, listBranches } from '../../../src/project/branches.js';
import { exportBundle, importBundle } from '../../../src/project/bundle.js';
import { readFeed } from '../../../src/project/history.js';
import { git, makeProject, tempDir } from '../../helpers/project.js';
import { recordFakeRun, userError } from '../../helpers/sync.js';

describe('export / import', () => {
  it('moves the whole history: every branch, every run, the checked-out branch', async () => {
    const { root } = await makeProject({ files: { 'code/x.py': 'x\n' } });
    await recordFakeRun(root, 'run-exported0001', { 'r.txt': 'r\n' });
    await createBranch(root, 'exp');
    const out = await tempDir();
    const exported = await exportBundle(root, join(out, 'proj.bundle'));
    expect(exported).toMatchObject({ file: join(out, 'proj.bundle'), branches: 2 });
    expect(exported.bytes).toBeGreaterThan(0);

    const imported = await importBundle('proj.bundle', undefined, out);
    expect(imported).toEqual({ root: join(out, 'proj'), branches: ['exp', 'main'], head: 'main' });
    expect(await readFeed(imported.root)).toEqual(await readFeed(root));
    expect(await listBranches(imported.root)).toEqual(await listBranches(root));
    expect(await readFile(join(imported.root, 'output/r.txt'), 'utf8')).toBe('r\n');
    expect(git(imported.root, 'status', '--porcelain')).toBe('');
    expect(git(imported.root, 'remote')).toBe('');
  });

  it('a corrupt or truncated file is bad input and leaves nothing behind', async () => {
    const { root } = await makeProject();
    const dir = await tempDir();
    await exportBundle(root, join(dir, 'good.bundle'));
    const good = await readFile(join(dir, 'good.bundle'));
    await writeFile(join(dir, 'garbage.bundle'), 'not a bundle\n');
    await writeFile(join(dir, 'cut.bundle'), good.subarray(0, good.length - 40));
    for (const name of ['garbage', 'cut']) {
      const err = await userError(importBundle(`${name}.bundle`, undefined, dir));
      expect(err.exitCode).toBe(2);
      expect(err.message).toMatch(new RegExp(`^${join(dir, name)}\\.bundle is not a valid Reprise export \\(.+\\); nothing was imported$`));
    }
    expect((await readdir(dir)).sort()).toEqual(['cut.bundle', 'garbage.bundle', 'good.bundle']);
  });

  it('a bundle of a repository that is not a Reprise project is refused', async () => {
    const dir = await tempDir();
    git(dir, 'init', '-q', '-b', 'main', 'plain');
    await writeFile(join(dir, 'plain/a.txt'), 'a\n');
    git(join(dir, 'plain'), 'add', '-A');
    git(join(dir, 'plain'), 'commit', '-qm', 'a');
    git(join(dir, 'plain'), 'bundle', 'create', '-q', join(dir, 'plain.bundle'), '--all');
    const err = await userError(importBundle('plain.bundle', 'imported', dir));
    expect(err.message).toBe(`${join(dir, 'plain.bundle')} is not a Reprise project (no .reprise/project.yaml); nothing was imported`);
    expect((await readdir(dir)).sort()).toEqual(['plain', 'plain.bundle']);
  });
});
