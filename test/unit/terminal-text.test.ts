import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { forTerminal, stripTerminalControls, terminalWriter } from '../../src/terminal-text.js';

describe('job output shown on a terminal', () => {
  it('drops escape sequences and controls; keeps text, tabs, newlines and carriage returns', () => {
    const hostile = 'a\x1b]0;pwned\x07b\x1b[31mred\x1b[0m\x1b[2J\x1bPq#0\x1b\\c\x9b31md\x07\x00e\tf\r\ng\x1b';
    expect(stripTerminalControls(hostile)).toBe('abredc31mde\tf\r\ng');
  });

  it('leaves no ESC, C1 or bell in any text (10,000 generated cases)', () => {
    const piece = fc.oneof(fc.fullUnicodeString({ maxLength: 8 }), fc.constantFrom('\x1b', '\x1b[', '\x1b]', '\x07', '\x9b', '\x1bP', '\x1b\\', '\r', '\n', '\t'));
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 12 }).map((a) => a.join('')), (text) => {
        // eslint-disable-next-line no-control-regex -- the controls are what must be gone
        expect(stripTerminalControls(text)).not.toMatch(/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]/);
      }),
      { numRuns: 10_000 },
    );
  });

  it('strips only for a terminal: a redirected log keeps its bytes', () => {
    expect(forTerminal('\x1b[31mx', { isTTY: true })).toBe('x');
    expect(forTerminal('\x1b[31mx', { isTTY: false })).toBe('\x1b[31mx');
    expect(forTerminal(Buffer.from('\x1b[31mx'), { isTTY: true })).toBe('x');
  });

  it('live output in pieces (an attached run): stripped on a terminal, an escape sequence or a UTF-8 character split between pieces included; redirected, every byte kept', () => {
    const hostile = Buffer.from('a\x1b]0;pwned\x07b\x1b[31mred\x1b[0m\x1b[2Jc é€\n');
    const into = (isTTY: boolean) => {
      const out: (string | Buffer)[] = [];
      return { stream: { isTTY, write: (c: string | Buffer) => out.push(c) }, out };
    };
    // Every way of cutting it in two and three pieces.
    for (let i = 0; i <= hostile.length; i++) {
      for (let j = i; j <= hostile.length; j++) {
        const tty = into(true);
        const write = terminalWriter(tty.stream);
        for (const piece of [hostile.subarray(0, i), hostile.subarray(i, j), hostile.subarray(j)]) write(piece);
        const shown = tty.out.join('');
        expect(shown).not.toContain('\x1b');
        expect(shown).not.toContain('\x07');
        // The visible text survives whole; a sequence cut in two may leave its harmless tail (no ESC).
        expect(shown.replace(/\]0;pwned|\[31m|\[0m|\[2J|31m|0m|2J|0;pwned/g, '')).toContain('c é€\n');
        const piped = into(false);
        const raw = terminalWriter(piped.stream);
        for (const piece of [hostile.subarray(0, i), hostile.subarray(i, j), hostile.subarray(j)]) raw(piece);
        expect(Buffer.concat(piped.out.map((c) => Buffer.from(c)))).toEqual(hostile);
      }
    }
    const whole = into(true);
    terminalWriter(whole.stream)(hostile);
    expect(whole.out.join('')).toBe('abredc é€\n');
  });

  it('live output: no ESC, C1 or bell reaches a terminal however the output is cut (10,000 generated cases)', () => {
    const piece = fc.oneof(fc.fullUnicodeString({ maxLength: 8 }), fc.constantFrom('\x1b', '\x1b[', '\x1b]', '\x07', '\x9b', '\x1bP', '\x1b\\', '\r', '\n', '\t'));
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 4 }), (pieces, cuts) => {
        const bytes = Buffer.from(pieces.join(''));
        const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((x, y) => x - y);
        const out: string[] = [];
        const write = terminalWriter({ isTTY: true, write: (c: string | Buffer) => out.push(String(c)) });
        let from = 0;
        for (const to of [...at, bytes.length]) {
          write(bytes.subarray(from, to));
          from = to;
        }
        // eslint-disable-next-line no-control-regex -- the controls are what must be gone
        expect(out.join('')).not.toMatch(/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]/);
      }),
      { numRuns: 10_000 },
    );
  });
});
