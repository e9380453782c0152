import type { LabView } from '../project/lab-history.js';

const firstLines = (text: string, n: number) => {
  const lines = text.trimEnd().split('\n');
  return lines.length > n ? [...lines.slice(0, n), `… (${lines.length - n} more lines)`] : lines;
};

export function labText(v: LabView): string {
  const out = [
    `lab        ${v.labId}`,
    `state      ${v.state}${v.reason ? `: ${v.reason}` : ''}`,
    `app        ${v.app}`,
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
