import { Args } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { LabClient } from '../../../client/labs.js';
import { RunClient } from '../../../client/runs.js';
import { describeLab, labExitCode } from '../../lab-launch.js';
import type { LabResult } from '../../../activities/types.js';

export default class LabStop extends BaseCommand {
  static override summary = 'Stop a lab session: its files and executed cells are brought back and recorded.';
  static override args = { id: Args.string({ description: 'lab id or a unique prefix (default: the project\'s only running session)' }) };

  async run(): Promise<LabResult> {
    const { args } = await this.parse(LabStop);
    const project = await this.project();
    const runs = await RunClient.connect(this.env, { start: false });
    try {
      const labs = new LabClient(runs);
      const live = await labs.resolveLive(project.spec.id, args.id);
      await labs.stop(live.labId);
      const result = await labs.result(live.labId);
      this.say(describeLab(result));
      return this.withExitCode(result, labExitCode(result));
    } finally {
      await runs.close();
    }
  }
}
