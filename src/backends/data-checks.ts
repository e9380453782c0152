import { badInput } from '../errors.js';
import type { DataFile } from './types.js';

const MD5 = /^[0-9a-f]{32}$/;

/** A cluster reads "md5 path" lines: a path must be a plain relative one on one line. */
export function checkedFile(f: DataFile): DataFile {
  if (!MD5.test(f.md5)) throw badInput(`the tracked input ${f.path} has no file md5 (${f.md5}); its pointer is damaged: git checkout -- the .dvc file`);
  const parts = f.path.split('/');
  if (/[\n\r\0]/.test(f.path) || parts.some((p) => p === '' || p === '.' || p === '..')) {
    throw badInput(`the tracked input ${JSON.stringify(f.path)} cannot be staged on a cluster: its path must be relative, without "." or ".." parts or line breaks; rename it and track it again`);
  }
  return f;
}

/** A presigned URL goes into a curl config line and a sed pattern's output: nothing a quote or space could break. */
export function checkedUrl(url: string): string {
  if (!/^https?:\/\/[^\s"'\\]+$/.test(url)) throw new Error(`a presigned URL with unexpected characters: ${url.split('?')[0]}`);
  return url;
}

/**
 * Shell: `place PART OBJECT` puts a verified part at its object's name by a hard link, unless
 * another job's copy got there first: trees of hard links may already hold that copy's inode, and
 * a rename over it would leave them pointing at a lone one. A filesystem without hard links gets
 * the rename. The part is gone either way.
 */
export const PLACE_OBJECT = `place() { { ln "$1" "$2" 2>/dev/null || [ -e "$2" ] || mv -f "$1" "$2"; } && rm -f "$1"; }
`;
