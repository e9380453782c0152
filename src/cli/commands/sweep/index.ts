import { Flags } from '@oclif/core';
import { BaseCommand, backendFlag } from '../../base-command.js';
import { resourceFlags, resolveResources, resolveReuse, reuseFlag } from '../../run-flags.js';
import { badInput } from '../../../errors.js';
import { workdirOf } from '../../../project/workdir.js';
import { expandGrid, parseParams } from '../../../client/sweep-grid.js';
import { loadUserConfig, resolveBackend, DEFAULT_BACKEND } from '../../../backends/user-config.js';
import { describeSweep, launchSweep, newSweepId, sweepExitCode } from '../../sweep-launch.js';
import type { SweepResult } from '../../../activities/types.js';

export default class Sweep extends BaseCommand {
  static override summary = 'Run a command over a grid of parameters: each point is a recorded run, the sweep a summary commit.';
  static override description =
    'Placeholders {name} in the command are replaced per argument, never through a shell. Each point runs as its own run (and commit); when all have ended, one summary commit lists every point with its parameters, state, exit code and outputs. Write each point\'s outputs to its own file (e.g. output/{lr}-{seed}.csv).';
  static override examples = [
    '<%= config.bin %> sweep --param lr=0.1,0.01 --param seed=1..5 -- python3 code/train.py --lr {lr} --seed {seed}',
    '<%= config.bin %> sweep --on hpc --max-parallel 4 --param n=1..100 -- python3 code/sim.py {n}',
  ];
  static override strict = false;
  static override flags = {
    param: Flags.string({ char: 'p', description: 'a parameter and its values: name=a,b,c or name=1..5 (name=0..100:10 with a step); repeatable', multiple: true }),
    on: backendFlag,
    'max-parallel': Flags.integer({ description: 'at most N points at once (the backend\'s maxParallel holds too)', min: 1 }),
    array: Flags.boolean({ description: 'slurm: submit every point as one job array (one sbatch); each point is still its own run' }),
    ...resourceFlags,
    ...reuseFlag,
    detach: Flags.boolean({ char: 'd', description: 'start the sweep and print its id without waiting' }),
  };

  async run(): Promise<SweepResult | { sweepId: string }> {
    const { flags, argv } = await this.parse(Sweep);
    const separator = this.argv.indexOf('--');
    const template = separator >= 0 ? this.argv.slice(separator + 1) : (argv as string[]);
    if (template.length === 0 || template.every((a) => !a.trim())) {
      throw badInput('no command given; put it after --, e.g.: reprise sweep --param n=1..3 -- python3 code/sim.py {n}');
    }
    const params = parseParams(flags.param ?? []);
    const points = expandGrid(template, params);
    const project = await this.project();
    const backend = flags.on ?? project.spec.backend ?? DEFAULT_BACKEND;
    if (!this.env.team) {
      const { config } = resolveBackend(await loadUserConfig(this.env.home), backend);
      if (flags.array && config.kind !== 'slurm') throw badInput(`--array needs a slurm backend, and ${backend} is ${config.kind}; leave out --array`);
    }
    const sweepId = newSweepId();
    const result = await launchSweep(
      this.env,
      {
        sweepId,
        projectRoot: project.root,
        projectId: project.spec.id,
        backend,
        template,
        params,
        workdir: workdirOf(project.root, process.cwd()) || undefined,
        resources: resolveResources(flags, project.spec),
        points,
        maxParallel: flags['max-parallel'],
        ...(flags.array ? { array: true } : {}),
        ...(resolveReuse(flags.reuse, project.spec) ? { reuse: true } : {}),
      },
      { detach: flags.detach, json: this.jsonEnabled() },
    );
    if (!result) {
      this.say(sweepId);
      return { sweepId };
    }
    this.note(describeSweep(result));
    return this.withExitCode(result, sweepExitCode(result));
  }
}
