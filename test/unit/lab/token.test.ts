import { describe, expect, it } from 'vitest';
import { createHmac } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { labToken } from '../../../src/lab/token.js';
import { tempDir } from '../../helpers/project.js';

describe('labToken', () => {
  it('makes a 32-byte key readable by its owner only, and derives the same token from it each time', async () => {
    const home = await tempDir('reprise-labkey-');
    const token = await labToken(home, 'lab-a');
    const key = await readFile(join(home, 'lab.key'));
    expect(key.length).toBe(32);
    expect((await stat(join(home, 'lab.key'))).mode & 0o777).toBe(0o600);
    expect(token).toBe(createHmac('sha256', key).update('lab-a').digest('hex').slice(0, 48));
    expect(await labToken(home, 'lab-a')).toBe(token);
  });

  it.each([['empty', ''], ['short', 'guessable']])('regenerates an %s lab.key instead of deriving tokens from it', async (_, weak) => {
    const home = await tempDir('reprise-labkey-');
    await writeFile(join(home, 'lab.key'), weak, { mode: 0o644 });
    const token = await labToken(home, 'lab-a');
    const key = await readFile(join(home, 'lab.key'));
    expect(key.length).toBe(32);
    expect((await stat(join(home, 'lab.key'))).mode & 0o777).toBe(0o600);
    expect(token).not.toBe(createHmac('sha256', weak).update('lab-a').digest('hex').slice(0, 48));
    expect(token).toBe(createHmac('sha256', key).update('lab-a').digest('hex').slice(0, 48));
  });
});
