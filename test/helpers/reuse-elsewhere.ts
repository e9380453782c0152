import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Cli, cliEnv } from './cli.js';
import { waitFor } from './lab.js';
import { tempDir } from './project.js';
import { BUSYBOX, requireDocker } from './docker.js';

interface Result {
  runId: string;
  state: string;
  exitCode: number;
  reusedFrom?: string;
}

/**
 * Reuse across backends through the built CLI: a run recorded on local Docker is reused by
 * `run --reuse --on NAME` (the backend is not in the key) and the cluster never sees a job for
 * it. `jobsFor(runId, since)` counts what the cluster saw for a run since a mark `since()` took;
 * a run that executes there is the control that it sees jobs at all.
 */
export function describeReuseElsewhere<M>(name: string, kind: string, addFlags: () => string[], since: () => M, jobsFor: (runId: string, mark: M) => Promise<number> | number): void {
  let cli: Cli;
  let root: string;

  beforeAll(async () => {
    requireDocker();
    cli = new Cli(await cliEnv(await tempDir(`reprise-${name}-reuse-home-`)));
    const add = await cli.run(['backend', 'add', name, '--kind', kind, ...addFlags()], '/');
    expect(add.code, add.stderr).toBe(0);
    const work = await tempDir(`reprise-${name}-reuse-`);
    expect((await cli.run(['init', 'ru', '--name', 'ru', '--base', BUSYBOX], work)).code).toBe(0);
    root = join(work, 'ru');
    await writeFile(join(root, 'code/sq.sh'), 'echo $(($1 * $1)) > output/square.txt\n');
  });

  /** `reprise run … --json -- CMD`: the flag before the command's `--`. */
  const run = async (flags: string[], command: string[]): Promise<Result> => {
    const r = await cli.run(['run', ...flags, '--json', '--', ...command], root);
    expect(r.code, `${r.stderr}${r.stdout}`).toBe(0);
    return JSON.parse(r.stdout) as Result;
  };

  afterAll(async () => {
    await cli?.run(['agent', 'stop'], root);
  });

  describe(`run --reuse --on ${kind}`, () => {
    let local: Result;
    let reused: { runId: string; mark: M } | undefined;

    it(`a run recorded on Docker is reused on ${kind}: no job there`, async () => {
      local = await run([], ['sh', 'code/sq.sh', '7']);
      expect(local.state).toBe('succeeded');
      const mark = since();
      const r = await run(['--reuse', '--on', name], ['sh', 'code/sq.sh', '7']);
      expect(r).toMatchObject({ state: 'reused', reusedFrom: local.runId, exitCode: 0 });
      reused = { runId: r.runId, mark };
      expect(await jobsFor(r.runId, mark)).toBe(0);
    }, 600_000);

    it(`the control: a new command runs on ${kind}, and its job is seen (the reused run's still is not)`, async () => {
      const mark = since();
      const ran = await run(['--reuse', '--on', name], ['sh', 'code/sq.sh', '8']);
      expect(ran.state).toBe('succeeded');
      // The cluster's accounting may lag a job that has ended (slurmdbd): asked until it knows it.
      expect(await waitFor('the control job in the cluster\'s accounting', async () => (await jobsFor(ran.runId, mark)) || undefined, 60_000)).toBeGreaterThan(0);
      // Now that the accounting is known to have caught up past it, the reused run had no job.
      if (reused) expect(await jobsFor(reused.runId, reused.mark)).toBe(0);
    }, 600_000);
  });
}
