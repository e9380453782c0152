import { logFeed, readFeed, readSweeps } from '../project/history.js';
import { Git } from '../project/git.js';
import { readLabs } from '../project/lab-history.js';
import type { FeedEntry } from '../project/run-record.js';
import { notFound } from '../errors.js';
import type { ActivityItem, ActivityPage, ActivityQuery } from './schemas.js';

const runItem = (e: FeedEntry): ActivityItem => ({
  kind: 'run',
  id: e.runId,
  commit: e.commit,
  state: e.state,
  backend: e.backend,
  at: e.finishedAt,
  command: e.command,
  exitCode: e.exitCode,
  ...(e.sweep ? { sweep: e.sweep } : {}),
});

/**
 * The feed's runs of a branch: the current one from `reprise log`'s per-head cache (one file
 * read on a 10,000-run project), another by its own `git log`.
 */
async function runsOf(root: string, branch: string | undefined): Promise<{ branch: string; entries: FeedEntry[]; current: boolean }> {
  const git = new Git(root);
  const head = (await git.headRef()).replace(/^refs\/heads\//, '');
  if (!branch || branch === head) return { branch: head, entries: await readFeed(root), current: true };
  if ((await git.tryRun(['rev-parse', '--verify', '--quiet', `refs/heads/${branch}^{commit}`])) === undefined) throw notFound(`no branch "${branch}" in this project`);
  return { branch, entries: await logFeed(git, [`refs/heads/${branch}`]), current: false };
}

/**
 * One page of the activity view, newest first: runs, each sweep once (where its newest point
 * is, its points folded in) and lab sessions, filtered by backend, state and text. Sweep
 * summaries and labs are read for the checked-out branch only (their caches are per head).
 */
export async function activityPage(root: string, query: ActivityQuery): Promise<ActivityPage> {
  const { branch, entries, current } = await runsOf(root, query.branch);
  const sweeps = current && entries.some((e) => e.sweep) ? new Map((await readSweeps(root)).map((s) => [s.sweepId, s])) : new Map<string, never>();
  const items: ActivityItem[] = [];
  const pointsOf = new Map<string, FeedEntry[]>();
  for (const e of entries) {
    if (!e.sweep) {
      items.push(runItem(e));
      continue;
    }
    const points = pointsOf.get(e.sweep);
    if (points) {
      points.push(e);
      continue;
    }
    pointsOf.set(e.sweep, [e]);
    const summary = sweeps.get(e.sweep);
    items.push({
      kind: 'sweep',
      id: e.sweep,
      commit: summary?.commit ?? e.commit,
      state: summary?.trailers['Reprise-State'] ?? 'running',
      backend: summary?.trailers['Reprise-Backend'] ?? e.backend,
      at: e.finishedAt,
      command: JSON.parse(summary?.trailers['Reprise-Command'] ?? '[]') as string[],
    });
  }
  for (const item of items) if (item.kind === 'sweep') item.summary = `${pointsOf.get(item.id)!.length} points recorded`;
  if (current) {
    for (const l of await readLabs(root)) {
      items.push({ kind: 'lab', id: l.labId, commit: l.commits[0]!, state: l.state, backend: l.backend, at: l.lastAt, command: [], summary: `${l.app}: ${l.checkpoints} checkpoints, ${l.executions} cells` });
    }
  }
  const text = query.q?.toLowerCase();
  const matches = (i: ActivityItem) =>
    (!query.backend || i.backend === query.backend || i.backend.startsWith(`${query.backend} (`)) &&
    (!query.state || i.state === query.state) &&
    (!text || [i.id, i.commit, i.command.join(' '), i.summary ?? ''].some((s) => s.toLowerCase().includes(text)));
  const hits = items.filter(matches).sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0));
  return { items: hits.slice(query.offset, query.offset + query.limit), total: hits.length, offset: query.offset, limit: query.limit, branch };
}
