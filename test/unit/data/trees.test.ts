import { createHash } from 'node:crypto';
import { chmod, mkdir, readdir, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cacheObjectPath } from '../../../src/data/cache.js';
import { collectGarbage } from '../../../src/data/gc.js';
import { manifestMd5 } from '../../../src/data/format.js';
import { hashPath, md5File, StatCache } from '../../../src/data/hash.js';
import { mountRunInputs } from '../../../src/data/run-data.js';
import { ensureTree, treePath } from '../../../src/data/trees.js';
import { addData } from '../../../src/data/track.js';
import { git, makeProject } from '../../helpers/project.js';

const md5 = (s: string) => createHash('md5').update(s).digest('hex');
const made: string[] = [];
afterAll(async () => {
  for (const root of made) {
    // Cache objects are read-only files in writable folders: rm removes them as they are.
    await rm(dirname(root), { recursive: true, force: true });
  }
});

async function projectWithFolder(files: Record<string, string>) {
  const { root } = await makeProject();
  made.push(root);
  for (const [rel, content] of Object.entries(files)) {
    await mkdir(dirname(join(root, 'input/imgs', rel)), { recursive: true });
    await writeFile(join(root, 'input/imgs', rel), content);
  }
  await writeFile(join(root, 'input/one.bin'), 'single file');
  const added = await addData(root, root, ['input/imgs', 'input/one.bin']);
  return { root, cacheDir: join(root, '.dvc/cache'), commit: added.commit!, folder: added.tracked.find((t) => t.path === 'input/imgs')!.md5 };
}

describe('a tracked folder as one tree of links (what a local run mounts)', () => {
  it('mountRunInputs gives a file its cache object and a folder its tree, built once per manifest digest', async () => {
    const { root, cacheDir, commit, folder } = await projectWithFolder({ 'a.txt': 'alpha\n', 'sub/b.txt': 'beta\n' });
    const mounts = await mountRunInputs(root, commit);
    expect(mounts).toEqual([
      { path: 'input/imgs', source: treePath(cacheDir, folder) },
      { path: 'input/one.bin', source: cacheObjectPath(cacheDir, md5('single file')) },
    ]);
    const tree = mounts[0]!.source;
    expect(await readFile(join(tree, 'sub/b.txt'), 'utf8')).toBe('beta\n');
    // Links to the objects, not copies: no byte written per run.
    expect((await stat(join(tree, 'a.txt'))).ino).toBe((await stat(cacheObjectPath(cacheDir, md5('alpha\n')))).ino);
    // A second run finds the tree and builds nothing: a mark left in it survives.
    await writeFile(join(tree, '.mark'), '');
    expect(await ensureTree(cacheDir, folder, 'input/imgs')).toBe(tree);
    expect((await stat(join(tree, '.mark'))).isFile()).toBe(true);
  });

  it('a missing object is named by its project path, and no half-built tree is left', async () => {
    const { cacheDir, folder } = await projectWithFolder({ 'a.txt': 'alpha 2\n', 'b.txt': 'beta 2\n' });
    const object = cacheObjectPath(cacheDir, md5('beta 2\n'));
    await chmod(dirname(object), 0o755);
    await rm(object);
    const err = await ensureTree(cacheDir, folder, 'input/imgs').catch((e: unknown) => e as Error);
    expect((err as Error).message).toBe(`the run's input input/imgs/b.txt (${md5('beta 2\n')}) is not in the local cache; fetch it (reprise data pull) and run again`);
    expect(await stat(treePath(cacheDir, folder)).catch(() => undefined)).toBeUndefined();
    expect(await readdir(join(cacheDir, 'reprise/trees')).catch(() => [])).toEqual([]);
  });

  it('data gc removes the trees of folder versions no commit points to, keeps the others', async () => {
    const { root, cacheDir, folder } = await projectWithFolder({ 'a.txt': 'gc one\n' });
    await ensureTree(cacheDir, folder, 'input/imgs');
    await writeFile(join(root, 'input/imgs/a.txt'), 'gc two\n');
    const second = (await addData(root, root, ['input/imgs'])).tracked[0]!.md5;
    await ensureTree(cacheDir, second, 'input/imgs');
    // Forget the first version: rewrite history to the second only.
    git(root, 'checkout', '-q', '--orphan', 'only');
    git(root, 'commit', '-qm', 'only the second version');
    git(root, 'branch', '-D', 'main');
    const dry = await collectGarbage(root, { dryRun: true });
    expect(dry.removed.map((r) => r.md5)).toContain(folder);
    expect((await stat(treePath(cacheDir, folder))).isDirectory()).toBe(true);
    await collectGarbage(root, { dryRun: false });
    expect(await stat(treePath(cacheDir, folder)).catch(() => undefined)).toBeUndefined();
    expect(await readFile(join(treePath(cacheDir, second), 'a.txt'), 'utf8')).toBe('gc two\n');
  });
});

describe('hashing a folder with one find', () => {
  it('hashes as the file-by-file walk does: odd names, .git left out, and a file rewritten in place (same size) is seen', async () => {
    const { root } = await makeProject();
    made.push(root);
    const dir = join(root, 'input/odd');
    const files: Record<string, string> = { 'plain.txt': 'p', 'with space.txt': 's', 'tab\there.txt': 't', 'new\nline.txt': 'n', 'ünï/cödé.txt': 'u', 'deep/a/b/c.txt': 'c', '.hidden': 'h' };
    for (const [rel, content] of Object.entries(files)) {
      await mkdir(dirname(join(dir, rel)), { recursive: true });
      await writeFile(join(dir, rel), content);
    }
    await mkdir(join(dir, '.git'), { recursive: true });
    await writeFile(join(dir, '.git/HEAD'), 'not data');
    const expected = manifestMd5(await Promise.all(Object.keys(files).map(async (relpath) => ({ relpath, md5: await md5File(join(dir, relpath)) }))));
    const cache = await StatCache.open(root);
    const first = await hashPath(dir, 'input/odd', cache);
    expect(first).toMatchObject({ kind: 'dir', md5: expected, nfiles: 7 });
    expect(cache.hashedFiles).toBe(7);
    // Unchanged: answered from the stat cache, also by lstat (the keys find gives are lstat's).
    expect((await hashPath(dir, 'input/odd', cache)).md5).toBe(expected);
    await cache.md5(join(dir, 'tab\there.txt'));
    expect(cache.hashedFiles).toBe(7);
    // Same size, new bytes, a later mtime: read again.
    await writeFile(join(dir, 'plain.txt'), 'q');
    const later = new Date(Date.now() + 5000);
    await utimes(join(dir, 'plain.txt'), later, later);
    const changed = await hashPath(dir, 'input/odd', cache);
    expect(cache.hashedFiles).toBe(8);
    expect(changed.md5).not.toBe(expected);
    // A symlink is refused with the same words as before.
    await symlink('plain.txt', join(dir, 'link.txt'));
    await expect(hashPath(dir, 'input/odd', cache)).rejects.toThrow('input/odd/link.txt is a symlink; data can hold regular files only: replace it with the file itself or remove it');
  });
});
