// The run key's canonical form: the same parts give the same key whatever order their fields were
// written in; each part, changed alone, changes the key; the backend and unlisted resources do not
// count unless the project says so; reuse.never globs match the command line.
import { describe, expect, it } from 'vitest';
import { canonicalJson, findKeyedRun, keyPartDigests, keyPartsOf, neverReused, runKey } from '../../../src/project/run-key.js';
import { git, makeProject } from '../../helpers/project.js';
import { projectSchema } from '../../../src/project/schema.js';

const subject = {
  source: `sha256:${'a'.repeat(64)}`,
  imageDigest: `sha256:${'b'.repeat(64)}`,
  command: ['python3', 'code/fit.py', '--seed', '1'],
  workdir: '',
  resources: { cpus: 2, memoryBytes: 2 ** 30 },
  backend: 'local',
  dataInputs: [
    { path: 'input/b.csv', md5: '22222222222222222222222222222222', size: 2 },
    { path: 'input/a.csv', md5: '11111111111111111111111111111111', size: 1 },
  ],
};
const key = (s = subject, settings?: Parameters<typeof keyPartsOf>[1]) => runKey(keyPartsOf(s, settings));

describe('run key', () => {
  it('canonical JSON sorts keys at every level and leaves out undefined members', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: undefined } })).toBe('{"a":{"d":[1,{"y":2,"z":1}]},"b":1}');
    expect(canonicalJson({ a: 1, b: 2 })).toBe(canonicalJson({ b: 2, a: 1 }));
  });

  it('is stable across field order and data order, and has the documented form', () => {
    const reordered = { ...subject, dataInputs: [...subject.dataInputs].reverse(), resources: { memoryBytes: 2 ** 30, cpus: 2 } };
    const shuffled = Object.fromEntries(Object.entries(reordered).reverse()) as typeof subject;
    expect(key(shuffled)).toBe(key());
    expect(key()).toMatch(/^sha256:[0-9a-f]{64}$/);
    // A fixed value: the key's form is a contract (old records must keep matching new runs).
    expect(key()).toBe(runKey(keyPartsOf(subject, undefined)));
    expect(canonicalJson(keyPartsOf(subject, undefined))).toBe(
      `{"command":["python3","code/fit.py","--seed","1"],"data":[{"md5":"11111111111111111111111111111111","path":"input/a.csv"},{"md5":"22222222222222222222222222222222","path":"input/b.csv"}],"image":"sha256:${'b'.repeat(64)}","resources":{},"source":"sha256:${'a'.repeat(64)}","version":1,"workdir":""}`,
    );
  });

  it('changes with each part', () => {
    const changed = [
      { ...subject, source: `sha256:${'c'.repeat(64)}` },
      { ...subject, imageDigest: `sha256:${'d'.repeat(64)}` },
      { ...subject, command: ['python3', 'code/fit.py', '--seed', '2'] },
      { ...subject, command: ['python3', 'code/fit.py --seed', '1'] },
      { ...subject, workdir: 'code' },
      { ...subject, dataInputs: [{ ...subject.dataInputs[0]!, md5: '33333333333333333333333333333333' }, subject.dataInputs[1]!] },
      { ...subject, dataInputs: [subject.dataInputs[0]!] },
    ];
    const keys = new Set([key(), ...changed.map((s) => key(s))]);
    expect(keys.size).toBe(changed.length + 1);
  });

  it('leaves out the backend and resources unless the project lists them', () => {
    expect(key({ ...subject, backend: 'hpc' })).toBe(key());
    expect(key({ ...subject, resources: { cpus: 8, memoryBytes: 1 } })).toBe(key());
    expect(key({ ...subject, backend: 'hpc' }, { perBackend: true })).not.toBe(key(subject, { perBackend: true }));
    expect(key({ ...subject, resources: { cpus: 8, memoryBytes: 2 ** 30 } }, { resources: ['cpus'] })).not.toBe(key(subject, { resources: ['cpus'] }));
    expect(key({ ...subject, resources: { cpus: 2, memoryBytes: 1 } }, { resources: ['cpus'] })).toBe(key(subject, { resources: ['cpus'] }));
    expect(keyPartsOf({ ...subject, resources: {} }, { resources: ['gpus'] }).resources).toEqual({ gpus: null });
  });

  it('names the part that differs', () => {
    const a = keyPartDigests(keyPartsOf(subject, undefined));
    const b = keyPartDigests(keyPartsOf({ ...subject, command: ['true'] }, undefined));
    expect(a.map((d) => d.part)).toEqual(['source', 'image', 'command', 'workdir', 'resources', 'data']);
    expect(a.filter((d, i) => d.digest !== b[i]!.digest).map((d) => d.part)).toEqual(['command']);
  });

  it('reuse.never globs match the whole command line', () => {
    const settings = { never: ['python3 code/sample*', '*--random?'] };
    expect(neverReused(settings, ['python3', 'code/sample.py', '--n', '3'])).toBe('python3 code/sample*');
    expect(neverReused(settings, ['sh', '-c', 'x --random1'])).toBe('*--random?');
    expect(neverReused(settings, ['python3', 'code/fit.py'])).toBeUndefined();
    expect(neverReused({ never: ['a.b'] }, ['axb'])).toBeUndefined();
    expect(neverReused(undefined, ['x'])).toBeUndefined();
  });

  it('project.yaml: reuse is true, false or a mapping; anything else is refused', () => {
    const base = { name: 'p', id: 'x' };
    expect(projectSchema.parse({ ...base, reuse: true }).reuse).toEqual({ enabled: true });
    expect(projectSchema.parse({ ...base, reuse: { perBackend: true, never: ['x*'], resources: ['gpus'] } }).reuse).toEqual({ perBackend: true, never: ['x*'], resources: ['gpus'] });
    for (const bad of [3, 'yes', { never: [''] }, { resources: ['disk'] }, { sometimes: true }, { perBackend: 'yes' }]) {
      expect(projectSchema.safeParse({ ...base, reuse: bad }).success, JSON.stringify(bad)).toBe(false);
    }
  });
});

describe('finding a keyed run (the key index in the git directory)', () => {
  const KEY = `sha256:${'e'.repeat(64)}`;
  const runCommit = (root: string, runId: string, state: string, key = KEY) =>
    git(root, 'commit', '-q', '--allow-empty', '-m', `run ${runId} [${state}]\n\nReprise-Run: ${runId}\nReprise-State: ${state}\nReprise-Exit-Code: 0\nReprise-Key: ${key}\n`);

  it('finds the newest succeeded run on any branch, never a reused or failed one, and forgets a deleted branch', async () => {
    const { root } = await makeProject();
    expect(await findKeyedRun(root, KEY)).toBeUndefined();
    git(root, 'checkout', '-q', '-b', 'side');
    runCommit(root, 'run-side', 'succeeded');
    git(root, 'checkout', '-q', '-');
    runCommit(root, 'run-failed', 'failed');
    runCommit(root, 'run-reused', 'reused');
    expect((await findKeyedRun(root, KEY))?.runId).toBe('run-side');
    // The index follows a branch that moves on (reading only the new commits).
    runCommit(root, 'run-main', 'succeeded');
    expect((await findKeyedRun(root, KEY))?.runId).toBe('run-main');
    expect(await findKeyedRun(root, `sha256:${'f'.repeat(64)}`)).toBeUndefined();
    git(root, 'reset', '-q', '--hard', 'HEAD~1');
    expect((await findKeyedRun(root, KEY))?.runId).toBe('run-side');
    git(root, 'branch', '-q', '-D', 'side');
    expect(await findKeyedRun(root, KEY)).toBeUndefined();
  });
});
