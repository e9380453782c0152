// A backend's note about staging (a slower way taken, such as copies instead of hard links on a
// cluster) reaches the run's log as a warning, once, as written.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stageDataFor } from '../../../src/activities/data-staging.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('stageDataFor', () => {
  it("hands the backend a note that lands in the run's log as a warning", async () => {
    const root = await mkdtemp(join(tmpdir(), 'reprise-note-'));
    dirs.push(root);
    const warned: string[] = [];
    const { data, close } = await stageDataFor(root, [], { info: () => undefined, warn: (line) => warned.push(line) });
    data.note?.('linked or copied file by file instead');
    close();
    expect(warned).toEqual(['linked or copied file by file instead']);
  });
});
