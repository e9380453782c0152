// Collect against a job that fights it, on the real engine: links for output/ and code/ (a lab's
// copy-back), a file and a folder swapped for links while collect reads (as a lab checkpoint
// does while the job goes on), 50,000 files. Nothing outside the job's directory is read.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerBackend } from '../../../src/backends/docker/docker-backend.js';
import type { JobHandle } from '../../../src/backends/types.js';
import { dockerClient } from '../../../src/images/engine.js';
import { BUSYBOX, requireDocker } from '../../helpers/docker.js';
import { localCanary, type Canary } from '../../helpers/hostile-jobs.js';
import { tempDir } from '../../helpers/project.js';

const docker = dockerClient();
const backend = new DockerBackend(docker);
const handles: JobHandle[] = [];
let busyboxId: string;
let canary: Canary;

beforeAll(async () => {
  requireDocker();
  busyboxId = (await docker.getImage(BUSYBOX).inspect()).Id;
  canary = localCanary();
});
afterAll(async () => {
  for (const h of handles) await backend.cleanup(h);
  await rm(canary.dir, { recursive: true, force: true });
});

async function start(script: string): Promise<JobHandle> {
  const runId = `run-hostilecollect${Math.random().toString(36).slice(2, 8)}`;
  const sourcesDir = await tempDir('reprise-hostile-src-');
  await mkdir(join(sourcesDir, 'output'));
  await mkdir(join(sourcesDir, 'code'));
  await writeFile(join(sourcesDir, 'code/a.py'), 'a = 1\n');
  const staged = await backend.stage({ runId, image: { digest: busyboxId }, sourcesDir });
  const h = await backend.submit({ runId, command: ['sh', '-c', script], env: {}, resources: {}, staged });
  handles.push(h);
  return h;
}

async function ended(h: JobHandle): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if ((await backend.status(h)).phase === 'exited') return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the job never ended');
}

/** Whether any file under `dir` (grep -r follows no link) holds the canary. */
const holdsCanary = (dir: string) => spawnSync('grep', ['-r', '-q', canary.token, '.'], { cwd: dir }).status === 0;

describe('DockerBackend.collect against hostile jobs', () => {
  it('output/ and, in a lab copy, code/ replaced by links: neither is followed, both named, no folder made for them', async () => {
    const h = await start(`rm -rf output code && ln -s '${canary.dir}' output && ln -s '${canary.dir}' code`);
    await ended(h);
    const dest = await tempDir('reprise-hostile-dest-');
    expect((await backend.collect(h, dest)).skipped).toEqual([{ path: 'output', why: expect.stringMatching(/^a symlink.*nothing under it was read/) }]);
    expect(await readdir(dest)).toEqual([]);
    const lab = await tempDir('reprise-hostile-lab-');
    const collected = await backend.collect(h, lab, { paths: ['code', 'output'], final: false });
    expect(collected.skipped.map((s) => s.path)).toEqual(['code', 'output']);
    // No code/ here: a lab checkpoint takes no deletion from a folder it could not read.
    expect(await readdir(lab)).toEqual([]);
  });

  it('a file and a folder swapped for links to the canary while collect reads: never read through (200 lab copies)', async () => {
    const loop = [
      `mkdir -p output/d && echo plain > output/d/f && ln -s '${canary.dir}/secret.txt' output/lf && ln -s '${canary.dir}' output/ld;`,
      // rename(2) swaps atomically: the name is a file (or folder) one moment, a link the next.
      'while :; do echo plain > output/f.new && mv -f output/f.new output/f; cp -P output/lf output/f.l && mv -f output/f.l output/f;',
      'mv output/d output/d.old && cp -P output/ld output/d; rm output/d && mv output/d.old output/d; done',
    ].join(' ');
    const h = await start(loop);
    for (let i = 0; i < 50; i++) if ((await backend.status(h)).phase === 'running') break;
    await new Promise((r) => setTimeout(r, 1000));
    const dests: string[] = [];
    for (let i = 0; i < 200; i++) {
      const dest = await tempDir('reprise-race-');
      dests.push(dest);
      await backend.collect(h, dest, { paths: ['output'], final: false });
    }
    await backend.cancel(h);
    const leaked = dests.filter(holdsCanary);
    expect(leaked).toEqual([]);
    // The loop did race collect: some copies saw f as a file, some as a link.
    expect(dests.some((d) => existsSync(join(d, 'output/f')))).toBe(true);
    for (const d of dests) await rm(d, { recursive: true, force: true });
  }, 600_000);

  it('50,000 files: at most the file limit copied, the rest named by the first cut', async () => {
    const h = await start('mkdir -p output/many && cd output/many && i=0; while [ $i -lt 50000 ]; do : > f$i; i=$((i+1)); done');
    await ended(h);
    const dest = await tempDir('reprise-flood-');
    const collected = await backend.collect(h, dest);
    expect(await readdir(join(dest, 'many'))).toHaveLength(10_000);
    expect(collected).toEqual({ incomplete: true, skipped: [{ path: expect.stringMatching(/^output\/many\/f\d+$/), why: 'this and 39999 more files not collected: more than 10000 files (REPRISE_MAX_OUTPUT_FILES)' }] });
    await rm(dest, { recursive: true, force: true });
  }, 600_000);
});
