import { mkdir, rm, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { digestPath, hashPath, StatCache, STAT_CACHE_FILE } from '../../../src/data/hash.js';
import { tempDir } from '../../helpers/project.js';

const made: string[] = [];
afterAll(async () => {
  for (const dir of made) await rm(dir, { recursive: true, force: true });
});

describe("a folder's digest before each run", () => {
  it('an unchanged folder answers from its listing alone; a file rewritten in place, added or removed is seen', async () => {
    const root = await tempDir('reprise-folder-digest-');
    made.push(root);
    const dir = join(root, 'input/set');
    for (let i = 0; i < 50; i++) {
      await mkdir(join(dir, `d${i % 5}`), { recursive: true });
      await writeFile(join(dir, `d${i % 5}/f${i}.txt`), `file ${i}\n`);
    }
    const first = await StatCache.open(root);
    const full = await hashPath(dir, 'input/set', first);
    await first.save();
    // The per-file entries gone: only the folder's remembered listing can answer without reading 50 files.
    await rm(join(root, STAT_CACHE_FILE));
    const again = await StatCache.open(root);
    expect(await digestPath(dir, 'input/set', again)).toEqual({ md5: full.md5, size: full.size });
    expect(again.hashedFiles).toBe(0);

    // Rewritten in place: same size, same folder mtimes, a new file mtime.
    await writeFile(join(dir, 'd0/f0.txt'), 'FILE 0\n');
    const later = new Date(Date.now() + 5000);
    await utimes(join(dir, 'd0/f0.txt'), later, later);
    const rewritten = await digestPath(dir, 'input/set', again);
    expect(rewritten.md5).not.toBe(full.md5);
    expect(rewritten).toEqual({ md5: (await hashPath(dir, 'input/set', await StatCache.open(root))).md5, size: full.size });

    await writeFile(join(dir, 'd1/new.txt'), 'new\n');
    const added = await digestPath(dir, 'input/set', again);
    expect(added.size).toBe(full.size + 4);
    await rm(join(dir, 'd1/new.txt'));
    await rm(join(dir, 'd2/f2.txt'));
    expect((await digestPath(dir, 'input/set', again)).size).toBe(full.size - 'file 2\n'.length);
  });

  it('a single file is hashed as before', async () => {
    const root = await tempDir('reprise-folder-digest-');
    made.push(root);
    await mkdir(dirname(join(root, 'input/a.bin')), { recursive: true });
    await writeFile(join(root, 'input/a.bin'), 'abc');
    expect(await digestPath(join(root, 'input/a.bin'), 'input/a.bin', await StatCache.open(root))).toEqual({ md5: '900150983cd24fb0d6963f7d28e17f72', size: 3 });
  });
});
