import { describe, expect, it } from 'vitest';
import { isContainedLink, isSafeMemberName } from '../../../../src/backends/slurm/sources-archive.js';

describe('sources archive checks', () => {
  it('accepts relative names and refuses absolute or .. ones', () => {
    for (const ok of ['a', 'code/run.sh', '.hidden', '..dots', 'a/..b']) expect(isSafeMemberName(ok), ok).toBe(true);
    for (const bad of ['', '/etc/passwd', '../x', 'a/../../x', 'a/..', 'a\\..\\b', 'a\0b']) expect(isSafeMemberName(bad), bad).toBe(false);
  });

  it('accepts symlinks that stay inside the tree only', () => {
    expect(isContainedLink('code/link', 'run.sh')).toBe(true);
    expect(isContainedLink('code/link', '../data/x')).toBe(true);
    expect(isContainedLink('code/link', '../../etc/passwd')).toBe(false);
    expect(isContainedLink('link', '/etc/passwd')).toBe(false);
    expect(isContainedLink('link', '..')).toBe(false);
  });
});
