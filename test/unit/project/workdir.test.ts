import { describe, expect, it } from 'vitest';
import { checkWorkdir, workdirOf } from '../../../src/project/workdir.js';

describe('workdirOf', () => {
  it('is the directory under the project root, as a POSIX path', () => {
    expect(workdirOf('/home/a/demo', '/home/a/demo')).toBe('');
    expect(workdirOf('/home/a/demo', '/home/a/demo/code')).toBe('code');
    expect(workdirOf('/home/a/demo', '/home/a/demo/code/models')).toBe('code/models');
  });
  it('refuses a directory outside the project', () => {
    expect(() => workdirOf('/home/a/demo', '/home/a')).toThrow('/home/a is not inside the project at /home/a/demo; cd into the project');
  });
});

describe('checkWorkdir', () => {
  it('takes plain relative paths and the root', () => {
    expect(checkWorkdir('')).toBe('');
    expect(checkWorkdir('.')).toBe('');
    expect(checkWorkdir('code/a b')).toBe('code/a b');
  });
  it.each(['/etc', '../up', 'code/../..', 'code//x', 'code/', './code', 'a\nb'])('refuses %j', (bad) => {
    expect(() => checkWorkdir(bad)).toThrow(/must be a plain relative path inside the project/);
  });
});
