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
  const named = entries.map(({ path, target }) => {
    // Extracted with -P, nothing strips a leading "/" or a ".." part: refuse them here as well.
    if (path.split('/').some((p) => p === '' || p === '.' || p === '..') || /[\0\n]/.test(path)) throw new Error(`not a plain relative path for a link: ${JSON.stringify(path)}`);
    if (!target.startsWith('/') || target.includes('\0')) throw new Error(`not an absolute link target: ${JSON.stringify(target)}`);
    return { name: Buffer.from(path, 'utf8'), link: Buffer.from(target, 'utf8') };
  });
  // One buffer for all (20,000 entries: 10 MB), filled in place; it ends with two zero blocks.
  let size = 2 * BLOCK;
  for (const { name, link } of named) size += BLOCK + longSize(name) + longSize(link);
  const out = Buffer.alloc(size);
  let at = 0;
  const write = (name: Buffer, type: string, link: Buffer, bytes: number) => {
    header(out.subarray(at, at + BLOCK), name, type, link, bytes);
    at += BLOCK;
  };
  for (const { name, link } of named) {
    for (const [type, value] of [['L', name], ['K', link]] as const) {
      if (value.length <= 100) continue;
      // A ././@LongLink entry of type L (the next entry's name) or K (its link target): NUL-terminated, padded to blocks.
      write(LONG_LINK, type, EMPTY, value.length + 1);
      value.copy(out, at);
      at += longSize(value) - BLOCK;
    }
    // The common case, from a template: only the names and the checksum differ.
    LINK_TEMPLATE.copy(out, at);
    name.copy(out, at, 0, 100);
    link.copy(out, at + 157, 0, 100);
    checksum(out.subarray(at, at + BLOCK), LINK_TEMPLATE_SUM + byteSum(name.subarray(0, 100)) + byteSum(link.subarray(0, 100)));
    at += BLOCK;
  }
  return out;
}

const byteSum = (b: Buffer) => {
  let sum = 0;
  for (let i = 0; i < b.length; i++) sum += b[i]!;
  return sum;
};

const LONG_LINK = Buffer.from('././@LongLink', 'latin1');
const EMPTY = Buffer.alloc(0);

/** The blocks a long name takes (its header and data), or 0 when the entry's own header holds it. */
const longSize = (value: Buffer) => (value.length > 100 ? BLOCK + Math.ceil((value.length + 1) / BLOCK) * BLOCK : 0);

/** One header written into `h` (512 zero bytes). */
function header(h: Buffer, name: Buffer, type: string, link: Buffer, size: number): void {
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
  checksum(h, byteSum(h));
}

function checksum(h: Buffer, sum: number): void {
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
}

/** A hard-link header without names, its checksum field still spaces, and the sum of its bytes. */
const LINK_TEMPLATE = Buffer.alloc(BLOCK);
header(LINK_TEMPLATE, EMPTY, '1', EMPTY, 0);
LINK_TEMPLATE.fill(' ', 148, 156);
const LINK_TEMPLATE_SUM = byteSum(LINK_TEMPLATE);

function octal(h: Buffer, offset: number, length: number, value: number): void {
  h.write(`${value.toString(8).padStart(length - 1, '0')}\0`, offset, 'latin1');
}
