import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cliEnv, collect, repoRoot } from '../helpers/cli.js';
import { git, tempDir } from '../helpers/project.js';

describe('the README main job', () => {
  it('bash scripts/main-job.sh sets up, runs the example on local Docker and prints the feed', async () => {
    const home = await tempDir('reprise-main-home-');
    const dir = join(await tempDir('reprise-main-'), 'demo');
    const env = await cliEnv(home);
    const r = await collect(spawn('bash', ['scripts/main-job.sh', dir], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] }));
    try {
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/walk 0: final [+-]\d+\.\d{3}/);
      expect(r.stdout).toMatch(/== reprise log\nCOMMIT +RUN +STATE .*\n[0-9a-f]{10} +run-[a-z2-7]{12} +succeeded +0 +local \(docker\)/);
      const result = JSON.parse(await readFile(join(dir, 'output/result.json'), 'utf8')) as { n: number; final: number[] };
      expect(result.n).toBe(3);
      expect(result.final).toHaveLength(3);
      expect((await readFile(join(dir, 'output/walks.png'))).subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
      expect(git(dir, 'log', '-1', '--format=%(trailers:key=Reprise-State,valueonly)').trim()).toBe('succeeded');
      expect(git(dir, 'status', '--porcelain')).toBe('');
    } finally {
      await collect(spawn(process.execPath, ['bin/run.js', 'agent', 'stop'], { cwd: repoRoot, env }));
    }
  }, 600_000);
});
