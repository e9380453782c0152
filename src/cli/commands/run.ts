import { Flags } from '@oclif/core';
import { backendFlag } from '../base-command.js';
import { LaunchCommand } from '../launch.js';
import { resourceFlags, resolveResources, resolveReuse, reuseFlag } from '../run-flags.js';
import { badInput } from '../../errors.js';
import { workdirOf } from '../../project/workdir.js';
import type { RunResult } from '../../activities/types.js';

export default class Run extends LaunchCommand {
  static override summary = 'Run a command in the project image on a backend and record it as an activity commit.';
  static override description = 'Everything after -- is the command; it starts in the directory you run it from, inside the project. Pending edits in code/, input/ and .reprise/ are swept into the source commit first.';
  static override examples = [
    '<%= config.bin %> run -- python3 code/analysis.py --n 3',
    '<%= config.bin %> run --cpus 2 --memory 4G --time 1h -- python3 code/fit.py',
    '<%= config.bin %> run --detach -- python3 code/long.py',
    '<%= config.bin %> run --reuse -- python3 code/fit.py',
  ];
  static override strict = false;
  static override flags = {
    on: backendFlag,
    ...resourceFlags,
    ...reuseFlag,
    detach: Flags.boolean({ char: 'd', description: 'start the run and print its id without waiting' }),
  };

  async run(): Promise<{ runId: string } & Partial<RunResult>> {
    const { flags, argv } = await this.parse(Run);
    // After `--` the command is taken from the raw arguments: oclif's argv drops a word equal to
    // a flag's value (`--on local -- echo local` lost the second "local").
    const separator = this.argv.indexOf('--');
    const command = separator >= 0 ? this.argv.slice(separator + 1) : (argv as string[]);
    if (command.length === 0 || command.every((a) => !a.trim())) {
      throw badInput('no command given; put it after --, e.g.: reprise run -- python3 code/analysis.py');
    }
    const project = await this.project();
    return this.launchAndReport({
      project,
      command,
      workdir: workdirOf(project.root, process.cwd()),
      backend: flags.on,
      resources: resolveResources(flags, project.spec),
      detach: flags.detach,
      reuse: resolveReuse(flags.reuse, project.spec),
    });
  }
}
