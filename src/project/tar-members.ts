import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

export type TarMemberType = 'file' | 'directory' | 'symlink' | 'hardlink' | 'other';

export interface TarMember {
  name: string;
  type: TarMemberType;
  linkName?: string;
  /** Bytes of a file's content (pax `size` for sparse or huge files). */
  size?: number;
}

const BLOCK = 512;

/**
 * The members of a tar archive (ustar, GNU long names, pax path overrides), read from the
 * headers alone so an archive can be judged before anything is extracted.
 */
export function listTarMembers(archive: Buffer): TarMember[] {
  return readMembers((offset, length) => archive.subarray(offset, offset + length), archive.length);
}

/** The members of a tar file, reading only its headers (outputs may be large). */
export function listTarFile(path: string): TarMember[] {
  const fd = openSync(path, 'r');
  try {
    const read = (offset: number, length: number) => {
      const buf = Buffer.alloc(length);
      return buf.subarray(0, readSync(fd, buf, 0, length, offset));
    };
    return readMembers(read, fstatSync(fd).size);
  } finally {
    closeSync(fd);
  }
}

function readMembers(read: (offset: number, length: number) => Buffer, total: number): TarMember[] {
  const members: TarMember[] = [];
  let longName: string | undefined;
  let longLink: string | undefined;
  let pax: Record<string, string> = {};
  for (let at = 0; at + BLOCK <= total; ) {
    const header = read(at, BLOCK);
    if (header.every((b) => b === 0)) break; // end of archive
    const size = parseOctal(header.subarray(124, 136));
    const flag = String.fromCharCode(header[156]!);
    const start = at;
    const body = () => read(start + BLOCK, size);
    at += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
    if (at > total) throw new Error(`truncated tar archive: member at byte ${start} runs past the end`);
    if (flag === 'L') longName = cString(body());
    else if (flag === 'K') longLink = cString(body());
    else if (flag === 'x') pax = parsePax(body());
    else if (flag === 'g') continue; // global pax defaults: no path of their own
    else {
      const prefix = header.subarray(257, 263).toString('latin1').startsWith('ustar') ? cString(header.subarray(345, 500)) : '';
      const ownName = cString(header.subarray(0, 100));
      const name = pax.path ?? longName ?? (prefix ? `${prefix}/${ownName}` : ownName);
      const linkName = pax.linkpath ?? longLink ?? cString(header.subarray(157, 257));
      const type: TarMemberType =
        flag === '0' || flag === '\0' || flag === '7' ? 'file' : flag === '5' ? 'directory' : flag === '2' ? 'symlink' : flag === '1' ? 'hardlink' : 'other';
      members.push(type === 'symlink' || type === 'hardlink' ? { name, type, linkName } : type === 'file' ? { name, type, size: pax.size ? Number(pax.size) : size } : { name, type });
      longName = longLink = undefined;
      pax = {};
    }
  }
  return members;
}

/** An output left out of a run's collected outputs, and why (symlinks, devices, paths that leave output/). */
export interface SkippedOutput {
  path: string;
  why: string;
}

export function parseOctal(field: Buffer): number {
  if ((field[0]! & 0x80) !== 0) {
    // GNU base-256 for sizes beyond 8 GiB.
    let n = 0;
    for (let i = 1; i < field.length; i++) n = n * 256 + field[i]!;
    return n;
  }
  const text = cString(field).trim();
  return text ? parseInt(text, 8) : 0;
}

export function cString(buf: Buffer): string {
  const end = buf.indexOf(0);
  return buf.subarray(0, end === -1 ? buf.length : end).toString('utf8');
}

/** pax extended header records: "<len> <key>=<value>\n". */
export function parsePax(body: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let at = 0;
  while (at < body.length) {
    const space = body.indexOf(0x20, at);
    if (space === -1) break;
    const len = parseInt(body.subarray(at, space).toString('latin1'), 10);
    if (!Number.isFinite(len) || len <= 0) break;
    const record = body.subarray(space + 1, at + len - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    at += len;
  }
  return out;
}
