// Settings of the real test cluster (`test/infra/slurm up` writes them): fail loudly, never skip.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SlurmBackendConfig } from '../../../src/backends/slurm/slurm-backend.js';

const envFile = join(resolve(dirname(fileURLToPath(import.meta.url)), '../../..'), 'test/infra/.state/slurm.env');
const KEYS = ['SLURM_SSH_HOST', 'SLURM_SSH_PORT', 'SLURM_SSH_USER', 'SLURM_SSH_IDENTITY', 'SLURM_SSH_KNOWN_HOSTS', 'SLURM_PARTITION'] as const;

export function clusterConfig(workdir: string): SlurmBackendConfig {
  if (!existsSync(envFile)) throw new Error(`${envFile} is missing: start the test cluster first with \`test/infra/slurm up\``);
  const vars: Record<string, string> = {};
  for (const line of readFileSync(envFile, 'utf8').split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) vars[m[1]!] = m[2]!;
  }
  for (const key of KEYS) if (!vars[key]) throw new Error(`${envFile} lacks ${key}: rerun \`test/infra/slurm up\``);
  return {
    kind: 'slurm',
    host: vars.SLURM_SSH_HOST!,
    port: Number(vars.SLURM_SSH_PORT),
    user: vars.SLURM_SSH_USER!,
    identityFile: vars.SLURM_SSH_IDENTITY!,
    knownHostsFile: vars.SLURM_SSH_KNOWN_HOSTS!,
    partition: vars.SLURM_PARTITION!,
    runtime: 'charliecloud',
    workdir,
  };
}

/** A fresh image FROM the local busybox, unique per call (its own digest), tagged `tag`. */
export function buildTestImage(tag: string): string {
  try {
    execFileSync('docker', ['image', 'inspect', 'local/busybox:latest'], { stdio: 'ignore' });
  } catch {
    throw new Error('Docker image local/busybox:latest is missing: run `bash scripts/docker-up.sh` first');
  }
  const ctx = mkdtempSync(join(tmpdir(), 'reprise-slurm-it-'));
  try {
    writeFileSync(join(ctx, 'Dockerfile'), `FROM local/busybox:latest\nENV GREETING="hi from the image env"\nLABEL org.reprise.test=${JSON.stringify(tag)}\n`);
    execFileSync('docker', ['build', '-q', '-t', tag, ctx], { stdio: 'ignore' });
    return execFileSync('docker', ['image', 'inspect', '--format', '{{.Id}}', tag], { encoding: 'utf8' }).trim();
  } finally {
    rmSync(ctx, { recursive: true, force: true });
  }
}
