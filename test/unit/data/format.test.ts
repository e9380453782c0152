import { describe, expect, it } from 'vitest';
import { RepriseError } from '../../../src/errors.js';
import { manifestBytes, manifestMd5, parseManifest, parsePointer, referencedObjects, serializePointer } from '../../../src/data/format.js';

// Vectors from real `dvc add` (DVC 3.67.1): a folder with a name DVC escapes, "a-b" vs "a.txt",
// and "sub.txt" vs "sub/c" (sorted as strings, not by path parts).
const entries = [
  { md5: 'fbade9e36a3f36d3d676c1b808451dd7', relpath: 'é ü.txt' },
  { md5: '415290769594460e2e485922904f345d', relpath: 'sub/c' },
  { md5: 'b1946ac92492d2347c6235b4d2611184', relpath: 'a.txt' },
  { md5: 'f1290186a5d0b1ceab27f4e77c0c5d68', relpath: 'sub.txt' },
  { md5: '9dd4e461268c8034f5c8564e155c67a6', relpath: 'a-b' },
];
const dvcManifest =
  '[{"md5": "9dd4e461268c8034f5c8564e155c67a6", "relpath": "a-b"}, {"md5": "b1946ac92492d2347c6235b4d2611184", "relpath": "a.txt"}, ' +
  '{"md5": "f1290186a5d0b1ceab27f4e77c0c5d68", "relpath": "sub.txt"}, {"md5": "415290769594460e2e485922904f345d", "relpath": "sub/c"}, ' +
  '{"md5": "fbade9e36a3f36d3d676c1b808451dd7", "relpath": "\\u00e9 \\u00fc.txt"}]';
const dvcFolderPointer = 'outs:\n- md5: 4fb23724759235ea77604dc20ef96517.dir\n  size: 10\n  nfiles: 5\n  hash: md5\n  path: data\n';
const dvcFilePointer = 'outs:\n- md5: d861877da56b8b4ceb35c8cbfdf65bb4\n  size: 3\n  hash: md5\n  path: f.csv\n';

describe('DVC format', () => {
  it('writes and hashes a folder manifest exactly as DVC 3 does', () => {
    expect(manifestBytes(entries).toString()).toBe(dvcManifest);
    expect(manifestMd5(entries)).toBe('4fb23724759235ea77604dc20ef96517.dir');
    expect(manifestBytes(parseManifest(dvcManifest, 'x'))).toEqual(Buffer.from(dvcManifest));
  });

  it('writes pointer files byte for byte as dvc add', () => {
    expect(serializePointer({ md5: '4fb23724759235ea77604dc20ef96517.dir', size: 10, nfiles: 5, path: 'data' })).toBe(dvcFolderPointer);
    expect(serializePointer({ md5: 'd861877da56b8b4ceb35c8cbfdf65bb4', size: 3, path: 'f.csv' })).toBe(dvcFilePointer);
    expect(parsePointer(dvcFolderPointer, 'data.dvc')).toEqual([{ md5: '4fb23724759235ea77604dc20ef96517.dir', size: 10, nfiles: 5, path: 'data' }]);
  });

  it('quotes a path YAML would read otherwise, and reads it back', () => {
    for (const path of ['true', '123', 'a: b', '#x', 'é.csv', ' lead']) {
      expect(parsePointer(serializePointer({ md5: 'd861877da56b8b4ceb35c8cbfdf65bb4', size: 3, path }), 'p.dvc')[0]!.path).toBe(path);
    }
  });

  it('keeps keys DVC may add (desc, meta) when reading', () => {
    const text = `${dvcFilePointer}  desc: my data\nmeta:\n  owner: me\n`;
    expect(parsePointer(text, 'f.csv.dvc')[0]!.md5).toBe('d861877da56b8b4ceb35c8cbfdf65bb4');
  });

  it.each([
    ['not YAML', 'outs: [', 'not YAML'],
    ['no outs', 'foo: 1\n', 'outs'],
    ['a truncated md5', dvcFilePointer.replace('d861877da56b8b4ceb35c8cbfdf65bb4', 'd861877'), 'outs.0.md5: must be 32 hex digits'],
    ['a negative size', dvcFilePointer.replace('size: 3', 'size: -3'), 'outs.0.size'],
    ['a path leaving the folder', dvcFilePointer.replace('path: f.csv', 'path: ../etc/passwd'), 'outs.0.path'],
    ['an absolute path', dvcFilePointer.replace('path: f.csv', 'path: /etc/passwd'), 'outs.0.path'],
    ['a DVC 2 pointer', dvcFilePointer.replace('  hash: md5\n', ''), 'dvc cache migrate'],
  ])('refuses a hand-edited pointer (%s) in one line naming the file', (_name, text, words) => {
    let err: unknown;
    try {
      parsePointer(text, 'input/f.csv.dvc');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RepriseError);
    expect((err as RepriseError).exitCode).toBe(2);
    expect((err as Error).message).toContain('input/f.csv.dvc is not a valid DVC pointer');
    expect((err as Error).message).toContain(words);
    expect((err as Error).message).not.toContain('\n');
  });

  it('refuses a broken manifest', () => {
    expect(() => parseManifest('[{"md5": "zz", "relpath": "a"}]', 'm.dir')).toThrow(/not a valid DVC folder manifest/);
  });

  it('lists referenced objects: files, the manifest with its byte size, and its entries once', async () => {
    const objects = await referencedObjects(
      [
        { md5: '4fb23724759235ea77604dc20ef96517.dir', size: 10, nfiles: 5, path: 'data' },
        { md5: 'b1946ac92492d2347c6235b4d2611184', size: 6, path: 'a.txt' },
      ],
      async () => entries,
    );
    expect(objects).toHaveLength(6);
    expect(objects.find((o) => o.md5.endsWith('.dir'))).toEqual({ md5: '4fb23724759235ea77604dc20ef96517.dir', size: Buffer.byteLength(dvcManifest) });
    expect(objects.find((o) => o.md5 === 'b1946ac92492d2347c6235b4d2611184')).toEqual({ md5: 'b1946ac92492d2347c6235b4d2611184', size: 6 });
  });
});
