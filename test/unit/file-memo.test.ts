import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fileMemo } from '../../src/file-memo.js';
import { saveUserConfig, userConfigReader } from '../../src/backends/user-config.js';
import { projectReader } from '../../src/project/layout.js';

let dir: string;
beforeEach(async () => void (dir = await mkdtemp(join(tmpdir(), 'file-memo-'))));
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('fileMemo', () => {
  it('reads a file once while it is unchanged, again once it changes, appears or goes', async () => {
    const file = join(dir, 'a.txt');
    let reads = 0;
    const read = fileMemo(async (f) => {
      reads++;
      return readFile(f, 'utf8').catch(() => 'absent');
    });
    expect(await read(file)).toBe('absent');
    expect(await read(file)).toBe('absent');
    expect(reads).toBe(1);
    await writeFile(file, 'one');
    expect(await read(file)).toBe('one');
    expect(await read(file)).toBe('one');
    expect(reads).toBe(2);
    // Same size, written again: the inode is the same but ctime/mtime move (nanoseconds).
    await new Promise((r) => setTimeout(r, 5));
    await writeFile(file, 'two');
    expect(await read(file)).toBe('two');
    // Replaced by rename, as saveUserConfig does: a new inode.
    await writeFile(join(dir, 'b.txt'), 'six');
    await rename(join(dir, 'b.txt'), file);
    expect(await read(file)).toBe('six');
    await rm(file);
    expect(await read(file)).toBe('absent');
    expect(reads).toBe(5);
  });

  it('does not keep a failed read: the next ask reads again', async () => {
    const file = join(dir, 'bad');
    await writeFile(file, 'x');
    let fail = true;
    const read = fileMemo(async () => {
      if (fail) throw new Error('half-written');
      return 'ok';
    });
    await expect(read(file)).rejects.toThrow('half-written');
    fail = false;
    expect(await read(file)).toBe('ok');
  });

  it('the worker readers see an edit of the user config and of the project spec', async () => {
    const home = join(dir, 'home');
    const config = userConfigReader(home);
    expect(await config()).toEqual({ backends: {} });
    await saveUserConfig(home, { backends: { box: { kind: 'docker' } } });
    expect(Object.keys((await config()).backends)).toEqual(['box']);
    expect(await config()).toBe(await config());

    const root = join(dir, 'project');
    await mkdir(join(root, '.reprise'), { recursive: true });
    await writeFile(join(root, '.reprise/project.yaml'), 'id: p1\nname: one\n');
    const project = projectReader();
    const first = await project(root);
    expect(first.root).toBe(root);
    await writeFile(join(root, '.reprise/project.yaml'), 'id: p1\nname: two-longer\n');
    expect((await project(root)).spec).not.toBe(first.spec);
  });
});
