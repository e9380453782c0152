import { describe, expect, it } from 'vitest';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { LOG_WINDOW_BYTES, LogTail } from '../../../src/activities/log-tail.js';
import { LogFollower } from '../../../src/client/log-follower.js';
import type { LogWindow } from '../../../src/activities/types.js';

const bytesOf = (w: LogWindow) => Buffer.from(w.tail, 'base64');

/** A log of `n` bytes whose every byte says where it is (0..250, repeating), so misplaced bytes show. */
const logOf = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => i % 251));

/** Split a buffer into chunks of the given sizes, repeated until it is used up (empty chunks included). */
function chunks(buf: Buffer, sizes: number[]): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0, i = 0; at < buf.length; i++) {
    const size = sizes[i % sizes.length]!;
    out.push(buf.subarray(at, at + size));
    at += size;
  }
  return out;
}

/** How many bytes the tail holds in memory (private; read to check memory stays bounded). */
const held = (tail: LogTail) => (tail as unknown as { chunks: Buffer[] }).chunks.reduce((n, c) => n + c.length, 0);

describe('LogTail', () => {
  it('carries a 32 KiB window by default', () => {
    const tail = new LogTail();
    const log = logOf(3 * LOG_WINDOW_BYTES + 17);
    for (const c of chunks(log, [500])) tail.push(c);
    const w = tail.details();
    expect(LOG_WINDOW_BYTES).toBe(32 * 1024);
    expect(w.end).toBe(log.length);
    expect(bytesOf(w)).toEqual(log.subarray(log.length - LOG_WINDOW_BYTES));
  });

  it('holds all bytes while fewer than a window came; end counts them', () => {
    const tail = new LogTail(16);
    expect(tail.details()).toEqual({ end: 0, tail: '' });
    tail.push(Buffer.from('abc'));
    tail.push(Buffer.from('defg'));
    expect(tail.details().end).toBe(7);
    expect(bytesOf(tail.details()).toString()).toBe('abcdefg');
  });

  it('keeps the last window of bytes, bounded in memory, however much output came; end counts every byte', () => {
    const window = 64;
    const tail = new LogTail(window);
    const log = logOf(20_000);
    const sizes = Array.from({ length: 50 }, (_, i) => 1 + ((i * 7) % 50));
    let pushed = 0;
    for (const c of chunks(log, sizes)) {
      tail.push(c);
      pushed += c.length;
      const w = tail.details();
      expect(w.end).toBe(pushed);
      expect(bytesOf(w)).toEqual(log.subarray(Math.max(0, pushed - window), pushed));
      // A window plus at most the chunk that straddles its start.
      expect(held(tail)).toBeLessThan(window + 50);
    }
    expect(pushed).toBe(log.length);
  });

  it('a chunk larger than the window leaves its last window bytes', () => {
    const tail = new LogTail(10);
    tail.push(Buffer.from('0123'));
    tail.push(Buffer.from('abcdefghijklmnopqrstuvwxyz'));
    expect(tail.details().end).toBe(30);
    expect(bytesOf(tail.details()).toString()).toBe('qrstuvwxyz');
    expect(held(tail)).toBe(26);
  });

  it('tap passes the stream through unchanged and feeds the window', async () => {
    const tail = new LogTail(8);
    const log = Buffer.concat([Buffer.from('line 1\nline 2\n'), Buffer.from([0xff, 0xfe, 0x00, 0x80]), Buffer.from('é end\n')]);
    const out: Buffer[] = [];
    await pipeline(
      Readable.from(chunks(log, [3, 5, 1, 6, 2])),
      tail.tap(),
      new Writable({
        write(chunk: Buffer, _enc, done) {
          out.push(chunk);
          done();
        },
      }),
    );
    expect(Buffer.concat(out)).toEqual(log);
    expect(tail.details().end).toBe(log.length);
    expect(bytesOf(tail.details())).toEqual(log.subarray(log.length - 8));
  });

  it('tap takes string chunks too (counted as their UTF-8 bytes)', async () => {
    const tail = new LogTail();
    const out: string[] = [];
    await pipeline(
      Readable.from(['héllo ', 'wörld\n']),
      tail.tap(),
      new Writable({
        write(chunk: Buffer, _enc, done) {
          out.push(chunk.toString());
          done();
        },
      }),
    );
    expect(out.join('')).toBe('héllo wörld\n');
    expect(tail.details().end).toBe(Buffer.byteLength('héllo wörld\n'));
    expect(bytesOf(tail.details()).toString()).toBe('héllo wörld\n');
  });
});

describe('LogFollower', () => {
  it('prints nothing without a window or when nothing came', () => {
    const f = new LogFollower();
    expect(f.next(undefined)).toEqual({ text: Buffer.alloc(0), skipped: 0 });
    expect(f.next({ end: 0, tail: '' })).toEqual({ text: Buffer.alloc(0), skipped: 0 });
    expect(f.printed).toBe(0);
  });

  it('prints every byte exactly once across successive, overlapping windows', () => {
    const tail = new LogTail(40);
    const f = new LogFollower();
    const log = logOf(5000);
    const printed: Buffer[] = [];
    // Windows read after each chunk (never more than a window behind), sometimes twice in a row.
    chunks(log, Array.from({ length: 37 }, (_, i) => (i * 13) % 37)).forEach((c, i) => {
      tail.push(c);
      for (let k = 0; k < (i % 3 === 0 ? 2 : 1); k++) {
        const { text, skipped } = f.next(tail.details());
        expect(skipped).toBe(0);
        printed.push(text);
      }
    });
    expect(Buffer.concat(printed)).toEqual(log);
    expect(f.printed).toBe(log.length);
  });

  it('says how many bytes it skipped when it fell more than a window behind, then goes on', () => {
    const tail = new LogTail(10);
    const f = new LogFollower();
    const log = logOf(100);
    tail.push(log.subarray(0, 5));
    expect(f.next(tail.details())).toEqual({ text: log.subarray(0, 5), skipped: 0 });
    tail.push(log.subarray(5, 60)); // 55 new bytes, only the last 10 in the window
    expect(f.next(tail.details())).toEqual({ text: log.subarray(50, 60), skipped: 45 });
    tail.push(log.subarray(60, 64));
    expect(f.next(tail.details())).toEqual({ text: log.subarray(60, 64), skipped: 0 });
    expect(f.printed).toBe(64);
  });

  it('a window that repeats the log from offset 0 (a retried await) prints nothing until it passes the printed offset', () => {
    const log = logOf(300);
    const f = new LogFollower();
    const first = new LogTail(32);
    first.push(log.subarray(0, 120));
    expect(f.next(first.details()).text).toEqual(log.subarray(120 - 32, 120));
    f.printed = 120; // as if it had followed from the start
    // The activity is retried (on another worker): its tail starts again at 0 and re-reads the log.
    const retry = new LogTail(32);
    for (const end of [10, 60, 119, 120]) {
      retry.push(log.subarray(retry.details().end, end));
      expect(f.next(retry.details())).toEqual({ text: Buffer.alloc(0), skipped: 0 });
      expect(f.printed).toBe(120);
    }
    retry.push(log.subarray(120, 131));
    expect(f.next(retry.details())).toEqual({ text: log.subarray(120, 131), skipped: 0 });
    retry.push(log.subarray(131, 140));
    expect(f.next(retry.details())).toEqual({ text: log.subarray(131, 140), skipped: 0 });
  });

  it('rest() prints only what follows the printed offset of the complete log, once', () => {
    const log = Buffer.from('one\ntwo\nthree\nfour\n');
    const tail = new LogTail(6);
    const f = new LogFollower();
    tail.push(log.subarray(0, 8));
    const seen = f.next(tail.details());
    expect(seen).toEqual({ text: log.subarray(2, 8), skipped: 2 });
    expect(f.rest(log).toString()).toBe('three\nfour\n');
    expect(f.rest(log)).toEqual(Buffer.alloc(0));
    expect(f.next(tail.details()).text).toEqual(Buffer.alloc(0));
  });

  it('rest() of a follower that printed nothing is the whole log; of a shorter log, nothing', () => {
    const log = Buffer.from('all of it\n');
    expect(new LogFollower().rest(log)).toEqual(log);
    const f = new LogFollower();
    f.printed = 50;
    expect(f.rest(log)).toEqual(Buffer.alloc(0));
    expect(f.printed).toBe(50);
  });

  it('non-UTF-8 bytes and UTF-8 characters split across windows survive byte for byte', () => {
    const log = Buffer.concat([
      Buffer.from('α→β '),
      Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0x80, 0x00, 0xf0, 0x9f]), // invalid UTF-8, a NUL, a cut-off 4-byte char
      Buffer.from('🎲 done\n'),
      Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
    ]);
    const tail = new LogTail(7);
    const f = new LogFollower();
    const printed: Buffer[] = [];
    for (const c of chunks(log, [3])) {
      tail.push(c);
      printed.push(f.next(tail.details()).text);
    }
    printed.push(f.rest(log));
    expect(Buffer.concat(printed)).toEqual(log);
  });
});
