import type { FileDigest, FinalState } from './run-record.js';

/**
 * A sweep's summary record (`.reprise/activity/<sweep>.json`), committed once every point has
 * ended: each point with its parameters, run, state, exit code and output digests. Each point
 * is also a run with its own commit (trailer `Reprise-Sweep`), so `reprise log` shows them
 * grouped under the summary.
 */
export interface SweepRecord {
  version: 1;
  kind: 'sweep';
  sweepId: string;
  project: { name: string; id: string };
  /** The command with its {placeholders}. */
  template: string[];
  params: Record<string, string[]>;
  workdir?: string;
  resources: { cpus?: number; memoryBytes?: number; gpus?: number; gpuType?: string; timeSeconds?: number };
  backend: string;
  state: FinalState;
  sourceCommit: string;
  image: { digest: string; reference?: string };
  environment: string;
  /** The sweep this one retried: its succeeded points are carried over, the rest ran again. */
  retryOf?: string;
  startedAt: string;
  finishedAt: string;
  points: SweepRecordPoint[];
}

/** A sweep's point as its workflow ends it. */
export interface SweepPointResult {
  index: number;
  params: Record<string, string>;
  runId: string;
  /** not-started: the sweep was cancelled (or failed) before this point ran. */
  state: FinalState | 'not-started';
  exitCode?: number;
  backend?: string;
  commit?: string;
  reason?: string;
}

/** A point as the sweep's record keeps it. */
export interface SweepRecordPoint extends SweepPointResult {
  /** From an earlier sweep (a retry keeps what succeeded there). */
  carried?: boolean;
  outputs?: FileDigest[];
}

/** Sweep ids: "sweep-" + 12 base32 characters. */
export const SWEEP_ID = /^sweep-[a-z2-7]{12}$/;
export const isSweepId = (id: string) => id.startsWith('sweep-');

export function sweepCommitMessage(r: SweepRecord): string {
  const count = (s: string) => r.points.filter((p) => p.state === s).length;
  const tally = ['succeeded', 'reused', 'failed', 'cancelled', 'not-started'].map((s) => [s, count(s)] as const).filter(([, n]) => n > 0);
  let cmd = r.template.join(' ').replace(/\s+/g, ' ');
  if (cmd.length > 50) cmd = `${cmd.slice(0, 47)}...`;
  const trailers: [string, string | undefined][] = [
    ['Reprise-Kind', 'sweep'],
    ['Reprise-Sweep', r.sweepId],
    ['Reprise-State', r.state],
    ['Reprise-Backend', r.backend],
    ['Reprise-Command', JSON.stringify(r.template)],
    ['Reprise-Params', JSON.stringify(r.params)],
    ['Reprise-Points', `${r.points.length} (${tally.map(([s, n]) => `${n} ${s}`).join(', ')})`],
    ['Reprise-Source-Commit', r.sourceCommit],
    ['Reprise-Image', r.image.digest],
    ['Reprise-Retry-Of', r.retryOf],
  ];
  const body = trailers.filter(([, v]) => v !== undefined).map(([k, v]) => `${k}: ${v}`);
  return `sweep ${r.sweepId.slice(6, 14)}: ${cmd} × ${r.points.length} [${r.state}]\n\n${body.join('\n')}\n`;
}
