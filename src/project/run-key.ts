import { createHash } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { formatGpus, type Resources } from '../config/resources.js';
import { commitMemo } from './commit-memo.js';
import { Git } from './git.js';
import { ACTIVITY_DIR, ENVIRONMENT_LOCK } from './layout.js';
import { parseTrailers, type DataRef, type RunRecord } from './run-record.js';
import type { ReuseSettings } from './schema.js';

/**
 * The run key: what determines a run's outputs, as one digest. Two runs with the same key ran the
 * same command on the same files in the same image, so the second may reuse the first's outputs.
 * The backend is left out unless the project asks (`reuse.perBackend`): verify has shown outputs
 * identical across backends, and a result made on the laptop serves a cluster run too.
 *
 * key = "sha256:" + sha256(canonicalJson(parts)); canonicalJson sorts object keys at every level
 * and writes no spaces, so the key does not depend on the order fields were written in.
 */
export interface KeyParts {
  /** The form of the key: bumped if its parts ever change, so old keys never match new ones. */
  version: 1;
  /** The user's files of the source commit (not output/, records or the environment lock): sha256 of their `git ls-tree` entries. */
  source: string;
  /** The image digest the command runs in. */
  image: string;
  command: string[];
  /** Where in the project the command starts ('' for the root). */
  workdir: string;
  /**
   * The resources the project lists in `reuse.resources` (none by default), null when unset.
   * GPUs of a type are "TYPE:N" (a string); a count alone stays a number, so older keys still match.
   */
  resources: Record<string, number | string | null>;
  /** The tracked data the run reads, by content, sorted by path. */
  data: { path: string; md5: string }[];
  /** Only with `reuse.perBackend: true`. */
  backend?: string;
}

/** What a run is, before or after it ran: the inputs of its key. */
export interface KeySubject {
  sourceCommit: string;
  imageDigest: string;
  command: string[];
  workdir?: string;
  resources: Resources;
  backend: string;
  dataInputs: DataRef[];
}

/** JSON with object keys sorted at every level and undefined members left out. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

const sha256 = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}`;

export const runKey = (parts: KeyParts): string => sha256(canonicalJson(parts));

/** Each part with the digest of its canonical JSON: where two keys differ, these differ. */
export function keyPartDigests(parts: KeyParts): { part: string; digest: string }[] {
  return Object.entries(parts)
    .filter(([name, v]) => name !== 'version' && v !== undefined)
    .map(([part, v]) => ({ part, digest: sha256(canonicalJson(v)) }));
}

const RESOURCE_FIELDS: Record<string, keyof Resources> = { cpus: 'cpus', memory: 'memoryBytes', gpus: 'gpus', time: 'timeSeconds' };

function keyedResource(r: Resources, name: string): number | string | null {
  if (name === 'gpus' && r.gpuType) return formatGpus(r);
  const value = r[RESOURCE_FIELDS[name]!];
  return typeof value === 'number' ? value : null;
}

/** The key's parts from plain values; `settings` is the project's `reuse` at the source commit. */
export function keyPartsOf(subject: Omit<KeySubject, 'sourceCommit'> & { source: string }, settings: ReuseSettings | undefined): KeyParts {
  const resources = Object.fromEntries((settings?.resources ?? []).map((name) => [name, keyedResource(subject.resources, name)]));
  return {
    version: 1,
    source: subject.source,
    image: subject.imageDigest,
    command: subject.command,
    workdir: subject.workdir ?? '',
    resources,
    data: subject.dataInputs.map((d) => ({ path: d.path, md5: d.md5 })).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)),
    ...(settings?.perBackend ? { backend: subject.backend } : {}),
  };
}

/** The key's parts of a run, reading the source tree from git. */
export async function keyPartsAt(root: string, subject: KeySubject, settings: ReuseSettings | undefined): Promise<KeyParts> {
  return keyPartsOf({ ...subject, source: await sourceDigest(new Git(root), subject.sourceCommit) }, settings);
}

/** A recorded run's key subject (its tracked inputs are in its record). */
export const recordSubject = (r: RunRecord): KeySubject => ({
  sourceCommit: r.sourceCommit,
  imageDigest: r.image.digest,
  command: r.command,
  workdir: r.workdir,
  resources: r.resources,
  backend: r.backend.name,
  dataInputs: r.data?.inputs ?? [],
});

/**
 * The user's files of `commit` as one digest: its top-level entries and those of `.reprise/`,
 * without what runs write (output/, the activity records, the environment lock), so the records
 * of earlier runs never change the key. Two `ls-tree` calls, however large the project.
 */
export function sourceDigest(git: Git, commit: string): Promise<string> {
  return sourceDigests(commit, () => readSourceDigest(git, commit));
}
const sourceDigests = commitMemo<string>();

async function readSourceDigest(git: Git, commit: string): Promise<string> {
  const [top, meta] = await Promise.all([git.run(['ls-tree', '-z', commit]), git.tryRun(['ls-tree', '-z', `${commit}:.reprise`])]);
  const entries = (text: string, prefix: string) =>
    text
      .split('\0')
      .filter(Boolean)
      .map((line) => {
        const tab = line.indexOf('\t');
        return { head: line.slice(0, tab), path: prefix + line.slice(tab + 1) };
      });
  const skipped = new Set(['output', ACTIVITY_DIR, ENVIRONMENT_LOCK, '.reprise']);
  const kept = [...entries(top, ''), ...entries(meta ?? '', '.reprise/')].filter((e) => !skipped.has(e.path));
  kept.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return sha256(kept.map((e) => `${e.head}\t${e.path}`).join('\0'));
}

/** The reuse.never glob the command line matches, if any (`*` any text, `?` one character). */
export function neverReused(settings: ReuseSettings | undefined, command: string[]): string | undefined {
  const line = command.join(' ');
  return settings?.never?.find((glob) => globRegExp(glob).test(line));
}

function globRegExp(glob: string): RegExp {
  const body = [...glob].map((c) => (c === '*' ? '[\\s\\S]*' : c === '?' ? '[\\s\\S]' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&'))).join('');
  return new RegExp(`^${body}$`);
}

/** A succeeded run recorded with this key. */
export interface KeyedRun {
  key: string;
  runId: string;
  commit: string;
  exitCode: number;
}

const KEY_INDEX = 'reprise-key-index.json';
const KEY_INDEX_VERSION = 1;
interface KeyIndex {
  version: number;
  /** The branch heads the index has read up to. */
  heads: string[];
  /** Each key's newest succeeded run among the commits read. */
  keys: Record<string, KeyedRun>;
}

/**
 * The newest succeeded run with `key` on any branch. Its index (in the git directory, like the
 * feed cache) maps keys to runs over every commit reachable from the branch heads it was read at;
 * a lookup reads only the commits the branches gained since (`git log <heads> --not <old heads>`,
 * git matching the trailer itself), so a history of 10,000 runs costs a file read and two git
 * calls. Reused runs are left out: a hit is always a run that executed.
 */
export async function findKeyedRun(root: string, key: string): Promise<KeyedRun | undefined> {
  const git = new Git(root);
  const file = join(await git.gitDir(), KEY_INDEX);
  const heads = [...new Set((await git.run(['for-each-ref', '--format=%(objectname)', 'refs/heads'])).split('\n').filter(Boolean))].sort();
  const cached = await readFile(file, 'utf8')
    .then((text) => JSON.parse(text) as KeyIndex)
    .catch(() => undefined);
  let index: KeyIndex = cached?.version === KEY_INDEX_VERSION && Array.isArray(cached.heads) && cached.keys && typeof cached.keys === 'object' ? cached : { version: KEY_INDEX_VERSION, heads: [], keys: {} };
  const fresh = heads.filter((h) => !index.heads.includes(h));
  // A head the index read that no branch reaches any more (a deleted or reset branch) may hold
  // runs no branch has: read everything again. A branch that moved on reaches its old head.
  const vanished = index.heads.filter((h) => !heads.includes(h));
  if (vanished.length && (await git.tryRun(['rev-list', '-n1', ...vanished, '--not', ...heads]))?.trim() !== '') index = { version: KEY_INDEX_VERSION, heads: [], keys: {} };
  if (fresh.length || vanished.length) {
    // An old head gone from the object store makes git fail: then everything is read again.
    let added = await keyedRuns(git, [...heads.filter((h) => !index.heads.includes(h)), '--not', ...index.heads]);
    if (!added) {
      index = { version: KEY_INDEX_VERSION, heads: [], keys: {} };
      added = (await keyedRuns(git, heads)) ?? new Map();
    }
    // What was read is newer than what the index held: its runs take the key.
    index = { version: KEY_INDEX_VERSION, heads, keys: { ...index.keys, ...Object.fromEntries(added) } };
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(index))
      .then(() => rename(tmp, file))
      .catch(() => rm(tmp, { force: true }).catch(() => undefined));
  }
  return index.keys[key];
}

/** Succeeded runs with a key among `git log <revs>`, each key's newest; undefined when git fails. */
async function keyedRuns(git: Git, revs: string[]): Promise<Map<string, KeyedRun> | undefined> {
  if (revs[0] === '--not') return new Map();
  const out = await git.tryRun(['log', '-F', '--grep=Reprise-Key: ', '--format=%H%x1f%(trailers:only,unfold)%x1e', ...revs]);
  if (out === undefined) return undefined;
  const runs = new Map<string, KeyedRun>();
  for (const chunk of out.split('\x1e')) {
    const [commit, text] = chunk.trim().split('\x1f');
    if (!commit || !text) continue;
    const t = parseTrailers(text);
    const key = t['Reprise-Key'];
    if (key && t['Reprise-State'] === 'succeeded' && t['Reprise-Run'] && !runs.has(key)) runs.set(key, { key, runId: t['Reprise-Run'], commit, exitCode: Number(t['Reprise-Exit-Code'] ?? 0) });
  }
  return runs;
}
