import { expect } from 'vitest';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RepriseError } from '../../src/errors.js';
import { digestTree, readFeed, recordRun, snapshotSources } from '../../src/project/history.js';
import type { RunRecord } from '../../src/project/run-record.js';
import { git, tempDir } from './project.js';

/** An empty bare repository: the shared remote. */
export async function bareRemote(): Promise<string> {
  const dir = join(await tempDir('reprise-remote-'), 'shared.git');
  git(await tempDir(), 'init', '-q', '--bare', '-b', 'main', dir);
  return dir;
}

/** A refusing remote for read-only collaborators: every push is declined by its pre-receive hook. */
export async function refusePushes(bare: string): Promise<void> {
  await writeFile(join(bare, 'hooks/pre-receive'), '#!/bin/sh\necho "read-only: you may not push here" >&2\nexit 1\n', { mode: 0o755 });
}

/** What a finished run leaves for recordRun: its collected output/ files and its log. */
export async function fakeRunFiles(runId: string, outputs: Record<string, string>): Promise<{ outputsDir: string; logFile: string }> {
  const dir = await tempDir('reprise-run-');
  const outputsDir = join(dir, 'outputs');
  await mkdir(outputsDir, { recursive: true });
  for (const [name, content] of Object.entries(outputs)) await writeFile(join(outputsDir, name), content);
  const logFile = join(dir, 'job.log');
  await writeFile(logFile, `log of ${runId}\n`);
  return { outputsDir, logFile };
}

/** The record of a succeeded fake run of `sourceCommit` whose collected outputs are in `outputsDir`. */
export async function fakeRunRecord(runId: string, sourceCommit: string, outputsDir: string, over: Partial<RunRecord> = {}): Promise<RunRecord> {
  return {
    version: 1,
    runId,
    project: { name: 'proj', id: 'p1' },
    command: ['sh', 'code/x.sh'],
    state: 'succeeded',
    exitCode: 0,
    backend: { name: 'local', kind: 'docker' },
    sourceCommit,
    image: { digest: `sha256:${'b'.repeat(64)}` },
    environment: 'c'.repeat(64),
    resources: {},
    startedAt: '2026-11-30T10:00:00.000Z',
    finishedAt: '2026-11-30T10:00:01.000Z',
    outputs: await digestTree(outputsDir, 'output'),
    log: { path: `.reprise/activity/${runId}.log`, sha256: 'd'.repeat(64), size: 0 },
    ...over,
  };
}

/**
 * Record a run the way the record activity does (recordRun), with its source snapshot taken now
 * (and so its starting branch); `finish` lets a test act between start and record.
 */
export async function startFakeRun(root: string, runId: string, outputs: Record<string, string> = {}) {
  const snap = await snapshotSources(root, runId);
  return {
    snap,
    async finish(): Promise<string> {
      const { outputsDir, logFile } = await fakeRunFiles(runId, outputs);
      const record = await fakeRunRecord(runId, snap.sourceCommit, outputsDir);
      return recordRun(root, { record, outputsDir, logFile, branch: snap.branch });
    },
  };
}

export async function recordFakeRun(root: string, runId: string, outputs: Record<string, string> = {}): Promise<string> {
  return (await startFakeRun(root, runId, outputs)).finish();
}

/** The RepriseError a promise rejects with (fails the test when it resolves or throws another kind). */
export async function userError(p: Promise<unknown>): Promise<RepriseError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RepriseError);
  return err as RepriseError;
}

/** The run ids of the project's feed, sorted. */
export const runIds = async (root: string) => (await readFeed(root)).map((e) => e.runId).sort();
