import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { forTerminal, stripTerminalControls } from '../../src/terminal-text.js';

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
});
