// Project secrets and a lab's token on the real SLURM test cluster: each a 0400 file in the run's
// own secrets folder (0500, inside the 0700 run directory), bound at /run/secrets by the runtime;
// never in job.sh; gone after cleanup, whether the job ended or was cancelled.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlurmBackend } from '../../../src/backends/slurm/slurm-backend.js';
import type { JobHandle, JobSpec } from '../../../src/backends/types.js';
import { tempDir } from '../../helpers/project.js';
import { buildTestImage, clusterConfig } from './slurm-backend-env.js';

const suite = `secrets-${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const runtime = (process.env.REPRISE_SLURM_RUNTIME as 'charliecloud' | 'apptainer' | undefined) ?? 'charliecloud';
const backend = new SlurmBackend({ ...clusterConfig(`~/reprise-it/${suite}`), runtime });
const tag = `reprise-slurm-secrets:${suite}`;
let digest: string;

beforeAll(() => {
  digest = buildTestImage(tag);
});

afterAll(async () => {
  await backend.ssh.exec(['sh', '-c', 'chmod -R u+w "$HOME/reprise-it/$1"; rm -rf "$HOME/reprise-it/$1"', 'sh', suite]);
  backend.close();
});

async function until(handle: JobHandle, done: (phase: string) => boolean): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (done((await backend.status(handle)).phase)) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`job ${handle.jobId} did not get there`);
}

const remote = (script: string, ...args: string[]) => backend.ssh.run(['sh', '-c', script, 'sh', ...args]);

describe(`SLURM (${runtime}) secrets`, () => {
  const value = `s3cr3t-${randomBytes(12).toString('hex')}`;
  const token = randomBytes(24).toString('hex');

  async function submit(runId: string, command: string): Promise<JobHandle> {
    const sourcesDir = await tempDir('reprise-slurm-secrets-');
    await mkdir(join(sourcesDir, 'output'));
    const staged = await backend.stage({ runId, image: { digest, tag }, sourcesDir });
    const job: JobSpec = {
      runId,
      command: ['sh', '-c', command],
      env: { REPRISE_LAB_TOKEN_FILE: '/run/secrets/reprise-lab-token' },
      resources: {},
      staged,
      secrets: [
        { name: 'API_KEY', content: Buffer.from(value) },
        { name: 'reprise-lab-token', content: Buffer.from(token) },
      ],
    };
    return backend.submit(job);
  }

  it('the job reads them read-only; job.sh holds neither; the files are the owner\'s only; cleanup removes them', async () => {
    const runId = `run-${suite}-a`;
    const handle = await submit(
      runId,
      'sha256sum /run/secrets/API_KEY | cut -c1-64 > output/hash; cat "$REPRISE_LAB_TOKEN_FILE" > output/token; ' +
        // As a hostile job would: the copy is the job uid's own, so it tries to make it writable first.
        'id -u > output/uid; { chmod u+w /run/secrets/API_KEY /run/secrets && echo chmodded; mount -o remount,rw /run/secrets && echo remounted; ' +
        'echo x > /run/secrets/API_KEY && echo written; rm -f /run/secrets/API_KEY && echo removed; touch /run/secrets/NEW && echo created; } > output/writes 2>/dev/null; true',
    );
    const runDir = String(handle.runDir);
    try {
      await until(handle, (p) => p === 'exited');
      expect(await remote('cat "$1/project/output/hash"', runDir)).toBe(`${createHash('sha256').update(value).digest('hex')}\n`);
      expect(await remote('cat "$1/project/output/token"', runDir)).toBe(token);
      expect(await remote('cat "$1/project/output/writes"', runDir)).toBe('');
      // The job ran as the user's own uid (not root of a namespace) and its outputs are the user's.
      expect(await remote('cat "$1/project/output/uid"', runDir)).toBe(await remote('id -u'));
      expect(await remote('stat -c %u "$1/project/output/uid"', runDir)).toBe(await remote('id -u'));
      const script = await remote('cat "$1/job.sh"', runDir);
      expect(script).not.toContain(value);
      expect(script).not.toContain(token);
      expect(await remote('stat -c "%a %n" "$1" "$1/secrets" "$1/secrets/API_KEY" "$1/secrets/reprise-lab-token" | sed "s|$1|R|"', runDir)).toBe(
        '700 R\n500 R/secrets\n400 R/secrets/API_KEY\n400 R/secrets/reprise-lab-token\n',
      );
      expect(await remote('cat "$1/secrets/API_KEY"', runDir)).toBe(value);
    } finally {
      await backend.cleanup(handle);
    }
    expect(await remote('test -e "$1" && echo present || echo gone', runDir)).toBe('gone\n');
  }, 600_000);

  it('a cancelled job\'s secrets are removed by cleanup too', async () => {
    const handle = await submit(`run-${suite}-b`, 'sleep 300');
    const runDir = String(handle.runDir);
    await until(handle, (p) => p === 'running');
    expect(await remote('ls "$1/secrets"', runDir)).toBe('API_KEY\nreprise-lab-token\n');
    await backend.cancel(handle);
    await backend.cleanup(handle);
    expect(await remote('test -e "$1" && echo present || echo gone', runDir)).toBe('gone\n');
  }, 600_000);

  it('each element of a job array reads them; cleanup removes each element\'s copy', async () => {
    const ids = [`run-${suite}-c0`, `run-${suite}-c1`];
    const jobs: JobSpec[] = [];
    for (const runId of ids) {
      const sourcesDir = await tempDir('reprise-slurm-secrets-');
      await mkdir(join(sourcesDir, 'output'));
      const staged = await backend.stage({ runId, image: { digest, tag }, sourcesDir });
      jobs.push({ runId, command: ['sh', '-c', 'sha256sum /run/secrets/API_KEY | cut -c1-64 > output/hash'], env: {}, resources: {}, staged, secrets: [{ name: 'API_KEY', content: Buffer.from(value) }] });
    }
    const handles = await backend.submitArray!(`array-${suite}`, jobs, {});
    try {
      for (const h of handles) await until(h, (p) => p === 'exited');
      for (const h of handles) expect(await remote('cat "$1/project/output/hash"', String(h.runDir))).toBe(`${createHash('sha256').update(value).digest('hex')}\n`);
      expect(await remote('cat "$1"/*.sh', `${String(handles[0]!.runDir).replace(/\/runs\/[^/]+$/, '')}/arrays/array-${suite}`)).not.toContain(value);
    } finally {
      for (const h of handles) await backend.cleanup(h);
    }
    for (const h of handles) expect(await remote('test -e "$1" && echo present || echo gone', String(h.runDir))).toBe('gone\n');
  }, 600_000);
});
