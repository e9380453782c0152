import { createHash } from 'node:crypto';
import { parse } from 'yaml';
import { z } from 'zod';
import { badInput } from '../errors.js';

/**
 * DVC 3's on-disk format, written and read byte for byte as DVC does, so a DVC user in the same
 * repository (or on the same remote) sees the same data: `.dvc` pointer files and `.dir`
 * manifests. Pure: no file system here (see cache.ts).
 */

/** A file's md5, or a folder's: the md5 of its manifest plus ".dir". */
const md5Pattern = /^[0-9a-f]{32}(\.dir)?$/;
export const isDirMd5 = (md5: string): boolean => md5.endsWith('.dir');
export const POINTER_SUFFIX = '.dvc';

export interface PointerOut {
  md5: string;
  /** Bytes of the file, or of all the folder's files. */
  size: number;
  /** Folders only: how many files the manifest lists. */
  nfiles?: number;
  /** Relative to the pointer file's folder (DVC's convention). */
  path: string;
}

/** One entry of a folder's manifest: a file's md5 and its path inside the folder ("/"-separated). */
export interface DirEntry {
  md5: string;
  relpath: string;
}

/** A cache or remote object: its md5 (".dir" for manifests) and its size when known. */
export interface DataObject {
  md5: string;
  size?: number;
}

const safeRelative = z
  .string()
  .min(1)
  .refine((p) => !p.startsWith('/') && !p.split(/[\\/]/).includes('..'), 'must be a relative path inside the pointer\'s folder');

const outSchema = z
  .object({
    md5: z.string().regex(md5Pattern, 'must be 32 hex digits (with ".dir" for a folder)'),
    size: z.number().int().nonnegative(),
    nfiles: z.number().int().nonnegative().optional(),
    hash: z.literal('md5', { errorMap: () => ({ message: 'must be "md5" (a DVC 2 pointer: run `dvc cache migrate --dvc-files` once)' }) }),
    path: safeRelative,
  })
  .passthrough();

const pointerSchema = z.object({ outs: z.array(outSchema).min(1) }).passthrough();

/** Parse a `.dvc` file; `label` names it in the one-line error a hand-edited pointer gets. */
export function parsePointer(text: string, label: string): PointerOut[] {
  let data: unknown;
  try {
    data = parse(text);
  } catch (err) {
    throw badInput(`${label} is not a valid DVC pointer (not YAML: ${String((err as Error).message).split('\n')[0]}); restore it with: git checkout -- ${label}`);
  }
  const result = pointerSchema.safeParse(data);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const key = issue.path.join('.') || 'the file';
    throw badInput(`${label} is not a valid DVC pointer (${key}: ${issue.message}); restore it with: git checkout -- ${label}`);
  }
  return result.data.outs.map((o) => ({ md5: o.md5, size: o.size, ...(o.nfiles !== undefined ? { nfiles: o.nfiles } : {}), path: o.path }));
}

/** A pointer file exactly as `dvc add` writes it (DVC 3: md5, size, nfiles, hash, path). */
export function serializePointer(out: PointerOut): string {
  const lines = ['outs:', `- md5: ${out.md5}`, `  size: ${out.size}`];
  if (out.nfiles !== undefined) lines.push(`  nfiles: ${out.nfiles}`);
  lines.push('  hash: md5', `  path: ${yamlScalar(out.path)}`);
  return lines.join('\n') + '\n';
}

/** A plain YAML scalar when it reads back as the same string, else a double-quoted one. */
function yamlScalar(value: string): string {
  const plain = /^[A-Za-z0-9_][A-Za-z0-9_./ -]*$/.test(value) && !/ $/.test(value) && typeof parse(value) === 'string' && parse(value) === value;
  return plain ? value : JSON.stringify(value);
}

/**
 * The manifest's bytes as DVC hashes and stores them: Python's
 * `json.dumps(sorted(entries, key=relpath), sort_keys=True)` (", " and ": " separators, non-ASCII
 * escaped as \uXXXX), sorted by code point as Python compares strings.
 */
export function manifestBytes(entries: DirEntry[]): Buffer {
  const sorted = [...entries].sort((a, b) => compareCodePoints(a.relpath, b.relpath));
  const items = sorted.map((e) => `{"md5": ${pythonJsonString(e.md5)}, "relpath": ${pythonJsonString(e.relpath)}}`);
  return Buffer.from(`[${items.join(', ')}]`, 'utf8');
}

export function manifestMd5(entries: DirEntry[]): string {
  return createHash('md5').update(manifestBytes(entries)).digest('hex') + '.dir';
}

const entrySchema = z.object({ md5: z.string().regex(/^[0-9a-f]{32}$/), relpath: safeRelative }).passthrough();

/** Parse a `.dir` object; `label` names it in the error. */
export function parseManifest(bytes: Buffer | string, label: string): DirEntry[] {
  let data: unknown;
  try {
    data = JSON.parse(bytes.toString());
  } catch {
    data = undefined;
  }
  const result = z.array(entrySchema).safeParse(data);
  if (!result.success) throw badInput(`${label} is not a valid DVC folder manifest; remove it and run: reprise data checkout`);
  return result.data.map((e) => ({ md5: e.md5, relpath: e.relpath }));
}

function pythonJsonString(s: string): string {
  return JSON.stringify(s).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function compareCodePoints(a: string, b: string): number {
  const ca = [...a];
  const cb = [...b];
  for (let i = 0; i < Math.min(ca.length, cb.length); i++) {
    const d = ca[i]!.codePointAt(0)! - cb[i]!.codePointAt(0)!;
    if (d !== 0) return d;
  }
  return ca.length - cb.length;
}

/**
 * Every object the pointers reference: each file's md5, each folder's `.dir` object (its size
 * being the manifest's bytes) and the files it lists (sizes unknown from the manifest alone).
 * `loadManifest` reads a `.dir` object from wherever it is (local cache, a remote).
 */
export async function referencedObjects(outs: PointerOut[], loadManifest: (md5: string) => Promise<DirEntry[]>): Promise<DataObject[]> {
  const seen = new Map<string, DataObject>();
  for (const out of outs) {
    if (!isDirMd5(out.md5)) {
      seen.set(out.md5, { md5: out.md5, size: out.size });
      continue;
    }
    const entries = await loadManifest(out.md5);
    seen.set(out.md5, { md5: out.md5, size: manifestBytes(entries).length });
    for (const e of entries) if (!seen.has(e.md5)) seen.set(e.md5, { md5: e.md5 });
  }
  return [...seen.values()].sort((a, b) => (a.md5 < b.md5 ? -1 : a.md5 > b.md5 ? 1 : 0));
}
