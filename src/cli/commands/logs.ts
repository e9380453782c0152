import { Args, Flags } from '@oclif/core';
import { BaseCommand, runIdArg } from '../base-command.js';
import { RunClient, readRunLog } from '../../client/runs.js';
import { JOB_LOG } from '../../config/env.js';
import { findRun, readRecord } from '../../project/history.js';
import { followRun } from '../../client/follow.js';
import { terminalObserver } from '../follow-progress.js';
import { LogFollower } from '../../client/log-follower.js';
import { resolveRunId } from '../resolve-run.js';
import { forTerminal, terminalWriter } from '../../terminal-text.js';

const print = (text: string | Buffer) => process.stdout.write(forTerminal(text));

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
      print((await readRecord(project.root, recorded)).log);
      return;
    }
    const client = await RunClient.connect(this.env, { start: true });
    try {
      const runId = await resolveRunId(project, args.run, client);
      if (flags.follow) {
        const observer = terminalObserver(true);
        try {
          await followRun(client, runId, { write: terminalWriter(process.stdout), observer, projectRoot: project.root });
        } finally {
          observer.stop();
        }
      } else if (this.env.team) {
        // A team run's output so far, as far as its last heartbeat carries it (the whole log is in its record once it ends).
        const seen = await client.awaitDetails(runId);
        print(new LogFollower().next(seen.details?.log).text);
        if (seen.closed) this.note(`run ${runId} has ended: its whole log is in its record; bring it here with: reprise sync`);
      } else {
        print((await readRunLog(this.env, runId, JOB_LOG)) ?? '');
      }
    } finally {
      await client.close();
    }
  }
}
