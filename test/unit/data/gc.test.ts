import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cacheObjectPath } from '../../../src/data/cache.js';
import { collectGarbage } from '../../../src/data/gc.js';
import { addData } from '../../../src/data/track.js';
import { git, makeProject } from '../../helpers/project.js';

describe('data gc', () => {
  it('keeps every version any commit points to (DVC\'s own .dvc folder is not a pointer), removes the rest', async () => {
    const { root } = await makeProject();
    await writeFile(join(root, 'input/a.bin'), 'one');
    await addData(root, root, ['input/a.bin']);
    await writeFile(join(root, 'input/a.bin'), 'two');
    await addData(root, root, ['input/a.bin']);
    const stray = cacheObjectPath(join(root, '.dvc/cache'), 'd'.repeat(32));
    await mkdir(join(stray, '..'), { recursive: true });
    await writeFile(stray, 'stray');
    const dry = await collectGarbage(root, { dryRun: true });
    expect(dry.removed.map((r) => r.md5)).toEqual(['d'.repeat(32)]);
    expect(dry.kept).toBe(2);
    expect(git(root, 'ls-tree', '--name-only', 'HEAD')).toContain('.dvc');
  });
});
