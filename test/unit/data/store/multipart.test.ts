import { describe, expect, it } from 'vitest';
import { DEFAULT_PART_SIZE, isMultipart, MAX_PARTS, MAX_SINGLE_PUT, parseEtag, partSize, planParts, PART_SIZE_ENV } from '../../../../src/data/store/multipart.js';

const MiB = 2 ** 20;

describe('planParts', () => {
  it('cuts an object into equal parts and a last one holding the rest', () => {
    expect(planParts(10 * MiB + 7, 4 * MiB)).toEqual([
      { number: 1, start: 0, length: 4 * MiB },
      { number: 2, start: 4 * MiB, length: 4 * MiB },
      { number: 3, start: 8 * MiB, length: 2 * MiB + 7 },
    ]);
  });

  it('an exact multiple has no empty last part; a size of one part is one part', () => {
    const parts = planParts(12 * MiB, 4 * MiB);
    expect(parts).toHaveLength(3);
    expect(parts.at(-1)).toEqual({ number: 3, start: 8 * MiB, length: 4 * MiB });
    expect(planParts(4 * MiB, 4 * MiB)).toEqual([{ number: 1, start: 0, length: 4 * MiB }]);
    expect(planParts(0, 4 * MiB)).toEqual([{ number: 1, start: 0, length: 0 }]);
  });

  it('covers every byte once, in order, for sizes around the 5 GiB single-PUT limit', () => {
    for (const size of [MAX_SINGLE_PUT - 1, MAX_SINGLE_PUT, MAX_SINGLE_PUT + 1, 5.5 * 2 ** 30]) {
      const parts = planParts(size, DEFAULT_PART_SIZE);
      expect(parts.reduce((n, p) => n + p.length, 0)).toBe(size);
      parts.forEach((p, i) => {
        expect(p.number).toBe(i + 1);
        expect(p.start).toBe(i * DEFAULT_PART_SIZE);
        expect(p.length).toBeGreaterThan(0);
        if (i < parts.length - 1) expect(p.length).toBe(DEFAULT_PART_SIZE);
      });
    }
    expect(planParts(5.5 * 2 ** 30, DEFAULT_PART_SIZE)).toHaveLength(88);
  });

  it('grows the parts (whole MiB) rather than exceed 10,000 of them', () => {
    const size = 2 ** 40 + 3; // 1 TiB: 16,385 parts of 64 MiB
    const parts = planParts(size, DEFAULT_PART_SIZE);
    expect(parts.length).toBeLessThanOrEqual(MAX_PARTS);
    expect(parts[0]!.length % MiB).toBe(0);
    expect(parts.reduce((n, p) => n + p.length, 0)).toBe(size);
  });

  it('refuses sizes that are not byte counts', () => {
    expect(() => planParts(-1, MiB)).toThrow();
    expect(() => planParts(1.5, MiB)).toThrow();
    expect(() => planParts(10, 0)).toThrow();
  });
});

describe('partSize and isMultipart', () => {
  it('defaults to 64 MiB, and the environment overrides it with a byte count only', () => {
    expect(partSize({})).toBe(64 * MiB);
    expect(partSize({ [PART_SIZE_ENV]: '5242880' })).toBe(5 * MiB);
    expect(() => partSize({ [PART_SIZE_ENV]: '5M' })).toThrow(/not a byte count/);
    expect(() => partSize({ [PART_SIZE_ENV]: '0' })).toThrow(/not a byte count/);
  });

  it('an object goes in parts above the part size, and always above 5 GiB', () => {
    expect(isMultipart(64 * MiB, 64 * MiB)).toBe(false);
    expect(isMultipart(64 * MiB + 1, 64 * MiB)).toBe(true);
    expect(isMultipart(MAX_SINGLE_PUT + 1, 100 * 2 ** 30)).toBe(true);
    expect(isMultipart(MAX_SINGLE_PUT, 100 * 2 ** 30)).toBe(false);
  });
});

describe('ETag parsing', () => {
  it('takes the bare token of a quoted, weak or CR-ended value; multipart ETags are kept as they are', () => {
    expect(parseEtag('"9e107d9d372bb6826bd81d3542a419d6"')).toBe('9e107d9d372bb6826bd81d3542a419d6');
    expect(parseEtag(' 9e107d9d372bb6826bd81d3542a419d6\r')).toBe('9e107d9d372bb6826bd81d3542a419d6');
    expect(parseEtag('W/"abc123"')).toBe('abc123');
    expect(parseEtag('"d41d8cd98f00b204e9800998ecf8427e-3"')).toBe('d41d8cd98f00b204e9800998ecf8427e-3');
  });

  it('refuses what is not a token', () => {
    expect(parseEtag(undefined)).toBeUndefined();
    expect(parseEtag('')).toBeUndefined();
    expect(parseEtag('""')).toBeUndefined();
    expect(parseEtag('"a b"')).toBeUndefined();
    expect(parseEtag('"a";rm -rf /')).toBeUndefined();
  });
});
