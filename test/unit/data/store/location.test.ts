import { describe, expect, it } from 'vitest';
import { formatStoreUrl, md5OfKey, objectKey, parseStoreUrl } from '../../../../src/data/store/location.js';

describe('store location', () => {
  it('parses s3://bucket/prefix and lays objects out as a DVC 3 remote', () => {
    const loc = parseStoreUrl('s3://my-bucket/team/proj/');
    expect(loc).toEqual({ bucket: 'my-bucket', prefix: 'team/proj' });
    expect(formatStoreUrl(loc)).toBe('s3://my-bucket/team/proj');
    expect(objectKey(loc, 'd41d8cd98f00b204e9800998ecf8427e')).toBe('team/proj/files/md5/d4/1d8cd98f00b204e9800998ecf8427e');
    expect(objectKey(loc, '0123456789abcdef0123456789abcdef.dir')).toBe('team/proj/files/md5/01/23456789abcdef0123456789abcdef.dir');
    expect(md5OfKey(loc, 'team/proj/files/md5/01/23456789abcdef0123456789abcdef.dir')).toBe('0123456789abcdef0123456789abcdef.dir');
    expect(md5OfKey(loc, 'other/files/md5/01/23456789abcdef0123456789abcdef')).toBeUndefined();
  });

  it('a bucket root has no prefix', () => {
    const loc = parseStoreUrl('s3://bucket');
    expect(loc).toEqual({ bucket: 'bucket', prefix: '' });
    expect(objectKey(loc, 'd41d8cd98f00b204e9800998ecf8427e')).toBe('files/md5/d4/1d8cd98f00b204e9800998ecf8427e');
    expect(md5OfKey(loc, 'files/md5/d4/1d8cd98f00b204e9800998ecf8427e')).toBe('d41d8cd98f00b204e9800998ecf8427e');
  });

  it.each([
    ['gs://bucket/x', /^"gs:\/\/bucket\/x" is not an object store URL; give s3:\/\/bucket\/prefix$/],
    ['s3://Bad_Bucket/x', /^"Bad_Bucket" is not a valid bucket name/],
    ['s3://bucket/a/../b', /has an empty, "\." or "\.\." part in its prefix/],
    ['s3://bucket/a//b', /has an empty, "\." or "\.\." part in its prefix/],
  ])('%s is bad input', (url, message) => {
    let err: { message: string; exitCode: number } | undefined;
    try {
      parseStoreUrl(url);
    } catch (e) {
      err = e as typeof err;
    }
    expect(err?.message).toMatch(message);
    expect(err?.exitCode).toBe(2);
  });
});
