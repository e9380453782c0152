// What the test clusters' `up` scripts leave for the suites (test/infra/.state/*.env), and the
// small local images the cluster suites run. Missing state fails loudly: suites never skip.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from './cli.js';
import { BUSYBOX, requireDocker } from './docker.js';

/** The variables of test/infra/.state/<cluster>.env, each of `keys` required; files named in `files` must exist. */
export function readInfraEnv<K extends string>(cluster: 'slurm' | 'kubernetes' | 's3', keys: readonly K[], files: readonly K[] = []): Record<K, string> {
  const envFile = join(repoRoot, 'test/infra/.state', `${cluster}.env`);
  const up = `\`test/infra/${cluster} up\``;
  if (!existsSync(envFile)) throw new Error(`${envFile} is missing: start the test cluster first with ${up}`);
  const vars: Record<string, string> = {};
  for (const line of readFileSync(envFile, 'utf8').split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) vars[m[1]!] = m[2]!;
  }
  for (const key of keys) if (!vars[key]) throw new Error(`${envFile} lacks ${key}: rerun ${up}`);
  for (const key of files) if (!existsSync(vars[key]!)) throw new Error(`${vars[key]} (named in ${envFile}) is missing: rerun ${up}`);
  return vars as Record<K, string>;
}

/** A small image FROM the local busybox with extra Dockerfile lines, tagged `tag`; returns its id. */
export function buildTestImage(tag: string, lines: string[] = []): string {
  requireDocker();
  const ctx = mkdtempSync(join(tmpdir(), 'reprise-test-img-'));
  try {
    writeFileSync(join(ctx, 'Dockerfile'), [`FROM ${BUSYBOX}`, ...lines, ''].join('\n'));
    execFileSync('docker', ['build', '-q', '-t', tag, ctx], { stdio: 'ignore' });
    return execFileSync('docker', ['image', 'inspect', '--format', '{{.Id}}', tag], { encoding: 'utf8' }).trim();
  } finally {
    rmSync(ctx, { recursive: true, force: true });
  }
}
