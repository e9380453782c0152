// Hostile arguments a run must deliver to its command byte for byte, on every backend: nothing
// reaches a shell unquoted, nothing is taken for a flag, nothing is re-encoded or trimmed.
import { createHash } from 'node:crypto';
import { expect } from 'vitest';
import type { Cli } from './cli.js';

export const ARGV_CORPUS: string[] = [
  `it's "quoted"`,
  '$(touch /tmp/reprise-pwned)',
  '`id`',
  'line one\nline two\n',
  'a; rm -rf / ; echo b',
  '*',
  '?[a-z]*',
  '-n',
  '--on',
  '--',
  '-e',
  '\\',
  '$HOME ${PATH}',
  '%s%n%x',
  ' leading and trailing ',
  'tab\there',
  '\r\n',
  'ünïcödé ✓ 日本',
  '',
  "''",
  '"',
  '&& || | > < 2>&1',
  '#not a comment',
  '~',
  'x'.repeat(32 * 1024),
];

const sha256 = (s: string) => createHash('sha256').update(Buffer.from(s, 'utf8')).digest('hex');

/**
 * Run the corpus on `backend` (`--on`) through the built CLI: the job writes each argument to
 * its own output file, and the record's output digests must be the arguments' own.
 */
export async function expectArgvDelivered(cli: Cli, root: string, backend: string): Promise<void> {
  const script = 'i=0; for a in "$@"; do i=$((i+1)); printf %s "$a" > output/arg$i; done; echo "$#"';
  const r = await cli.run(['run', '--on', backend, '--', 'sh', '-c', script, 'sh', ...ARGV_CORPUS], root);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stdout).toBe(`${ARGV_CORPUS.length}\n`);
  const [latest] = await cli.json<{ runId: string }[]>(['log', '-n', '1'], root);
  const shown = await cli.json<{ command: string[]; outputs: { path: string; sha256: string; size: number }[] }>(['show', latest!.runId], root);
  expect(shown.command.slice(4)).toEqual(ARGV_CORPUS);
  const byPath = new Map(shown.outputs.map((o) => [o.path, o]));
  ARGV_CORPUS.forEach((arg, i) => {
    const out = byPath.get(`output/arg${i + 1}`);
    expect(out, `argument ${i + 1} ${JSON.stringify(arg.slice(0, 40))}`).toBeDefined();
    expect({ i: i + 1, size: out!.size, sha256: out!.sha256 }).toEqual({ i: i + 1, size: Buffer.byteLength(arg), sha256: sha256(arg) });
  });
}
