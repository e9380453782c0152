import { describe, expect, it } from 'vitest';
import { resolveReuse } from '../../../src/cli/run-flags.js';
import type { ProjectSpec } from '../../../src/project/schema.js';

const project = (reuse?: ProjectSpec['reuse']): ProjectSpec => ({ name: 'p', id: 'p1', ...(reuse ? { reuse } : {}) }) as ProjectSpec;

describe('resolveReuse', () => {
  it('the flag wins; without it the project default; none: no reuse (team mode included: nothing is refused)', () => {
    expect(resolveReuse(true, project())).toBe(true);
    expect(resolveReuse(false, project({ enabled: true }))).toBe(false);
    expect(resolveReuse(undefined, project({ enabled: true }))).toBe(true);
    expect(resolveReuse(undefined, project({ enabled: false }))).toBe(false);
    expect(resolveReuse(undefined, project())).toBe(false);
  });
});
