import { Flags } from '@oclif/core';
import { BaseCommand, backendFlag } from '../../base-command.js';
import { resourceFlags, resolveResources } from '../../run-flags.js';
import { parseDuration } from '../../../config/resources.js';
import { DEFAULT_BACKEND } from '../../../backends/user-config.js';
import { badInput } from '../../../errors.js';
import { LabClient, labRemotePort, newLabId } from '../../../client/labs.js';
import { RunClient } from '../../../client/runs.js';
import { attachLab, describeLab, labBackend, labExitCode, labTunnel, type Attached } from '../../lab-launch.js';
import type { LabResult } from '../../../activities/types.js';
import { LAB_APP_NAMES, labApp } from '../../../lab/apps/index.js';
import { loadEnvironment } from '../../../project/layout.js';

export default class Lab extends BaseCommand {
  static override summary = 'Open JupyterLab (or VS Code) in the project\'s image on any backend, tunnelled here; edits and executed cells are recorded.';
  static override description =
    'The lab runs as a job like a run (same image plus a layer with the app, same resources and time limit), reached at http://127.0.0.1:PORT through the backend (Docker network, SSH to the login node, or the API server\'s port-forward). Every --checkpoint-every, and when it stops, the files it changed under code/ and output/ and, in JupyterLab, the cells executed (code, status, duration, text outputs, images) are committed to the project. --app vscode opens VS Code (code-server) instead: its login password is the lab\'s token, and commands typed in its terminal are not recorded. With --json, a line {"labId","url",…} is printed once the lab answers, and the result when it ends.';
  static override examples = ['<%= config.bin %> lab', '<%= config.bin %> lab --app vscode', '<%= config.bin %> lab --on hpc --cpus 4 --time 2h --port 8890', '<%= config.bin %> lab stop'];
  static override flags = {
    on: backendFlag,
    app: Flags.string({ description: 'the app to open: jupyterlab, vscode (code-server) or rstudio (when the base image has RStudio Server)', options: [...LAB_APP_NAMES], default: 'jupyterlab' }),
    ...resourceFlags,
    port: Flags.integer({ description: 'local port of the tunnel (0: any free one)', default: 8888, min: 0, max: 65535 }),
    open: Flags.boolean({ description: 'open the browser once the lab answers' }),
    detach: Flags.boolean({ char: 'd', description: 'start the session and print its id; reach it later with: reprise lab open ID' }),
    'checkpoint-every': Flags.string({ description: 'how often edits and executed cells are brought back and committed', default: '15s' }),
  };

  async run(): Promise<LabResult | Attached | { labId: string }> {
    const { flags } = await this.parse(Lab);
    if (this.env.team) throw badInput('labs run on the local agent only; unset REPRISE_TEAM to open one');
    const project = await this.project();
    const backendName = flags.on ?? project.spec.backend ?? DEFAULT_BACKEND;
    let checkpointSeconds: number;
    try {
      checkpointSeconds = parseDuration(flags['checkpoint-every']);
    } catch (err) {
      throw badInput(`--checkpoint-every: ${(err as Error).message}`);
    }
    if (checkpointSeconds < 2) throw badInput('--checkpoint-every: at least 2s');
    const app = labApp(flags.app);
    const resources = resolveResources(flags, project.spec);
    const backend = await labBackend(this.env, backendName);
    const labId = newLabId();
    const remotePort = labRemotePort(labId);
    // The local port first: a taken one is refused before anything starts.
    const local = flags.detach ? undefined : await labTunnel(backend, remotePort, flags.port);
    const runs = await RunClient.connect(this.env, { start: true });
    try {
      const labs = new LabClient(runs);
      await labs.start(
        { runId: labId, projectRoot: project.root, backend: backendName, command: app.command, resources, lab: { port: remotePort, checkpointSeconds, ...(app.name === 'jupyterlab' ? {} : { app: app.name }) } },
        project.spec.id,
      );
      if (!local) {
        backend.close?.();
        this.say(labId);
        return { labId };
      }
      // Only for the one line about a missing R kernel: a spec that does not load says nothing here.
      const environment = await loadEnvironment(project.root).catch(() => undefined);
      const result = await attachLab(this.env, labs, backend, local, { labId, app, backend: backendName, remotePort, localPort: flags.port, json: this.jsonEnabled(), open: flags.open, stopOnInterrupt: true, environment }, (ready) => {
        if (this.jsonEnabled()) process.stdout.write(JSON.stringify(ready) + '\n');
      });
      if (!result) return { labId };
      this.note(describeLab(result));
      return this.withExitCode(result, labExitCode(result));
    } finally {
      await runs.close();
    }
  }
}
