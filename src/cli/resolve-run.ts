import type { RunClient } from '../client/runs.js';
import { notFound } from '../errors.js';
import { readFeed } from '../project/history.js';
import { matchRunId } from '../project/run-record.js';
import type { Project } from '../project/layout.js';

/** A run id or unique prefix, among this project's live runs (Temporal) and recorded runs (git). */
export async function resolveRunId(project: Project, idOrPrefix: string, client: RunClient): Promise<string> {
  const ids = [...(await readFeed(project.root)).map((e) => e.runId), ...(await client.list(project.spec.id, 500)).map((r) => r.runId)];
  const runId = matchRunId(ids, idOrPrefix);
  if (runId) return runId;
  throw notFound(`no run "${idOrPrefix}" in this project; list runs with: reprise runs (live) or reprise log (recorded)`);
}
