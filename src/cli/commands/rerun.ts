import { Args, Flags } from '@oclif/core';
import { backendFlag, runIdArg } from '../base-command.js';
import { LaunchCommand } from '../launch.js';
import { rerunRequest } from '../../client/launch.js';
import { executedRecord, findRun, readRunRecord } from '../../project/history.js';
import type { RunResult } from '../../activities/types.js';

export default class Rerun extends LaunchCommand {
  static override summary = 'Run a recorded run again: same command, source commit and image digest (never rebuilt).';
  static override args = { run: Args.string(runIdArg) };
  static override flags = {
    on: backendFlag,
    detach: Flags.boolean({ char: 'd', description: 'start the rerun and print its id without waiting' }),
  };

  async run(): Promise<{ runId: string } & Partial<RunResult>> {
    const { args, flags } = await this.parse(Rerun);
    const project = await this.project();
    const record = await executedRecord(project.root, await readRunRecord(project.root, await findRun(project.root, args.run)));
    return this.launchAndReport({ ...rerunRequest(project, record, flags.on), detach: flags.detach });
  }
}
