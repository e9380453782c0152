import { describe, expect, it } from 'vitest';
import { keepTail } from '../../../src/dashboard/web/log-tail.js';

describe('keepTail (what the dashboard keeps of a live log)', () => {
  it('keeps the last lines whole and counts the ones let go', () => {
    expect(keepTail('a\nb\nc\n', 2)).toEqual({ kept: 'b\nc\n', droppedLines: 1 });
    expect(keepTail('a\nb\nc', 2)).toEqual({ kept: 'b\nc', droppedLines: 1 });
    expect(keepTail('a\nb\nc\n', 3)).toEqual({ kept: 'a\nb\nc\n', droppedLines: 0 });
    expect(keepTail('', 2)).toEqual({ kept: '', droppedLines: 0 });
  });

  it('fed chunk by chunk, ends with the same tail and count as the whole text at once', () => {
    const all = Array.from({ length: 10_000 }, (_, i) => `line ${i + 1}\n`).join('');
    let tail = { kept: '', droppedLines: 0 };
    for (let i = 0; i < all.length; i += 997) {
      const next = keepTail(tail.kept + all.slice(i, i + 997), 100);
      tail = { kept: next.kept, droppedLines: tail.droppedLines + next.droppedLines };
    }
    expect(tail).toEqual({ kept: all.split('\n').slice(9_900).join('\n'), droppedLines: 9_900 });
  });

  it('bounds very long lines by characters, cutting at a line start where there is one', () => {
    expect(keepTail('aaaa\nbbbbbbbb\ncc\n', 10, 6)).toEqual({ kept: 'cc\n', droppedLines: 2 });
    expect(keepTail('x'.repeat(10), 10, 4)).toEqual({ kept: 'xxxx', droppedLines: 1 });
  });
});
