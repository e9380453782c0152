import { Args, Flags } from '@oclif/core';
import { BaseCommand, runIdArg } from '../base-command.js';
import { RunClient, readRunLog } from '../../client/runs.js';
import { JOB_LOG } from '../../activities/types.js';
import { findRun, readRecord } from '../../project/history.js';
import { followRun } from '../follow.js';
import { LogFollower } from '../../activities/log-tail.js';
import { resolveRunId } from '../resolve-run.js';

export default class Logs extends BaseCommand {
  static override summary = "Print a run's output; --follow streams it until the run ends.";
  static override enableJsonFlag = false;
  static override args = { run: Args.string(runIdArg) };
  static override flags = { follow: Flags.boolean({ char: 'f', description: 'keep streaming until the run ends' }) };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Logs);
    const project = await this.project();
    const recorded = await findRun(project.root, args.run).catch(() => undefined);
    if (recorded) {
      process.stdout.write((await readRecord(project.root, recorded)).log);
      return;
    }
    const client = await RunClient.connect(this.env, { start: true });
    try {
      const runId = await resolveRunId(project, args.run, client);
      if (flags.follow) {
        await followRun(client, runId, { write: (t) => process.stdout.write(t), showBuild: true, projectRoot: project.root });
      } else if (this.env.team) {
        // A team run's output so far, as far as its last heartbeat carries it (the whole log is in its record once it ends).
        const seen = await client.awaitDetails(runId);
        process.stdout.write(new LogFollower().next(seen.details?.log).text);
        if (seen.closed) this.note(`run ${runId} has ended: its whole log is in its record; bring it here with: reprise sync`);
      } else {
        process.stdout.write((await readRunLog(this.env, runId, JOB_LOG)) ?? '');
      }
    } finally {
      await client.close();
    }
  }
}
