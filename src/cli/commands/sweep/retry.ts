import { Args, Flags } from '@oclif/core';
import { BaseCommand, backendFlag } from '../../base-command.js';
import { sweepRetryInput } from '../../../client/sweep-retry.js';
import { readSweepRecord } from '../../../project/history.js';
import { describeSweep, launchSweep, sweepExitCode } from '../../sweep-launch.js';
import type { SweepResult } from '../../../activities/types.js';

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
    const input = await sweepRetryInput(this.env, project, record, { backend: flags.on, maxParallel: flags['max-parallel'] });
    if (!input) {
      this.say(`every point of ${record.sweepId} succeeded; nothing to retry`);
      return { retried: 0 };
    }
    const { sweepId } = input;
    const result = await launchSweep(this.env, input, { detach: flags.detach, json: this.jsonEnabled() });
    if (!result) {
      this.say(sweepId);
      return { sweepId, retried: input.points.length };
    }
    this.note(describeSweep(result));
    return this.withExitCode(result, sweepExitCode(result));
  }
}
