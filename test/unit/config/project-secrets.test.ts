import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { addSecret, listSecrets, readSecrets, removeSecret, secretsDir } from '../../../src/config/project-secrets.js';
import { tempDir } from '../../helpers/project.js';

let home: string;
let file: string;
const ID = '3f0c6a52-1d0e-4a5e-9c1e-5b7f1a2b3c4d';

beforeEach(async () => {
  home = await tempDir('reprise-secrets-unit-');
  file = join(await tempDir('reprise-secret-src-'), 'value');
  await writeFile(file, 'hush');
});

describe('project secrets store', () => {
  it('keeps each project\'s secrets apart, 0600 files in 0700 folders, listed by name and size', async () => {
    await addSecret(home, ID, 'API_KEY', file);
    await addSecret(home, 'other-project', 'API_KEY', file);
    await writeFile(file, 'changed!');
    await addSecret(home, ID, 'API_KEY', file); // replaces
    expect(await listSecrets(home, ID)).toEqual([{ name: 'API_KEY', size: 8 }]);
    expect(await readFile(join(secretsDir(home, 'other-project'), 'API_KEY'), 'utf8')).toBe('hush');
    expect((await stat(secretsDir(home, ID))).mode & 0o777).toBe(0o700);
    expect((await stat(join(secretsDir(home, ID), 'API_KEY'))).mode & 0o777).toBe(0o600);
    expect((await readSecrets(home, ID)).map((s) => [s.name, s.content.toString()])).toEqual([['API_KEY', 'changed!']]);
    await removeSecret(home, ID, 'API_KEY');
    expect(await listSecrets(home, ID)).toEqual([]);
    expect(await listSecrets(home, 'other-project')).toHaveLength(1);
  });

  it('an id that is not one path segment is hashed into one', () => {
    expect(secretsDir('/h', '../../etc')).toMatch(/^\/h\/secrets\/sha256-[0-9a-f]{64}$/);
  });

  it('refuses bad names, missing files, folders and files over 1 MiB, writing nothing', async () => {
    const big = join(home, 'big');
    await writeFile(big, Buffer.alloc(1024 * 1024 + 1));
    const folder = join(home, 'folder');
    await mkdir(folder);
    for (const [name, f, why] of [
      ['a-b', file, /not a simple identifier/],
      ['../x', file, /not a simple identifier/],
      ['9x', file, /not a simple identifier/],
      ['reprise-lab-token', file, /not a simple identifier/],
      ['A', '/nonexistent', /no file/],
      ['A', folder, /not a regular file/],
      ['A', big, /at most 1048576 bytes/],
    ] as const) {
      await expect(addSecret(home, ID, name, f)).rejects.toMatchObject({ kind: 'BadInput', message: expect.stringMatching(why) });
    }
    expect(await listSecrets(home, ID)).toEqual([]);
    await expect(removeSecret(home, ID, 'NOPE')).rejects.toMatchObject({ kind: 'NotFound' });
  });
});
