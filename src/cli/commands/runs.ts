import { Flags } from '@oclif/core';
import { BaseCommand } from '../base-command.js';
import { RunClient } from '../../client/runs.js';
import { commandText, table } from '../table.js';

interface RunRow {
  runId: string;
  state: string;
  backend: string;
  started: string;
  command: string[];
  workdir?: string;
  /** A job still queued on its backend: why, in the scheduler's words. */
  waiting?: string;
  /** The sweep this run is a point of. */
  sweepId?: string;
}

export default class Runs extends BaseCommand {
  static override summary = "List this project's runs with their live state (from the agent).";
  static override flags = { limit: Flags.integer({ char: 'n', description: 'at most N runs', default: 20, min: 1 }) };

  async run(): Promise<RunRow[]> {
    const { flags } = await this.parse(Runs);
    const project = await this.project();
    const client = await RunClient.connect(this.env, { start: true });
    try {
      const rows: RunRow[] = (await client.listWithState(project, flags.limit)).map((r) => ({
        runId: r.runId,
        state: r.state,
        backend: r.backend,
        started: r.startTime,
        command: r.command,
        workdir: r.workdir,
        ...(r.waiting ? { waiting: r.waiting } : {}),
        ...(r.sweepId ? { sweepId: r.sweepId } : {}),
      }));
      if (rows.length === 0) this.say('no runs yet; start one with: reprise run -- <command>');
      else {
        const state = (r: RunRow) => (r.waiting ? `${r.state}, waiting: ${r.waiting}` : r.state);
        const line = (r: RunRow) => [r.runId, state(r), r.backend, r.started, commandText(r.command, r.workdir)];
        // A sweep's points side by side, the sweep named in its own column.
        if (!rows.some((r) => r.sweepId)) this.say(table(['RUN', 'STATE', 'BACKEND', 'STARTED', 'COMMAND'], rows.map(line)));
        else {
          const order = [...new Map(rows.map((r) => [r.sweepId ?? r.runId, true])).keys()];
          const sorted = order.flatMap((key) => rows.filter((r) => (r.sweepId ?? r.runId) === key));
          this.say(table(['SWEEP', 'RUN', 'STATE', 'BACKEND', 'STARTED', 'COMMAND'], sorted.map((r) => [r.sweepId ?? '', ...line(r)])));
        }
      }
      return rows;
    } finally {
      await client.close();
    }
  }
}
