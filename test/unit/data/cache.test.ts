import { mkdtemp, mkdir, readdir, readFile, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { addFileToCache, addManifestToCache, cacheObjectPath, linkFromCache, readCachedManifest } from '../../../src/data/cache.js';
import { hashPath, md5File, StatCache } from '../../../src/data/hash.js';

const tmp = () => mkdtemp(join(tmpdir(), 'reprise-data-cache-'));

describe('cache layout', () => {
  it('puts objects where DVC 3 does', () => {
    expect(cacheObjectPath('/c', 'b1946ac92492d2347c6235b4d2611184')).toBe('/c/files/md5/b1/946ac92492d2347c6235b4d2611184');
    expect(cacheObjectPath('/c', '4fb23724759235ea77604dc20ef96517.dir')).toBe('/c/files/md5/4f/b23724759235ea77604dc20ef96517.dir');
  });

  it('moves a file in read-only and links it back; manifests round-trip', async () => {
    const dir = await tmp();
    const cache = join(dir, 'cache');
    await writeFile(join(dir, 'a.txt'), 'hello\n');
    const path = await addFileToCache(cache, join(dir, 'a.txt'), 'b1946ac92492d2347c6235b4d2611184', true);
    expect((await stat(path)).mode & 0o777).toBe(0o444);
    expect(await linkFromCache(cache, 'b1946ac92492d2347c6235b4d2611184', join(dir, 'a.txt'), ['hardlink'])).toBe('hardlink');
    expect(await readFile(join(dir, 'a.txt'), 'utf8')).toBe('hello\n');
    // Linking again onto the same inode leaves no temporary file behind (rename between links of one file is a no-op).
    await linkFromCache(cache, 'b1946ac92492d2347c6235b4d2611184', join(dir, 'a.txt'), ['hardlink']);
    expect((await readdir(dir)).sort()).toEqual(['a.txt', 'cache']);
    // A copy is the user's to edit: writable, its own inode.
    expect(await linkFromCache(cache, 'b1946ac92492d2347c6235b4d2611184', join(dir, 'b.txt'), ['copy'])).toBe('copy');
    expect((await stat(join(dir, 'b.txt'))).mode & 0o777).toBe(0o644);
    const entries = [{ md5: 'b1946ac92492d2347c6235b4d2611184', relpath: 'a.txt' }];
    await addManifestToCache(cache, 'x'.repeat(32) + '.dir', entries);
    expect(await readCachedManifest(cache, 'x'.repeat(32) + '.dir')).toEqual(entries);
    await expect(linkFromCache(cache, 'f'.repeat(32), join(dir, 'b'))).rejects.toThrow(/not in the local cache/);
  });
});

describe('hashing', () => {
  it('streams md5 and hashes a folder to the DVC digest', async () => {
    const dir = await tmp();
    await mkdir(join(dir, 'data/sub'), { recursive: true });
    await writeFile(join(dir, 'data/a.txt'), 'hello\n');
    await writeFile(join(dir, 'data/a-b'), 'x');
    await writeFile(join(dir, 'data/sub/c'), 'y');
    await writeFile(join(dir, 'data/é ü.txt'), 'z');
    await writeFile(join(dir, 'data/sub.txt'), 'w');
    expect(await md5File(join(dir, 'data/a.txt'))).toBe('b1946ac92492d2347c6235b4d2611184');
    const hashed = await hashPath(join(dir, 'data'), 'data', await StatCache.open(dir));
    expect(hashed).toMatchObject({ kind: 'dir', md5: '4fb23724759235ea77604dc20ef96517.dir', size: 10, nfiles: 5 });
  });

  it('reads an unchanged file once (stat cache survives a reopen), again when it changes', async () => {
    const dir = await tmp();
    await writeFile(join(dir, 'f'), 'one');
    const first = await StatCache.open(dir);
    await first.md5(join(dir, 'f'));
    await first.save();
    const second = await StatCache.open(dir);
    expect((await second.md5(join(dir, 'f'))).md5).toBe('f97c5d29941bfb1b2fdab0874906ab82');
    expect(second.hashedFiles).toBe(0);
    await writeFile(join(dir, 'f'), 'two');
    await utimes(join(dir, 'f'), new Date(), new Date(Date.now() + 5000));
    expect((await second.md5(join(dir, 'f'))).md5).toBe('b8a9f715dbb64fd5c56e7783c6820a61');
    expect(second.hashedFiles).toBe(1);
  });

  it('refuses a symlink inside a folder, naming it', async () => {
    const dir = await tmp();
    await mkdir(join(dir, 'data'));
    await symlink('/etc/passwd', join(dir, 'data/link'));
    await expect(hashPath(join(dir, 'data'), 'input/data', await StatCache.open(dir))).rejects.toThrow('input/data/link is a symlink');
  });
});
