import { readFeed, readRecord } from '../project/history.js';
import type { FeedEntry } from '../project/run-record.js';

export interface DataLogEntry {
  runId: string;
  commit: string;
  state: string;
  finishedAt: string;
  /** read: an input of the run; wrote: one of its large outputs. */
  role: 'read' | 'wrote';
  path: string;
  md5: string;
  size: number;
}

/** Whether the record's `path` is the asked path, inside it (a folder asked) or holds it (a file of a tracked folder asked). */
const concerns = (recorded: string, asked: string) => recorded === asked || recorded.startsWith(`${asked}/`) || asked.startsWith(`${recorded}/`);

/** The runs on the current branch that read or wrote `path` (project-relative), newest first, from their records. */
export async function dataLog(root: string, path: string): Promise<DataLogEntry[]> {
  const asked = path.replace(/\/+$/, '');
  const out: DataLogEntry[] = [];
  for (const entry of await readFeed(root)) {
    const { record } = await readRecord(root, entry);
    if (!record.data) continue;
    const row = (e: FeedEntry, role: DataLogEntry['role']) => (d: { path: string; md5: string; size: number }) =>
      out.push({ runId: e.runId, commit: e.commit, state: e.state, finishedAt: e.finishedAt, role, path: d.path, md5: d.md5, size: d.size });
    record.data.inputs.filter((d) => concerns(d.path, asked)).forEach(row(entry, 'read'));
    record.data.outputs.filter((d) => concerns(d.path, asked)).forEach(row(entry, 'wrote'));
  }
  return out;
}
