import { execFileSync } from 'node:child_process';

/** The locally built 2 MB base (scripts/docker-up.sh); fails loudly rather than skipping. */
export const BUSYBOX = 'local/busybox:latest';

export function requireDocker(): void {
  try {
    execFileSync('docker', ['image', 'inspect', BUSYBOX], { stdio: 'ignore' });
  } catch {
    throw new Error(`Docker engine or ${BUSYBOX} missing: run bash scripts/docker-up.sh first`);
  }
}

export function containersOf(runId: string): string[] {
  return execFileSync('docker', ['ps', '-aq', '--filter', `label=org.reprise.run=${runId}`], { encoding: 'utf8' }).split('\n').filter(Boolean);
}
