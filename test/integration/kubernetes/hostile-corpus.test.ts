// The hostile-job corpus on Kubernetes, beyond hostile-jobs.test.ts: names with newline and
// control characters, and a file swapped for a link while collect streams the pod's tar.
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useCliProject } from '../../helpers/cli-project.js';
import { expectHostileNamesKept, expectSwapContained } from '../../helpers/hostile-corpus.js';
import { localCanary, type Canary } from '../../helpers/hostile-jobs.js';
import { kubernetesAddArgs } from './kubernetes-backend-env.js';

describe('the built CLI on Kubernetes: hostile names and a file swapped for a link during collect', () => {
  const p = useCliProject('k8s-corpus', () => kubernetesAddArgs('k8s', 'reprise-hostile-corpus'));
  let canary: Canary;
  // The swap loop's link points here: on the worker's machine, where a followed link would read.
  beforeAll(() => void (canary = localCanary()));
  afterAll(() => rmSync(canary.dir, { recursive: true, force: true }));

  it('names with a newline, a tab, ESC and a trailing space: each one file under its exact name, in the record and the commit', async () => {
    await expectHostileNamesKept(p.cli, p.root, 'k8s');
  }, 600_000);

  it('a detached process swapping output/swap/x for a link to a canary while collect runs (3 runs): never followed, no canary in history', async () => {
    const outcomes: string[] = [];
    for (let i = 0; i < 3; i++) {
      const tag = `reprise-swapper-${randomBytes(6).toString('hex')}`;
      const started = Date.now();
      // The pod's wrapper (PID 1) writes /project/.reprise-exit when the command ends, then keeps
      // the pod until collect is done: the swapper, reparented to it, runs on while the pod's tar
      // reads, and output/swap/seen-end (written once it saw that file) proves it.
      const { shown } = await expectSwapContained(p.cli, p.root, 'k8s', canary, tag, 60, '/project/.reprise-exit');
      expect(shown.outputs.map((o) => o.path)).toContain('output/swap/seen-end');
      const x = shown.outputs.some((o) => o.path === 'output/swap/x') ? 'x kept as the job file' : 'x refused as a link';
      outcomes.push(`${shown.runId}: ${Math.round((Date.now() - started) / 1000)} s; ${x}; skipped ${JSON.stringify(shown.skippedOutputs ?? [])}`);
    }
    console.log(outcomes.join('\n'));
  }, 1_200_000);
});
