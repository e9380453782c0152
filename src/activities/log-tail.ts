import { Transform } from 'node:stream';
import type { LogWindow } from './types.js';

/** How much of a job's latest output each heartbeat carries (base64 makes it a third larger). */
export const LOG_WINDOW_BYTES = 32 * 1024;

/**
 * The last bytes of a job's output and how many came in all, fed by tapping the log stream.
 * Memory stays bounded however long the job talks; a client that falls more than a window
 * behind is told how much it missed (the whole log is in the record afterwards).
 */
export class LogTail {
  private chunks: Buffer[] = [];
  private held = 0;
  private total = 0;

  constructor(private readonly window = LOG_WINDOW_BYTES) {}

  push(chunk: Buffer): void {
    this.total += chunk.length;
    this.chunks.push(chunk);
    this.held += chunk.length;
    while (this.held - this.chunks[0]!.length >= this.window) this.held -= this.chunks.shift()!.length;
  }

  /** How many bytes came in all. */
  get received(): number {
    return this.total;
  }

  details(): LogWindow {
    const bytes = Buffer.concat(this.chunks);
    const tail = bytes.subarray(Math.max(0, bytes.length - this.window));
    return { end: this.total, tail: tail.toString('base64') };
  }

  /** A pass-through stream that feeds this tail. */
  tap(): Transform {
    return new Transform({
      transform: (chunk: Buffer, _enc, done) => {
        this.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
        done(null, chunk);
      },
    });
  }
}
