import { Flags } from '@oclif/core';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { BaseCommand } from '../../base-command.js';
import { RunClient } from '../../../client/runs.js';
import { createDashboard } from '../../../dashboard/server.js';
import { dashboardKey, DashboardAuth } from '../../../dashboard/auth.js';
import { badInput } from '../../../errors.js';
import { publicUrl } from '../../../dashboard/public-url.js';

const loopback = (host: string) => host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
const wildcard = (host: string) => host === '0.0.0.0' || host === '::';

export default class Dashboard extends BaseCommand {
  static override summary = "Serve the web dashboard of this project: feed, runs, sweeps and labs, live; actions after login (Ctrl-C stops it).";
  static override description =
    'The printed URL carries a one-time login: opening it gives this browser a session that may cancel, rerun and stop (`reprise dashboard login` prints another, for another person). Reading is open on loopback; on any other address it needs the login too.';
  static override enableJsonFlag = false;
  static override flags = {
    port: Flags.integer({ char: 'p', description: 'port to listen on', default: 8484, min: 0, max: 65535 }),
    host: Flags.string({ description: 'address to listen on (loopback by default; any other address needs the login to read)', default: '127.0.0.1' }),
    url: Flags.string({
      description: 'the address people open the dashboard under (a port-forward, an ingress): printed with the login token, its host name allowed',
      env: 'REPRISE_DASHBOARD_URL',
    }),
    'key-file': Flags.string({
      description: 'file holding the HMAC key of sessions (64 hex characters, e.g. from a Secret), instead of $REPRISE_HOME/dashboard.key',
      env: 'REPRISE_DASHBOARD_KEY_FILE',
    }),
    'allowed-host': Flags.string({ description: 'a host name the dashboard may be opened under besides IP addresses, localhost and this machine\'s name (repeatable)', multiple: true }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Dashboard);
    const url = publicUrl(flags.url);
    const project = await this.project();
    const auth = new DashboardAuth(await dashboardKey(this.env.home, flags['key-file']));
    const client = await RunClient.connect(this.env, { start: true });
    const allowedHosts = [flags.host, ...(url ? [url.hostname.replace(/^\[|\]$/g, '')] : []), ...(flags['allowed-host'] ?? [])];
    const server = createDashboard(project, client, { auth, allowedHosts, loginToRead: !loopback(flags.host) });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(err.code === 'EADDRINUSE' ? badInput(`port ${flags.port} is in use; pick another with --port`) : err),
      );
      server.listen(flags.port, flags.host, resolve);
    });
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : flags.port;
    // Bound to every address, the listening address is no place to open: this machine's name is (the Host check allows it).
    const host = wildcard(flags.host) ? hostname() : flags.host;
    const base = url ? url.origin : `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    this.log(`dashboard for ${project.spec.name}: ${base}/login?token=${auth.issueLoginToken()}`);
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
