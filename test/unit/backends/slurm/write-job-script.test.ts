// The submit's first half (job.sh on stdin, written into the run dir) run by a real sh, many at
// once, as two submits of one run may after a worker restart: each must succeed and leave one
// whole job.sh, mode 700, and no part file. (The SLURM suite's repeated-submit test hit a shared
// part name under load: "chmod: cannot access '…/job.sh.tmp'".)
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { WRITE_JOB_SCRIPT } from '../../../../src/backends/slurm/slurm-backend.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function writeJob(runDir: string, script: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', WRITE_JOB_SCRIPT, 'sh', runDir, 'reprise-x', '0'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += String(c)));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
    // Written in two pieces, so the writers overlap.
    child.stdin.write(script.slice(0, 10));
    setTimeout(() => child.stdin.end(script.slice(10)), 5);
  });
}

it('sixteen writers of one run at once all succeed and leave one whole job.sh, mode 700, no part file', async () => {
  const base = await mkdtemp(join(tmpdir(), 'reprise-write-job-'));
  dirs.push(base);
  const runDir = join(base, 'runs', 'r1');
  const script = `#!/bin/sh\n#SBATCH --job-name=reprise-x\n${'echo hello\n'.repeat(2000)}`;
  for (let round = 0; round < 3; round++) {
    const results = await Promise.all(Array.from({ length: 16 }, () => writeJob(runDir, script)));
    for (const r of results) expect(r, r.stderr).toMatchObject({ code: 0 });
  }
  expect(await readFile(join(runDir, 'job.sh'), 'utf8')).toBe(script);
  expect((await stat(join(runDir, 'job.sh'))).mode & 0o777).toBe(0o700);
  expect(await readdir(runDir)).toEqual(['job.sh']);
});
