import { badInput } from '../../errors.js';

/** Where a project's data lives in an object store: `s3://bucket/prefix`. */
export interface StoreLocation {
  bucket: string;
  /** Without leading or trailing "/"; empty for the bucket's root. */
  prefix: string;
}

// S3's bucket naming rules: 3-63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit.
const bucketPattern = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

export function parseStoreUrl(url: string): StoreLocation {
  const m = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(url);
  if (!m) throw badInput(`"${url}" is not an object store URL; give s3://bucket/prefix`);
  const bucket = m[1]!;
  if (!bucketPattern.test(bucket)) throw badInput(`"${bucket}" is not a valid bucket name (3-63 lowercase letters, digits, "." and "-"); give s3://bucket/prefix`);
  const prefix = (m[2] ?? '').replace(/^\/+|\/+$/g, '');
  if (prefix.split('/').some((part) => part === '.' || part === '..') || /\/\//.test(prefix)) {
    throw badInput(`"${url}" has an empty, "." or ".." part in its prefix; give s3://bucket/prefix`);
  }
  return { bucket, prefix };
}

export const formatStoreUrl = (loc: StoreLocation): string => `s3://${loc.bucket}${loc.prefix ? `/${loc.prefix}` : ''}`;

/** The key of object `md5` (a file's md5, or a manifest's with ".dir"): DVC 3's remote layout. */
export function objectKey(loc: StoreLocation, md5: string): string {
  return `${loc.prefix ? `${loc.prefix}/` : ''}files/md5/${md5.slice(0, 2)}/${md5.slice(2)}`;
}

/** The md5 an object key names, or undefined for a key outside the layout. */
export function md5OfKey(loc: StoreLocation, key: string): string | undefined {
  const inside = !loc.prefix ? key : key.startsWith(`${loc.prefix}/`) ? key.slice(loc.prefix.length + 1) : '';
  const m = /^files\/md5\/([0-9a-f]{2})\/([0-9a-f]{30}(?:\.dir)?)$/.exec(inside);
  return m ? m[1]! + m[2]! : undefined;
}
