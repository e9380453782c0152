import { diffLocks, type LockDiff } from '../images/lock.js';
import { recordedLock } from '../images/locked-build.js';
import { notFound } from '../errors.js';
import { Git } from '../project/git.js';
import { readFeed } from '../project/history.js';
import type { RunRecord, TimelineEntry } from '../project/run-record.js';

/** A source diff longer than this is cut (the page says so): a diff is for reading. */
export const MAX_DIFF = 512 * 1024;

export interface RunUsage {
  wallSeconds: number;
  /** Asked cpus × wall time; absent when no cpus were asked (the backend's default is not known). */
  coreHours?: number;
  gpuHours?: number;
}

/** Wall time, and the core-hours and GPU-hours asked for it, from a recorded run's record (what the backend measured is the record's `used`). */
export function runUsage(record: RunRecord): RunUsage {
  const wallSeconds = Math.max(0, (Date.parse(record.finishedAt) - Date.parse(record.startedAt)) / 1000);
  const hours = wallSeconds / 3600;
  const { cpus, gpus } = record.resources;
  return {
    wallSeconds,
    ...(cpus ? { coreHours: cpus * hours } : {}),
    ...(gpus ? { gpuHours: gpus * hours } : {}),
  };
}

/** The record's timeline, or for a run recorded before timelines what its start and finish say. */
export function timelineOf(record: RunRecord): { entries: TimelineEntry[]; complete: boolean } {
  if (record.timeline) return { entries: record.timeline, complete: true };
  return { entries: [{ state: 'running', at: record.startedAt }, { state: 'exited', at: record.finishedAt }], complete: false };
}

/** The run recorded just before `runId` on the current branch (its parent in the feed), if any. */
export async function parentRun(root: string, runId: string): Promise<string | undefined> {
  const feed = await readFeed(root);
  const at = feed.findIndex((e) => e.runId === runId);
  return at >= 0 ? feed[at + 1]?.runId : undefined;
}

/** What changed in the project's sources from one recorded run's source commit to another's (the records themselves left out). */
export async function sourceDiff(root: string, from: RunRecord, to: RunRecord): Promise<{ diff: string; truncated: boolean }> {
  const git = new Git(root);
  const text = await git.run(['diff', '--no-color', '--no-ext-diff', from.sourceCommit, to.sourceCommit, '--', '.', ':(exclude).reprise/activity']);
  return text.length > MAX_DIFF ? { diff: text.slice(0, MAX_DIFF), truncated: true } : { diff: text, truncated: false };
}

/** `reprise env diff A B`: the packages that differ between two recorded runs' environment locks. */
export async function envDiff(root: string, a: string, b: string): Promise<{ a: string; b: string } & LockDiff> {
  const [first, second] = await Promise.all([recordedLock(root, a), recordedLock(root, b)]);
  return { a: first.runId, b: second.runId, ...diffLocks(first.lock, second.lock) };
}

export const noParent = (runId: string) => notFound(`run ${runId} has no earlier run on this branch to compare with; choose one with ?against=RUN`);

type Metric = number | string | boolean | null;

/**
 * Each recorded point with `metric`: the value at `key` (dot-separated; empty: the whole value)
 * in its JSON output `file`, read from the point's record commit; null when it has none.
 */
export async function withMetric<P extends { commit?: string }>(root: string, points: P[], file: string, key: string): Promise<(P & { metric?: Metric })[]> {
  const git = new Git(root);
  return Promise.all(
    points.map(async (p) => {
      if (!p.commit) return p;
      const text = await git.tryRun(['show', `${p.commit}:${file}`]);
      let value: unknown;
      try {
        value = text === undefined ? undefined : JSON.parse(text);
      } catch {
        value = undefined;
      }
      for (const k of key ? key.split('.') : []) value = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[k] : undefined;
      const metric: Metric = typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean' ? value : null;
      return { ...p, metric };
    }),
  );
}
