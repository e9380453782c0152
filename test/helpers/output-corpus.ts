// Hostile outputs a job can leave in output/ for the collect: links out of output/ (absolute and
// by ..), a hard link, a named pipe, a name with a newline, a name starting with "..", a sparse file larger than a collect may bring back. Nothing is
// written outside the run's directory; plain files are collected, the rest named as left out.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { Cli } from './cli.js';

export async function expectHostileOutputsContained(cli: Cli, root: string, backend: string): Promise<void> {
  const canary = `/tmp/reprise-canary-${process.pid}-${Date.now()}`;
  const script = [
    'cd output',
    'echo ok > plain.txt',
    'mkdir -p sub && echo deep > sub/deep.txt',
    `ln -s ${canary} canary-link`,
    'ln -s /etc/passwd abs-link',
    'ln -s ../../../../../../etc/hostname up-link',
    'ln plain.txt hard.txt',
    'mkfifo pipe',
    `printf nl > "$(printf 'new\\nline')"`,
    'echo dots > ..x',
    // Huge and sparse: 11 GiB that take no disk; over the 10 GiB one collect may bring back.
    'dd if=/dev/zero of=huge.bin bs=1 count=0 seek=11811160064 2>/dev/null',
  ].join(' && ');
  const r = await cli.run(['run', '--on', backend, '--', 'sh', '-c', script], root);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stderr).toMatch(/not collected: .*"output\/abs-link" \(a symlink; only files and directories are collected\)/);
  const [latest] = await cli.json<{ runId: string }[]>(['log', '-n', '1'], root);
  const shown = await cli.json<{ outputs: { path: string }[]; skippedOutputs?: { path: string; why: string }[] }>(['show', latest!.runId], root);
  const kept = shown.outputs.map((o) => o.path);
  expect(kept).toEqual(expect.arrayContaining(['output/plain.txt', 'output/hard.txt', 'output/sub/deep.txt', 'output/new\nline', 'output/..x']));
  const left = (shown.skippedOutputs ?? []).map((o) => o.path);
  expect(left).toEqual(expect.arrayContaining(['output/canary-link', 'output/abs-link', 'output/up-link', 'output/huge.bin']));
  expect(shown.skippedOutputs?.find((o) => o.path === 'output/huge.bin')?.why).toMatch(/^this and 0 more files not collected: more than 10G in all \(REPRISE_MAX_OUTPUT_TOTAL\)$/);
  expect(kept).not.toContain('output/huge.bin');
  // A pipe is left out on every backend (Kubernetes' tar may not archive it at all).
  expect(kept).not.toContain('output/pipe');
  for (const link of ['canary-link', 'abs-link', 'up-link']) expect(kept).not.toContain(`output/${link}`);
  // Nothing was written through a link, here or in the project.
  expect(existsSync(canary)).toBe(false);
  expect(await readFile(join(root, 'output/plain.txt'), 'utf8')).toBe('ok\n');
  expect(await readFile(join(root, 'output/new\nline'), 'utf8')).toBe('nl');
  expect(existsSync(join(root, 'output/abs-link'))).toBe(false);
}
