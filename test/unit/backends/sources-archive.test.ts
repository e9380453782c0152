import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { listTarMembers } from '../../../src/project/tar-members.js';
import { archiveSources, checkSourceTree } from '../../../src/backends/sources-archive.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'reprise-sources-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('checkSourceTree / archiveSources', () => {
  it('accepts links that stay inside the tree and archives it with neutral ownership', async () => {
    await mkdir(join(dir, 'src', 'code'), { recursive: true });
    await writeFile(join(dir, 'src', 'code', 'a.txt'), 'a');
    await symlink('a.txt', join(dir, 'src', 'code', 'same'));
    await symlink('../code/a.txt', join(dir, 'src', 'code', 'up-and-back'));
    await archiveSources(join(dir, 'src'), join(dir, 'src.tar'));
    const listing = execFileSync('tar', ['-tvf', join(dir, 'src.tar'), '--numeric-owner'], { encoding: 'utf8' });
    expect(listing).toMatch(/ 0\/0 .*\.\/code\/a\.txt/);
    expect(listTarMembers(await readFile(join(dir, 'src.tar')))).toContainEqual({ name: './code/same', type: 'symlink', linkName: 'a.txt' });
  });

  it('has no member for the top folder itself (a non-root pod may not chmod the mount it extracts into)', async () => {
    await mkdir(join(dir, 'src', 'code'), { recursive: true });
    await writeFile(join(dir, 'src', 'code', 'a.txt'), 'a');
    await writeFile(join(dir, 'src', '-n'), 'an option-like name');
    await archiveSources(join(dir, 'src'), join(dir, 'src.tar'));
    const names = listTarMembers(await readFile(join(dir, 'src.tar'))).map((m) => m.name);
    expect(names).not.toContain('./');
    expect(names).toEqual(expect.arrayContaining(['./-n', './code/', './code/a.txt']));
  });

  it('leaves out the project paths it is told to (tracked data a backend stages by digest), names taken literally', async () => {
    await mkdir(join(dir, 'src', 'input', 'set [1]', 'sub'), { recursive: true });
    await writeFile(join(dir, 'src', 'input', 'set [1]', 'sub', 'x.bin'), 'x');
    await writeFile(join(dir, 'src', 'input', 'table.bin'), 't');
    await writeFile(join(dir, 'src', 'input', 'table.bin.dvc'), 'pointer');
    await writeFile(join(dir, 'src', 'input', 'set 1'), 'not tracked');
    await archiveSources(join(dir, 'src'), join(dir, 'src.tar'), { exclude: ['input/set [1]', 'input/table.bin'] });
    const names = listTarMembers(await readFile(join(dir, 'src.tar'))).map((m) => m.name);
    expect(names.filter((n) => n.startsWith('./input/')).sort()).toEqual(['./input/', './input/set 1', './input/table.bin.dvc']);
  });

  it('accepts a link to a sibling directory inside the tree', async () => {
    await mkdir(join(dir, 'src', 'code'), { recursive: true });
    await symlink('../data/x', join(dir, 'src', 'code', 'link'));
    await expect(checkSourceTree(join(dir, 'src'))).resolves.toBeUndefined();
  });

  it('refuses a top-level link to the parent (..)', async () => {
    await mkdir(join(dir, 'src'), { recursive: true });
    await symlink('..', join(dir, 'src', 'link'));
    await expect(checkSourceTree(join(dir, 'src'))).rejects.toThrow(/symbolic link to \.\., outside the project/);
  });

  it('refuses an entry that is neither file, directory nor link (a fifo)', async () => {
    await mkdir(join(dir, 'src'), { recursive: true });
    execFileSync('mkfifo', [join(dir, 'src', 'pipe')]);
    await expect(checkSourceTree(join(dir, 'src'))).rejects.toThrow(/the source entry pipe is neither a file, a directory nor a link/);
  });

  it.each([
    ['/etc/passwd', /symbolic link to \/etc\/passwd, outside the project/],
    ['../../outside', /symbolic link to \.\.\/\.\.\/outside, outside the project/],
    ['../../src/../..', /outside the project/],
    ['../../etc/passwd', /outside the project/],
  ])('refuses a link to %s', async (target, why) => {
    await mkdir(join(dir, 'src', 'code'), { recursive: true });
    await symlink(target, join(dir, 'src', 'code', 'bad'));
    await expect(checkSourceTree(join(dir, 'src'))).rejects.toThrow(why);
  });
});
