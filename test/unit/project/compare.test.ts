import { describe, expect, it } from 'vitest';
import { compareOutputs } from '../../../src/project/compare.js';

const f = (path: string, sha256: string) => ({ path, sha256, size: 1 });

describe('compareOutputs', () => {
  it('is identical when every file has the same digest', () => {
    expect(compareOutputs([f('output/a', '1'), f('output/b', '2')], [f('output/b', '2'), f('output/a', '1')]).identical).toBe(true);
  });

  it('names differing, missing and extra files', () => {
    const c = compareOutputs([f('output/a', '1'), f('output/b', '2')], [f('output/a', 'x'), f('output/c', '3')]);
    expect(c.identical).toBe(false);
    expect(c.files.map((x) => [x.path, x.verdict])).toEqual([
      ['output/a', 'differs'],
      ['output/b', 'missing'],
      ['output/c', 'extra'],
    ]);
  });

  it('two runs without outputs are identical', () => {
    expect(compareOutputs([], []).identical).toBe(true);
  });
});
