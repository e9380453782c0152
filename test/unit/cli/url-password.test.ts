import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { readPasswordFrom, urlWithPassword } from '../../../src/cli/url-password.js';

const stdin = (text: string) => Readable.from([Buffer.from(text)]);

describe('--password-stdin: a remote password that never is on a command line', () => {
  it('joins the password read from stdin to a URL naming the user, encoded, one trailing newline dropped', async () => {
    const warnings: string[] = [];
    const url = await urlWithPassword('https://alice@git.example.org/team/fit.git', true, stdin('p@ss:w/rd %\n'), (m) => warnings.push(m), 'x');
    expect(url).toBe('https://alice:p%40ss%3Aw%2Frd%20%25@git.example.org/team/fit.git');
    expect(warnings).toEqual([]);
  });

  it('refuses a URL with a password already, one without a user, and an empty stdin, as bad input', async () => {
    const bad = (url: string, input: string) => urlWithPassword(url, true, stdin(input), () => undefined, 'x');
    await expect(bad('https://alice:pw@h/r.git', 'p')).rejects.toThrow(/carries a password already/);
    await expect(bad('https://h/r.git', 'p')).rejects.toThrow(/names the user/);
    await expect(bad('/srv/r.git', 'p')).rejects.toThrow(/names the user/);
    await expect(bad('https://alice@h/r.git', '\n')).rejects.toThrow(/held no password/);
    await expect(bad('https://alice@h/r.git', '')).rejects.toMatchObject({ message: expect.stringMatching(/held no password/) });
  });

  it('without the flag: a URL is taken as given, and a password in it warned about (ps), never repeated', async () => {
    const warnings: string[] = [];
    const warn = (m: string) => warnings.push(m);
    expect(await urlWithPassword('git@github.com:alice/fit.git', false, stdin(''), warn, 'reprise clone URL')).toBe('git@github.com:alice/fit.git');
    expect(warnings).toEqual([]);
    expect(await urlWithPassword('https://alice:s3cret@h/r.git', false, stdin(''), warn, 'reprise clone URL')).toBe('https://alice:s3cret@h/r.git');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/visible to every account on this machine \(ps\).*--password-stdin/);
    expect(warnings[0]).not.toContain('s3cret');
  });

  it('reads at most 64 KiB', async () => {
    await expect(readPasswordFrom(stdin('x'.repeat(70_000)))).rejects.toThrow(/^--password-stdin: more than 65536 bytes/);
    expect(await readPasswordFrom(stdin('abc\r\n'))).toBe('abc');
  });
});
