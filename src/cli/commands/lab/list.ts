import { BaseCommand } from '../../base-command.js';
import { LabClient } from '../../../client/labs.js';
import { RunClient } from '../../../client/runs.js';
import { readLabs } from '../../../project/lab-history.js';
import { labAppOf } from '../../../project/lab-record.js';
import { table } from '../../table.js';

interface LabRow {
  labId: string;
  state: string;
  backend: string;
  app: string;
  started: string;
  checkpoints: number;
  executions: number;
}

export default class LabList extends BaseCommand {
  static override summary = 'Lab sessions of this project: running ones (from the agent) and recorded ones (from history).';

  async run(): Promise<LabRow[]> {
    const project = await this.project();
    const rows = new Map<string, LabRow>();
    for (const l of await readLabs(project.root)) {
      rows.set(l.labId, { labId: l.labId, state: l.state, backend: l.backend, app: l.app, started: l.startedAt, checkpoints: l.checkpoints, executions: l.executions });
    }
    // The agent may be down: the recorded sessions are still listed.
    const runs = await RunClient.connect(this.env, { start: false }).catch(() => undefined);
    if (runs) {
      try {
        const labs = new LabClient(runs);
        for (const live of await labs.list(project.spec.id)) {
          if (live.status !== 'RUNNING') continue;
          const p = await labs.progress(live.labId).catch(() => undefined);
          const recorded = rows.get(live.labId);
          rows.set(live.labId, {
            labId: live.labId,
            state: p?.state ?? 'running',
            backend: live.backend,
            app: labAppOf({ app: p?.app ?? recorded?.app }),
            started: live.startTime,
            checkpoints: p?.checkpoints ?? recorded?.checkpoints ?? 0,
            executions: p?.executions ?? recorded?.executions ?? 0,
          });
        }
      } finally {
        await runs.close();
      }
    }
    const list = [...rows.values()].sort((a, b) => b.started.localeCompare(a.started));
    if (list.length === 0) this.say('no lab sessions yet; start one with: reprise lab');
    else this.say(table(['LAB', 'STATE', 'BACKEND', 'APP', 'STARTED', 'CHECKPOINTS', 'CELLS'], list.map((r) => [r.labId, r.state, r.backend, r.app, r.started, String(r.checkpoints), String(r.executions)])));
    return list;
  }
}
