import { createHash } from 'node:crypto';
import type { Resources } from '../config/resources.js';
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
  /** The resources the project lists in `reuse.resources` (none by default), null when unset. */
  resources: Record<string, number | null>;
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

/** The key's parts from plain values; `settings` is the project's `reuse` at the source commit. */
export function keyPartsOf(subject: Omit<KeySubject, 'sourceCommit'> & { source: string }, settings: ReuseSettings | undefined): KeyParts {
  const resources = Object.fromEntries((settings?.resources ?? []).map((name) => [name, subject.resources[RESOURCE_FIELDS[name]!] ?? null]));
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
export async function sourceDigest(git: Git, commit: string): Promise<string> {
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
  runId: string;
  commit: string;
  exitCode: number;
}

/**
 * The newest succeeded run with `key` on any branch. One `git log` over every branch, with git
 * matching the trailer itself (no process per commit); reused runs are skipped, so the run found
 * is always one that executed.
 */
export async function findKeyedRun(root: string, key: string): Promise<KeyedRun | undefined> {
  const out = await new Git(root).run(['log', '--branches', '-F', `--grep=Reprise-Key: ${key}`, '--format=%H%x1f%(trailers:only,unfold)%x1e']);
  for (const chunk of out.split('\x1e')) {
    const [commit, text] = chunk.trim().split('\x1f');
    if (!commit || !text) continue;
    const t = parseTrailers(text);
    if (t['Reprise-Key'] === key && t['Reprise-State'] === 'succeeded' && t['Reprise-Run']) return { runId: t['Reprise-Run'], commit, exitCode: Number(t['Reprise-Exit-Code'] ?? 0) };
  }
  return undefined;
}
