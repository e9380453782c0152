import { Args, Flags } from '@oclif/core';
import { BaseCommand, backendFlag } from '../../base-command.js';
import { expandGrid } from '../../../client/sweep-grid.js';
import { currentBranch, readSweepRecord } from '../../../project/history.js';
import { loadUserConfig, resolveBackend } from '../../../config/user-config.js';
import { describeSweep, launchSweep, newSweepId, sweepExitCode } from '../../sweep-launch.js';
import type { SweepPointResult, SweepResult } from '../../../activities/types.js';
import { isSuccess } from '../../../project/run-record.js';

export default class SweepRetry extends BaseCommand {
  static override summary = 'Run the points of a recorded sweep that did not succeed again, with its recorded source commit and image.';
  static override description = 'A new sweep: its summary carries the points that succeeded over as they were and lists the new runs of the others.';
  static override examples = ['<%= config.bin %> sweep retry sweep-abcdefgh', '<%= config.bin %> sweep retry abcdefgh --on k8s'];
  static override args = { sweep: Args.string({ description: 'sweep id (or a unique prefix of it)', required: true }) };
  static override flags = {
    on: backendFlag,
    'max-parallel': Flags.integer({ description: 'at most N points at once', min: 1 }),
    detach: Flags.boolean({ char: 'd', description: 'start the retry and print its id without waiting' }),
  };

  async run(): Promise<SweepResult | { sweepId?: string; retried: number }> {
    const { args, flags } = await this.parse(SweepRetry);
    const project = await this.project();
    const { record } = await readSweepRecord(project.root, args.sweep);
    const again = new Set(record.points.filter((p) => !isSuccess(p.state)).map((p) => p.index));
    if (again.size === 0) {
      this.say(`every point of ${record.sweepId} succeeded; nothing to retry`);
      return { retried: 0 };
    }
    const backend = flags.on ?? record.backend;
    if (!this.env.team) resolveBackend(await loadUserConfig(this.env.home), backend);
    const kept: SweepPointResult[] = record.points
      .filter((p) => !again.has(p.index))
      .map((p) => ({ index: p.index, params: p.params, runId: p.runId, state: p.state, exitCode: p.exitCode, backend: p.backend, commit: p.commit }));
    const sweepId = newSweepId();
    const result = await launchSweep(
      this.env,
      {
        sweepId,
        projectRoot: project.root,
        projectId: project.spec.id,
        backend,
        template: record.template,
        params: record.params,
        workdir: record.workdir,
        resources: record.resources ?? {},
        points: expandGrid(record.template, record.params).filter((p) => again.has(p.index)),
        maxParallel: flags['max-parallel'],
        retry: {
          of: record.sweepId,
          kept,
          sources: { sourceCommit: record.sourceCommit, swept: false, branch: await currentBranch(project.root) },
          image: { digest: record.image.digest, reference: record.image.reference, environment: record.environment, reused: true },
        },
      },
      { detach: flags.detach, json: this.jsonEnabled() },
    );
    if (!result) {
      this.say(sweepId);
      return { sweepId, retried: again.size };
    }
    this.note(describeSweep(result));
    return this.withExitCode(result, sweepExitCode(result));
  }
}
