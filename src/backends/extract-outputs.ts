import { constants } from 'node:fs';
import { copyFile, mkdir, open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { cString, parseOctal, parsePax } from '../project/tar-members.js';
import { CollectTally, LINK_REFUSED, SPECIAL_REFUSED } from './output-limit.js';

const BLOCK = 512;
/** A long name or pax header larger than this is no honest archive's. */
const MAX_META = 1 << 20;
const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = constants;

export interface ExtractOptions {
  /** The top-level folders the archive may hold (output, code, …); anything else is refused. */
  paths: string[];
  /** Drop the top folder (destDir receives output/'s contents), as a default collect does. */
  strip: boolean;
}

/**
 * Extract a tar stream the job side made (its output/, …) into `destDir`, in process and with
 * nothing trusted: only plain files and directories are created (never a link, so no later
 * member can write through one), each file with O_EXCL (a duplicate member name never replaces
 * what was kept), names that leave the top folders are refused, and the limits hold while the
 * stream is read, so an archive cannot fill this machine's disk. The stream is read to its end.
 */
export async function extractOutputs(stream: Readable, destDir: string, options: ExtractOptions, tally: CollectTally): Promise<void> {
  const input = new ByteReader(stream);
  const kept = new Map<string, 'file' | 'directory'>();
  const refusedTops = new Set<string>();
  let longName: string | undefined;
  let pax: Record<string, string> = {};
  try {
    for (;;) {
      const header = await input.exactly(BLOCK);
      if (!header || header.every((b) => b === 0)) break;
      const flag = String.fromCharCode(header[156]!);
      const size = flag === 'x' || flag === 'L' || flag === 'K' || flag === 'g' ? parseOctal(header.subarray(124, 136)) : Number(pax.size ?? parseOctal(header.subarray(124, 136)));
      const padded = Math.ceil(size / BLOCK) * BLOCK;
      if (flag === 'x' || flag === 'L' || flag === 'K' || flag === 'g') {
        if (size > MAX_META) throw new Error(`a ${size}-byte ${flag} header`);
        const body = await input.exactly(padded);
        if (!body) break;
        if (flag === 'x') pax = parsePax(body.subarray(0, size));
        else if (flag === 'L') longName = cString(body.subarray(0, size));
        continue;
      }
      const prefix = header.subarray(257, 263).toString('latin1').startsWith('ustar') ? cString(header.subarray(345, 500)) : '';
      const own = cString(header.subarray(0, 100));
      const name = pax.path ?? longName ?? (prefix ? `${prefix}/${own}` : own);
      const linkName = pax.linkpath ?? cString(header.subarray(157, 257));
      const sparse = Object.keys(pax).some((k) => k.startsWith('GNU.sparse.'));
      longName = undefined;
      pax = {};
      const parts = name.split('/').filter((p) => p !== '' && p !== '.');
      const rel = parts.join('/');
      const top = parts[0] ?? '';
      let body: ((chunk: Buffer) => Promise<void>) | undefined;
      let file: FileHandle | undefined;
      if (name.startsWith('/') || parts.includes('..') || !options.paths.includes(top)) tally.refuse(name, `its path leaves ${options.paths.join('/, ')}/`);
      else if (refusedTops.has(top)) tally.refuse(rel, `inside ${top}/, which was refused`);
      else if (kept.has(rel) && !(flag === '5' && kept.get(rel) === 'directory')) tally.refuse(rel, 'a second archive member with the same name; the first was kept');
      else if (flag === '1' && kept.get(linkName.split('/').filter((p) => p && p !== '.').join('/')) !== 'file') tally.refuse(rel, 'a hard link to a file that was not collected');
      else if (flag === '2') {
        tally.refuse(rel, parts.length === 1 ? `${LINK_REFUSED}; nothing under it was read` : LINK_REFUSED);
        if (parts.length === 1) refusedTops.add(top);
      } else if (parts.length === 1 && flag !== '5') {
        tally.refuse(rel, 'not a directory; nothing was read from it');
        refusedTops.add(top);
      } else if (flag === '5') {
        if (await made(() => mkdir(target(destDir, parts, options.strip), { recursive: true }))) kept.set(rel, 'directory');
        else tally.refuse(rel, 'its folder is a file here');
      } else if (flag === '1') {
        const from = target(destDir, linkName.split('/').filter((p) => p && p !== '.'), options.strip);
        const to = target(destDir, parts, options.strip);
        // A hard link to a file kept before is that file again: a copy, never a link here.
        if (tally.admit(rel, size) && (await made(() => copyFile(from, to, constants.COPYFILE_EXCL)))) kept.set(rel, 'file');
      } else if (sparse) tally.refuse(rel, 'a sparse archive member; not collected');
      else if (flag !== '0' && flag !== '\0' && flag !== '7') tally.refuse(rel, SPECIAL_REFUSED);
      else if (tally.admit(rel, size)) {
        const to = target(destDir, parts, options.strip);
        file = await openNew(to);
        if (file) {
          kept.set(rel, 'file');
          const out = file;
          body = async (chunk) => void (await out.write(chunk));
        } else tally.refuse(rel, 'its folder is a file here');
      }
      try {
        if (!(await input.each(size, body))) break;
      } finally {
        await file?.close();
      }
      await input.each(padded - size);
    }
  } catch (err) {
    tally.refuse(options.paths[0]!, `the rest of the archive was not read: ${(err as Error).message}`);
  }
  await input.drain();
}

function target(destDir: string, parts: string[], strip: boolean): string {
  return join(destDir, ...(strip ? parts.slice(1) : parts));
}

/** A new file, never through a link nor over a file kept before; undefined when its folder is not one. */
async function openNew(path: string): Promise<FileHandle | undefined> {
  await made(() => mkdir(join(path, '..'), { recursive: true }));
  try {
    return await open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o644);
  } catch (err) {
    if (['ENOTDIR', 'EEXIST', 'ENOENT', 'EISDIR'].includes((err as NodeJS.ErrnoException).code ?? '')) return undefined;
    throw err;
  }
}

async function made(step: () => Promise<unknown>): Promise<boolean> {
  try {
    await step();
    return true;
  } catch (err) {
    if (['ENOTDIR', 'EEXIST', 'ENOENT'].includes((err as NodeJS.ErrnoException).code ?? '')) return false;
    throw err;
  }
}

/** Exact-size reads over a stream, without holding a file's content in memory. */
class ByteReader {
  private buf: Buffer = Buffer.alloc(0);
  private readonly it: AsyncIterator<Buffer>;

  constructor(stream: Readable) {
    this.it = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }

  private async fill(): Promise<boolean> {
    const r = await this.it.next();
    if (r.done) return false;
    this.buf = this.buf.length ? Buffer.concat([this.buf, r.value]) : r.value;
    return true;
  }

  async exactly(n: number): Promise<Buffer | undefined> {
    while (this.buf.length < n) if (!(await this.fill())) return undefined;
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** The next `n` bytes, in pieces, to `sink` (or dropped); false when the stream ended first. */
  async each(n: number, sink?: (chunk: Buffer) => Promise<void>): Promise<boolean> {
    for (let left = n; left > 0; ) {
      if (!this.buf.length && !(await this.fill())) return false;
      const piece = this.buf.subarray(0, Math.min(left, this.buf.length));
      this.buf = this.buf.subarray(piece.length);
      left -= piece.length;
      if (sink) await sink(piece);
    }
    return true;
  }

  async drain(): Promise<void> {
    while (await this.fill()) this.buf = Buffer.alloc(0);
  }
}
