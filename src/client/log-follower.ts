import type { LogWindow } from '../activities/types.js';

/**
 * The client's side of the worker's LogTail (activities/log-tail.ts): given successive windows,
 * the bytes not yet printed. A window from a retried await (another worker re-reading the log
 * from its start) repeats what was printed and yields nothing until it passes the printed offset.
 */
export class LogFollower {
  printed = 0;

  next(window: LogWindow | undefined): { text: Buffer; skipped: number } {
    if (!window || window.end <= this.printed) return { text: Buffer.alloc(0), skipped: 0 };
    const tail = Buffer.from(window.tail, 'base64');
    const start = window.end - tail.length;
    const skipped = Math.max(0, start - this.printed);
    const text = tail.subarray(Math.max(0, this.printed - start));
    this.printed = window.end;
    return { text, skipped };
  }

  /** The rest of the complete log (from the record), past what was printed. */
  rest(log: Buffer): Buffer {
    const text = log.subarray(Math.min(this.printed, log.length));
    this.printed = Math.max(this.printed, log.length);
    return text;
  }
}
