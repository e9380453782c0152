import { Args } from '@oclif/core';
import { BaseCommand, runIdArg } from '../base-command.js';
import { RunClient } from '../../client/runs.js';
import { resolveRunId } from '../resolve-run.js';
import { badInput } from '../../errors.js';
import { isSweepId, SWEEP_ID } from '../../project/sweep-record.js';
import { describeSweep } from '../sweep-launch.js';
import type { SweepResult } from '../../activities/types.js';

export default class Cancel extends BaseCommand {
  static override summary = 'Cancel a run (its job is killed, the run recorded as cancelled) or a sweep (every point that runs, none started after).';
  static override args = { run: Args.string({ ...runIdArg, description: 'run id (or a unique prefix of it), or a sweep id (sweep-…)' }) };

  async run(): Promise<{ runId: string; state: string } | SweepResult> {
    const { args } = await this.parse(Cancel);
    const project = await this.project();
    const client = await RunClient.connect(this.env, { start: true });
    try {
      if (isSweepId(args.run)) return await this.cancelSweep(client, args.run);
      const runId = await resolveRunId(project, args.run, client);
      const desc = await client.handle(runId).describe().catch(() => undefined);
      if (!desc || desc.status.name !== 'RUNNING') {
        throw badInput(`run ${runId} is not running (${desc?.status.name.toLowerCase() ?? 'recorded'}); nothing to cancel`);
      }
      await client.cancel(runId);
      const result = await client.result(runId);
      this.say(`run ${runId} ${result.state}`);
      return { runId, state: result.state };
    } finally {
      await client.close();
    }
  }

  private async cancelSweep(client: RunClient, sweepId: string): Promise<SweepResult> {
    if (!SWEEP_ID.test(sweepId)) throw badInput(`"${sweepId}" is not a sweep id (sweep- and 12 letters or digits); give the whole id`);
    const desc = await client.handle(sweepId).describe().catch(() => undefined);
    if (!desc || desc.status.name !== 'RUNNING') throw badInput(`sweep ${sweepId} is not running (${desc?.status.name.toLowerCase() ?? 'unknown to the agent'}); nothing to cancel`);
    await client.cancel(sweepId);
    const result = await client.sweepResult(sweepId);
    this.say(describeSweep(result));
    return result;
  }
}
