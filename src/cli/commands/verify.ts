import { Args } from '@oclif/core';
import { BaseCommand, backendFlag, runIdArg } from '../base-command.js';
import { describeResult, launch } from '../launch.js';
import { rerunRequest } from '../../client/launch.js';
import { executedRecord, findRun, readRunRecord } from '../../project/history.js';
import { compareOutputs, type OutputComparison } from '../../project/compare.js';
import { ExitCode } from '../../errors.js';
import { table } from '../table.js';

export default class Verify extends BaseCommand {
  static override summary = 'Rerun a recorded run (on any backend) and check that it gives the same outputs.';
  static override description =
    'Exit 0 when every output file has the same sha256 as in the original run, 1 when they differ. A large output kept as data is compared by its pointer (its content digest), so neither run\'s bytes are downloaded to compare.';
  static override examples = ['<%= config.bin %> verify 3f2k9qxa', '<%= config.bin %> verify 3f2k9qxa --on hpc'];
  static override args = { run: Args.string(runIdArg) };
  static override flags = { on: backendFlag };

  async run(): Promise<{ original: string; rerun: string } & OutputComparison> {
    const { args, flags } = await this.parse(Verify);
    const project = await this.project();
    const original = await executedRecord(project.root, await readRunRecord(project.root, await findRun(project.root, args.run)));
    const outcome = await launch(this.env, { ...rerunRequest(project, original, flags.on), detach: false, json: this.jsonEnabled() });
    this.note(describeResult(outcome.result!));
    if (outcome.result!.state !== 'succeeded' && original.state === 'succeeded') this.exit(outcome.exitCode);
    // The rerun's record commit is known: read it there rather than walking the feed again.
    const rerun = await readRunRecord(project.root, { runId: outcome.runId, commit: outcome.result!.commit });
    const comparison = { original: original.runId, rerun: rerun.runId, ...compareOutputs(original.outputs, rerun.outputs) };
    this.say(table(['OUTPUT', 'VERDICT'], comparison.files.map((f) => [f.path, f.verdict])));
    this.say(
      comparison.identical
        ? `verified: ${rerun.runId} reproduced the ${comparison.files.length} output file(s) of ${original.runId}`
        : `NOT reproduced: ${comparison.files.filter((f) => f.verdict !== 'same').length} of ${comparison.files.length} output file(s) differ from ${original.runId}`,
    );
    return this.withExitCode(comparison, comparison.identical ? ExitCode.ok : ExitCode.jobFailed);
  }
}
