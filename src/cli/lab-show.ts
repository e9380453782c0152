import { findLab, readLabSession, type LabSummary } from '../project/lab-history.js';
import type { LabExecution, LabFileChange, LabRecord } from '../project/lab-record.js';

export interface LabView {
  kind: 'lab';
  labId: string;
  state: string;
  reason?: string;
  backend: LabRecord['backend'];
  sourceCommit: string;
  image: LabRecord['image'];
  labImage: LabRecord['labImage'];
  startedAt: string;
  lastAt: string;
  commits: string[];
  files: LabFileChange[];
  executions: LabExecution[];
  /** What the session's checkpoints refused to bring back (links, special files, limits), each path once. */
  skippedOutputs: { path: string; why: string }[];
}

/** A recorded lab session, all its checkpoints together: every file change and executed cell, oldest first. */
export async function labView(root: string, idOrPrefix: string): Promise<LabView> {
  const summary: LabSummary = await findLab(root, idOrPrefix);
  const records = await readLabSession(root, summary);
  const last = records.at(-1)!;
  return {
    kind: 'lab',
    labId: summary.labId,
    state: last.state,
    ...(last.reason ? { reason: last.reason } : {}),
    backend: last.backend,
    sourceCommit: last.sourceCommit,
    image: last.image,
    labImage: last.labImage,
    startedAt: last.startedAt,
    lastAt: last.at,
    commits: [...summary.commits].reverse(),
    files: records.flatMap((r) => r.files),
    executions: records.flatMap((r) => r.executions),
    skippedOutputs: [...new Map(records.flatMap((r) => r.skippedOutputs ?? []).map((o) => [o.path, o])).values()],
  };
}

const firstLines = (text: string, n: number) => {
  const lines = text.trimEnd().split('\n');
  return lines.length > n ? [...lines.slice(0, n), `… (${lines.length - n} more lines)`] : lines;
};

export function labText(v: LabView): string {
  const out = [
    `lab        ${v.labId}`,
    `state      ${v.state}${v.reason ? `: ${v.reason}` : ''}`,
    `backend    ${v.backend.name} (${v.backend.kind})${v.backend.jobId ? ` job ${v.backend.jobId.slice(0, 12)}` : ''}`,
    `source     ${v.sourceCommit}`,
    `image      ${v.image.digest}${v.image.tag ? ` (${v.image.tag})` : ''}`,
    `lab image  ${v.labImage.digest}${v.labImage.tag ? ` (${v.labImage.tag})` : ''}`,
    `started    ${v.startedAt}`,
    `last       ${v.lastAt}`,
    `recorded   ${v.commits.length} checkpoint${v.commits.length === 1 ? '' : 's'}: ${v.commits.map((c) => c.slice(0, 10)).join(' ')}`,
    `files      ${v.files.length === 0 ? 'none changed' : v.files.length}`,
    ...v.files.map((f) => `  ${f.change.padEnd(8)} ${f.path}${f.keptAs && f.keptAs !== f.path ? ` (kept as ${f.keptAs}: the branch changed it too)` : ''}`),
    ...(v.skippedOutputs.length ? [`refused    ${v.skippedOutputs.length} (not brought back)`, ...v.skippedOutputs.map((o) => `  ${JSON.stringify(o.path)}  ${o.why}`)] : []),
    `cells      ${v.executions.length}`,
  ];
  for (const e of v.executions) {
    out.push(`--- [${e.n}] ${e.status}${e.error ? ` ${e.error}` : ''}, ${e.duration.toFixed(2)} s, ${e.started}`);
    out.push(...firstLines(e.code, 10).map((l) => `  ${l}`));
    if (e.stdout) out.push(...firstLines(e.stdout, 5).map((l) => `  > ${l}`));
    if (e.stderr) out.push(...firstLines(e.stderr, 5).map((l) => `  ! ${l}`));
    if (e.result) out.push(...firstLines(e.result, 3).map((l) => `  = ${l}`));
    for (const img of e.images) out.push(`  image ${img}`);
  }
  return out.join('\n');
}
