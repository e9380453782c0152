/**
 * A tar archive of hard-link entries only, for GNU tar to extract with `-P` (absolute link
 * targets kept): each entry makes `path` (relative to the extraction directory) a second name of
 * `target` (an absolute path). No file bytes travel: 512 bytes an entry, one more header and
 * block(s) for a name longer than the header holds (GNU's ././@LongLink, read by GNU tar in any
 * locale, where a pax path may be re-encoded).
 */
const BLOCK = 512;
/** GNU tar's own magic ("ustar  \0"): the format whose long-name entries it reads. */
const GNU_MAGIC = Buffer.from('ustar  \0', 'latin1');

export interface HardLinkEntry {
  /** Relative to the extraction directory; already checked (no `..`, no empty parts). */
  path: string;
  /** Absolute path of the file it links to. */
  target: string;
}

export function hardLinkArchive(entries: readonly HardLinkEntry[]): Buffer {
  const chunks: Buffer[] = [];
  for (const { path, target } of entries) {
    // Extracted with -P, nothing strips a leading "/" or a ".." part: refuse them here as well.
    if (path.split('/').some((p) => p === '' || p === '.' || p === '..') || /[\0\n]/.test(path)) throw new Error(`not a plain relative path for a link: ${JSON.stringify(path)}`);
    if (!target.startsWith('/') || target.includes('\0')) throw new Error(`not an absolute link target: ${JSON.stringify(target)}`);
    const name = Buffer.from(path, 'utf8');
    const link = Buffer.from(target, 'utf8');
    if (name.length > 100) chunks.push(...longName('L', name));
    if (link.length > 100) chunks.push(...longName('K', link));
    chunks.push(header({ name: name.subarray(0, 100), type: '1', link: link.subarray(0, 100), size: 0 }));
  }
  // The end of the archive: two zero blocks.
  chunks.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(chunks);
}

/** A ././@LongLink entry of type L (the next entry's name) or K (its link target): NUL-terminated, padded to blocks. */
function longName(type: 'L' | 'K', value: Buffer): Buffer[] {
  const data = Buffer.alloc(Math.ceil((value.length + 1) / BLOCK) * BLOCK);
  value.copy(data);
  return [header({ name: Buffer.from('././@LongLink'), type, link: Buffer.alloc(0), size: value.length + 1 }), data];
}

function header({ name, type, link, size }: { name: Buffer; type: string; link: Buffer; size: number }): Buffer {
  const h = Buffer.alloc(BLOCK);
  name.copy(h, 0);
  octal(h, 100, 8, 0o444); // mode: ignored for a hard link (the target keeps its own)
  octal(h, 108, 8, 0); // uid
  octal(h, 116, 8, 0); // gid
  octal(h, 124, 12, size);
  octal(h, 136, 12, 0); // mtime
  h.write(type, 156, 'latin1');
  link.copy(h, 157);
  GNU_MAGIC.copy(h, 257);
  // The checksum counts its own field as spaces.
  h.fill(' ', 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return h;
}

function octal(h: Buffer, offset: number, length: number, value: number): void {
  h.write(`${value.toString(8).padStart(length - 1, '0')}\0`, offset, 'latin1');
}
