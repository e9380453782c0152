import type { RunClient } from '../client/runs.js';
import { notFound } from '../errors.js';
import { readFeed } from '../project/history.js';
import type { Project } from '../project/layout.js';

/** A run id or unique prefix, among this project's live runs (Temporal) and recorded runs (git). */
export async function resolveRunId(project: Project, idOrPrefix: string, client?: RunClient): Promise<string> {
  const wanted = idOrPrefix.startsWith('run-') ? idOrPrefix : `run-${idOrPrefix}`;
  const ids = new Set<string>();
  for (const e of await readFeed(project.root)) ids.add(e.runId);
  if (client) for (const r of await client.list(project.spec.id, 500)) ids.add(r.runId);
  if (ids.has(idOrPrefix)) return idOrPrefix;
  const hits = [...ids].filter((id) => id.startsWith(wanted));
  if (hits.length === 1) return hits[0]!;
  if (hits.length > 1) throw notFound(`run id "${idOrPrefix}" is ambiguous (${hits.length} runs match); give more characters`);
  throw notFound(`no run "${idOrPrefix}" in this project; list runs with: reprise runs (live) or reprise log (recorded)`);
}
