import { Args } from '@oclif/core';
import { BaseCommand, runIdArg } from '../base-command.js';
import { RunClient } from '../../client/runs.js';
import { resolveRunId } from '../resolve-run.js';
import { badInput } from '../../errors.js';

export default class Cancel extends BaseCommand {
  static override summary = 'Cancel a run: its job is killed and the run is recorded as cancelled.';
  static override args = { run: Args.string(runIdArg) };

  async run(): Promise<{ runId: string; state: string }> {
    const { args } = await this.parse(Cancel);
    const project = await this.project();
    const client = await RunClient.connect(this.env, { start: true });
    try {
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
}
