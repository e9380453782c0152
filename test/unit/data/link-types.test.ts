import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { DEFAULT_LINK_TYPES, linkTypes } from '../../../src/data/cache.js';

it("cache.type is read from the user's .dvc/config.local over .dvc/config, as DVC reads it", async () => {
  const root = await mkdtemp(join(tmpdir(), 'reprise-link-types-'));
  await mkdir(join(root, '.dvc'));
  expect(await linkTypes(root)).toEqual(DEFAULT_LINK_TYPES);
  await writeFile(join(root, '.dvc/config'), '[cache]\n    type = copy\n');
  expect(await linkTypes(root)).toEqual(['copy']);
  await writeFile(join(root, '.dvc/config.local'), '[cache]\n    type = "hardlink,copy"\n');
  expect(await linkTypes(root)).toEqual(['hardlink', 'copy']);
});
