import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { shellCommand, shellQuote } from '../../src/shell-quote.js';

const nasty = ['', 'plain', 'two words', "it's", "''", '"double"', '$HOME', '`id`', '$(id)', 'a\nb', '*', '; rm -rf /', '\\', '-n', "'; echo pwned; '", 'tab\there', 'ünï©ødé'];

describe('shellQuote', () => {
  it('wraps in single quotes and escapes embedded ones', () => {
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    expect(shellQuote('')).toBe(`''`);
  });

  it('round-trips every nasty argument through a real POSIX shell', () => {
    const script = `for a in ${shellCommand(nasty)}; do printf '%s\\0' "$a"; done`;
    const out = execFileSync('sh', ['-c', script], { encoding: 'utf8' });
    expect(out.split('\0').slice(0, -1)).toEqual(nasty);
  });

  it('refuses NUL bytes and empty commands', () => {
    expect(() => shellQuote('a\0b')).toThrow(/NUL/);
    expect(() => shellCommand([])).toThrow(/empty/);
  });
});
