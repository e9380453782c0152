import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { LabClient } from '../../../client/labs.js';
import { RunClient } from '../../../client/runs.js';
import { notFound } from '../../../errors.js';
import { attachLab, describeLab, labBackend, labTunnel, type Attached } from '../../lab-launch.js';
import type { LabResult } from '../../../activities/types.js';
import { labApp } from '../../../lab/apps/index.js';

export default class LabOpen extends BaseCommand {
  static override summary = 'Open a new tunnel to a running lab session (after `lab --detach`, or when the first one was closed).';
  static override args = { id: Args.string({ description: 'lab id or a unique prefix (default: the project\'s only running session)' }) };
  static override flags = {
    port: Flags.integer({ description: 'local port of the tunnel (0: any free one)', default: 8888, min: 0, max: 65535 }),
    open: Flags.boolean({ description: 'open the browser once the lab answers' }),
  };

  async run(): Promise<LabResult | Attached | { labId: string }> {
    const { args, flags } = await this.parse(LabOpen);
    const project = await this.project();
    const runs = await RunClient.connect(this.env, { start: false });
    try {
      const labs = new LabClient(runs);
      const live = await labs.resolveLive(project.spec.id, args.id);
      const progress = await labs.progress(live.labId);
      if (!progress) throw notFound(`lab session ${live.labId} is not known to the agent any more; list sessions with: reprise lab list`);
      const backend = await labBackend(this.env, progress.backend);
      const local = await labTunnel(backend, progress.port, flags.port);
      const result = await attachLab(this.env, labs, backend, local, { labId: live.labId, app: labApp(progress.app ?? 'jupyterlab'), backend: progress.backend, remotePort: progress.port, localPort: flags.port, json: this.jsonEnabled(), open: flags.open, stopOnInterrupt: false }, (ready) => {
        if (this.jsonEnabled()) process.stdout.write(JSON.stringify(ready) + '\n');
      });
      if (result) this.note(describeLab(result));
      return result ?? { labId: live.labId };
    } finally {
      await runs.close();
    }
  }
}
