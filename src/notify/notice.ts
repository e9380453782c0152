import type { EndState } from '../config/notifiers.js';
import { stripTerminalControls } from '../terminal-text.js';

/** What ended, as a message says it: built from the committed record, never from workflow input. */
export interface Notice {
  kind: 'run' | 'sweep' | 'lab';
  id: string;
  project: string;
  /** The record's own word (a lab's "stopped" or "timed out"). */
  state: string;
  /** What `--on` filters match: a lab stopped is succeeded, timed out or failed is failed. */
  endState: EndState;
  exitCode?: number;
  reason?: string;
  /** Where it ran; `pool` when it was placed through one (filters match either). */
  backend: string;
  pool?: string;
  command: string[];
  startedAt: string;
  finishedAt: string;
  durationSeconds: number;
  /** The record commit. */
  commit: string;
  /** The last lines of the log (a sweep: its points), terminal escapes stripped. */
  logTail: string;
  /** A sweep's points by state. */
  points?: { total: number; succeeded: number; failed: number; cancelled: number; notStarted: number };
  /** The run's page on the dashboard, when the user set `dashboard.url`. */
  url?: string;
}

export const LOG_TAIL_LINES = 20;
export const LOG_TAIL_CHARS = 2000;

/** The last lines of a log, bounded in lines and characters, as plain text (no escapes, no control characters). */
export function logTail(log: string, lines = LOG_TAIL_LINES, chars = LOG_TAIL_CHARS): string {
  const clean = stripTerminalControls(log.replace(/\r\n/g, '\n')).replace(/\r/g, '\n').replace(/\n+$/, '');
  const tail = clean.split('\n').slice(-lines).join('\n');
  return tail.length > chars ? '…' + tail.slice(tail.length - chars + 1) : tail;
}

/** "1h 2m 3s", "4m 5s", "6s". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const parts = [[Math.floor(s / 3600), 'h'], [Math.floor((s % 3600) / 60), 'm'], [s % 60, 's']] as const;
  const shown = parts.filter(([n], i) => n > 0 || i === 2);
  return shown.map(([n, u]) => `${n}${u}`).join(' ');
}

export const durationBetween = (startedAt: string, finishedAt: string) => Math.max(0, Math.round((Date.parse(finishedAt) - Date.parse(startedAt)) / 1000));

/** The dashboard page of what ended (the SPA's hash routes: #/runs/ID, #/sweeps/ID, #/labs/ID). */
export function dashboardLink(base: string | undefined, kind: Notice['kind'], id: string): string | undefined {
  if (!base) return undefined;
  const url = new URL(base);
  url.hash = `#/${kind}s/${encodeURIComponent(id)}`;
  return url.toString();
}

/** A sample notice for `reprise notify test`. */
export function sampleNotice(now: Date, url?: string): Notice {
  const finishedAt = now.toISOString();
  const startedAt = new Date(now.getTime() - 83_000).toISOString();
  return {
    kind: 'run',
    id: 'run-testmessage00',
    project: 'example',
    state: 'succeeded',
    endState: 'succeeded',
    exitCode: 0,
    backend: 'local',
    command: ['python', 'code/fit.py', '--seed', '1'],
    startedAt,
    finishedAt,
    durationSeconds: 83,
    commit: '0'.repeat(40),
    logTail: 'epoch 10: loss 0.041\nsaved output/model.pkl',
    ...(url ? { url } : {}),
  };
}
