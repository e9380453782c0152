import { Flags } from '@oclif/core';
import { BaseCommand } from '../base-command.js';
import { RunClient } from '../../client/runs.js';
import { createDashboard } from '../../dashboard/server.js';
import { badInput } from '../../errors.js';

export default class Dashboard extends BaseCommand {
  static override summary = "Serve a read-only web dashboard of this project's runs and activity feed (Ctrl-C stops it).";
  static override enableJsonFlag = false;
  static override flags = {
    port: Flags.integer({ char: 'p', description: 'port to listen on', default: 8484, min: 0, max: 65535 }),
    host: Flags.string({ description: 'address to listen on (loopback by default; the dashboard has no authentication)', default: '127.0.0.1' }),
    'allowed-host': Flags.string({ description: 'a host name the dashboard may be opened under besides IP addresses, localhost and this machine\'s name (repeatable)', multiple: true }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Dashboard);
    const project = await this.project();
    const client = await RunClient.connect(this.env, { start: true });
    const server = createDashboard(project, client, { allowedHosts: [flags.host, ...(flags['allowed-host'] ?? [])] });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(err.code === 'EADDRINUSE' ? badInput(`port ${flags.port} is in use; pick another with --port`) : err),
      );
      server.listen(flags.port, flags.host, resolve);
    });
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : flags.port;
    this.log(`dashboard for ${project.spec.name}: http://${flags.host}:${port}/`);
    await new Promise<void>((resolve) => {
      const stop = () => server.close(() => resolve());
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await client.close();
  }
}
