import { Flags } from '@oclif/core';
import { isIP } from 'node:net';
import { BaseCommand } from '../base-command.js';
import { RunClient } from '../../client/runs.js';
import { createDashboard } from '../../dashboard/server.js';
import { dashboardKey, DashboardAuth } from '../../dashboard/auth.js';
import { badInput } from '../../errors.js';

const loopback = (host: string) => host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));

export default class Dashboard extends BaseCommand {
  static override summary = "Serve the web dashboard of this project: feed, runs, sweeps and labs, live; actions after login (Ctrl-C stops it).";
  static override description =
    'The printed URL carries a one-time login: opening it gives this browser a session that may cancel, rerun and stop. Reading is open on loopback; on any other address it needs the login too.';
  static override enableJsonFlag = false;
  static override flags = {
    port: Flags.integer({ char: 'p', description: 'port to listen on', default: 8484, min: 0, max: 65535 }),
    host: Flags.string({ description: 'address to listen on (loopback by default; any other address needs the login to read)', default: '127.0.0.1' }),
    'allowed-host': Flags.string({ description: 'a host name the dashboard may be opened under besides IP addresses, localhost and this machine\'s name (repeatable)', multiple: true }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Dashboard);
    const project = await this.project();
    const client = await RunClient.connect(this.env, { start: true });
    const auth = new DashboardAuth(await dashboardKey(this.env.home));
    const server = createDashboard(project, client, { auth, allowedHosts: [flags.host, ...(flags['allowed-host'] ?? [])], loginToRead: !loopback(flags.host) });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(err.code === 'EADDRINUSE' ? badInput(`port ${flags.port} is in use; pick another with --port`) : err),
      );
      server.listen(flags.port, flags.host, resolve);
    });
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : flags.port;
    const shown = flags.host.includes(':') ? `[${flags.host}]` : flags.host;
    this.log(`dashboard for ${project.spec.name}: http://${shown}:${port}/login?token=${auth.issueLoginToken()}`);
    await new Promise<void>((resolve) => {
      const stop = () => {
        server.close(() => resolve());
        server.closeAllConnections(); // live log streams would hold the close open
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await client.close();
  }
}
