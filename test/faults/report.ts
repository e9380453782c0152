// Where the faults suite keeps its rows and report, and the table (no vitest imports: the global
// setup reads this in vitest's main process).
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type BackendKind = 'docker' | 'slurm' | 'kubernetes';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
export const TRIALS = Math.max(1, Number(process.env.REPRISE_FAULT_TRIALS || 1));
export const outputDir = join(repoRoot, 'test/faults/output');
/** Rows of this invocation only: the global setup names a fresh file and the test forks inherit it. */
export const rowsFile = () => process.env.REPRISE_FAULT_ROWS || join(outputDir, 'rows.jsonl');
export const reportFile = process.env.REPRISE_FAULT_REPORT || join(outputDir, 'report.md');
export interface TrialRow {
  fault: string;
  backend: BackendKind;
  trial: number;
  runId?: string;
  skipped?: string;
  completed: boolean;
  recordedOnce: boolean;
  failedWithReason: boolean;
  lost: boolean;
  jobs: number;
  duplicateJobs: number;
  state?: string;
  reason?: string;
  /** What the fault's own checks found wrong (a user's commit lost, …); the goal wants none. */
  problems?: string[];
  /** What the fault counted (a user's commits, their retries, …), shown as ranges in the table. */
  figures?: Record<string, number>;
  seconds: number;
}

export function saveRow(row: TrialRow): void {
  mkdirSync(outputDir, { recursive: true });
  appendFileSync(rowsFile(), `${JSON.stringify(row)}\n`);
}

export function faultTable(rows: TrialRow[]): string {
  const groups = new Map<string, TrialRow[]>();
  for (const r of rows) {
    const key = `${r.fault}\t${r.backend}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const lines = [
    '| fault | backend | trials | completed | recorded once | failed with reason | lost | duplicate jobs | notes |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const [key, rs] of groups) {
    const [fault, backend] = key.split('\t');
    const run = rs.filter((r) => !r.skipped);
    if (run.length === 0) {
      lines.push(`| ${fault} | ${backend} | 0 | – | – | – | – | – | skipped: ${rs[0]!.skipped} |`);
      continue;
    }
    const n = (p: (r: TrialRow) => boolean) => run.filter(p).length;
    const reasons = [...new Set(run.filter((r) => !r.completed).map((r) => `${r.state}${r.reason ? `: ${r.reason.slice(0, 120)}` : ''}`))];
    const secs = run.map((r) => r.seconds).sort((a, b) => a - b);
    const withProblems = run.filter((r) => r.problems?.length);
    if (withProblems.length) reasons.push(`problems in ${withProblems.length} trial(s): ${[...new Set(withProblems.flatMap((r) => r.problems!))].join('; ').slice(0, 400)}`);
    const figures = [...new Set(run.flatMap((r) => Object.keys(r.figures ?? {})))].map((k) => {
      const v = run.map((r) => r.figures?.[k]).filter((x): x is number => x !== undefined);
      const [lo, hi] = [Math.min(...v), Math.max(...v)];
      return `${k} ${lo === hi ? lo : `${lo}–${hi}`}`;
    });
    if (figures.length) reasons.push(figures.join(', '));
    lines.push(
      `| ${fault} | ${backend} | ${run.length} | ${n((r) => r.completed)} | ${n((r) => r.recordedOnce)} | ${n((r) => r.failedWithReason)} | ${n((r) => r.lost)} | ${run.reduce((s, r) => s + r.duplicateJobs, 0)} | median ${secs[Math.floor(secs.length / 2)]} s${reasons.length ? `; ${reasons.join('; ').replace(/\|/g, '/')}` : ''} |`,
    );
  }
  return lines.join('\n');
}

