import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { chmod, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { cacheObjectPath, localCacheDir } from '../../../src/data/cache.js';
import { checkoutData } from '../../../src/data/checkout.js';
import { md5File } from '../../../src/data/hash.js';
import { addData } from '../../../src/data/track.js';
import { makeProject } from '../../helpers/project.js';

describe('checkout of a path inside a tracked folder (what a partial data pull restores)', () => {
  it('restores only the files under that path, needing only their objects', async () => {
    const { root } = await makeProject({ files: { 'input/images/cats/a.txt': 'cat\n', 'input/images/dogs/b.txt': 'dog\n' } });
    await addData(root, root, ['input/images']);
    const cacheDir = await localCacheDir(root);
    const dogObject = cacheObjectPath(cacheDir, await md5File(join(root, 'input/images/dogs/b.txt')));
    // A fresh clone that fetched the cats only: no workspace files, no dog object in the cache.
    await rm(join(root, 'input/images'), { recursive: true, force: true });
    await chmod(dogObject, 0o644);
    await rm(dogObject);

    const result = await checkoutData(root, { paths: ['input/images/cats'] });
    expect(result.restored).toEqual(['input/images']);
    expect(await readFile(join(root, 'input/images/cats/a.txt'), 'utf8')).toBe('cat\n');
    expect(existsSync(join(root, 'input/images/dogs'))).toBe(false);
  });
});
