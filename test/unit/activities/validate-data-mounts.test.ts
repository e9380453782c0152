import { ApplicationFailure } from '@temporalio/common';
import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkedActivities, inputChecks } from '../../../src/activities/validate.js';
import type { RunInput } from '../../../src/activities/types.js';
import type { Backend, StagedJob } from '../../../src/backends/types.js';
import { makeProject, tempDir } from '../../helpers/project.js';

const made: string[] = [];
afterAll(async () => {
  for (const dir of made) await rm(dir, { recursive: true, force: true });
});

/** The submit activity behind the checks, recording what it was given. */
async function guardedSubmit() {
  const home = await tempDir('reprise-validate-home-');
  const project = await makeProject();
  made.push(home, dirname(project.root));
  const got: StagedJob[] = [];
  const acts = checkedActivities(
    { submit: async (_input: RunInput, staged: StagedJob) => void got.push(staged) },
    { submit: inputChecks({ home, backendOf: async () => ({ kind: 'docker' }) as Backend }).submit },
  );
  const input: RunInput = { runId: 'run-abc', projectRoot: project.root, backend: 'local', command: ['true'], resources: {} };
  return { submit: (staged: StagedJob) => acts.submit(input, staged), got };
}

const staged = (mounts: StagedJob['mounts']): StagedJob => ({ image: 'sha256:x', sources: '/h/runs/run-abc/src', mounts });
const cache = '/home/u/p/.dvc/cache';

describe("a staged job's data mounts, checked at the activity boundary", () => {
  it("lets a data cache's object and folder tree through", async () => {
    const { submit, got } = await guardedSubmit();
    const mounts = [
      { path: 'input/big.bin', source: `${cache}/files/md5/0f/e8f188beed284dfd1d98e7d1d2d2fd` },
      { path: 'input/many', source: `${cache}/reprise/trees/d6f9727c6d10014b64ae2e5c06366612` },
    ];
    await submit(staged(mounts));
    expect(got).toEqual([staged(mounts)]);
  });

  it.each([
    [{ path: 'input/x', source: '/etc' }, "mounts.0.source must be a data cache's object (files/md5/…) or folder tree (reprise/trees/…)"],
    [{ path: 'input/x', source: `${cache}/files/md5/0f/../../../../../../root/.ssh/e8f188beed284dfd1d98e7d1d2d2fd` }, 'mounts.0.source must be'],
    [{ path: 'input/x', source: 'relative/reprise/trees/d6f9727c6d10014b64ae2e5c06366612' }, 'mounts.0.source must be'],
    [{ path: '../x', source: `${cache}/reprise/trees/d6f9727c6d10014b64ae2e5c06366612` }, 'mounts.0.path must be a relative project path'],
    [{ path: 'input/x', source: `${cache}/reprise/trees/d6f9727c6d10014b64ae2e5c06366612`, extra: 1 }, "mounts.0 Unrecognized key(s) in object: 'extra'"],
  ])('refuses %j by name, before the job is submitted', async (mount, message) => {
    const { submit, got } = await guardedSubmit();
    const err = await submit(staged([mount as { path: string; source: string }])).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).message).toContain(`submit: refused workflow input: staged.${message}`);
    expect(got).toEqual([]);
  });
});
