import { Flags } from '@oclif/core';
import { access } from 'node:fs/promises';
import { BaseCommand } from '../../base-command.js';
import { dashboardKey, dashboardKeyFile, DashboardAuth } from '../../../dashboard/auth.js';
import { publicUrl } from '../../../dashboard/public-url.js';
import { parseDuration } from '../../../config/resources.js';
import { badInput } from '../../../errors.js';

export default class DashboardLogin extends BaseCommand {
  static override summary = 'Print a new one-time login URL for a dashboard serving with this key: for another person, or a browser that lost its session.';
  static override description =
    'The token is signed with the dashboard\'s session key ($REPRISE_HOME/dashboard.key, or --key-file), so any dashboard serving with that key takes it, once, until --ttl has passed; nothing is sent to the dashboard. In the team deployment: kubectl -n reprise exec deploy/reprise-dashboard -c dashboard -- node /opt/reprise/bin/run.js dashboard login';
  static override examples = ['<%= config.bin %> dashboard login', '<%= config.bin %> dashboard login --ttl 5m --url https://reprise.example.org'];
  static override flags = {
    url: Flags.string({ description: 'the address the dashboard is opened under (default: http://127.0.0.1:PORT)', env: 'REPRISE_DASHBOARD_URL' }),
    port: Flags.integer({ char: 'p', description: 'the dashboard\'s port, when --url is not given', default: 8484, min: 1, max: 65535 }),
    'key-file': Flags.string({ description: 'file holding the dashboard\'s session key, as given to `reprise dashboard --key-file`', env: 'REPRISE_DASHBOARD_KEY_FILE' }),
    ttl: Flags.string({ description: 'how long the URL may be used (e.g. 5m, 1h; at most 24h)', default: '15m' }),
  };

  async run(): Promise<{ url: string; expires: string }> {
    const { flags } = await this.parse(DashboardLogin);
    const base = publicUrl(flags.url)?.origin ?? `http://127.0.0.1:${flags.port}`;
    let ttl: number;
    try {
      ttl = parseDuration(flags.ttl);
    } catch {
      throw badInput(`--ttl ${JSON.stringify(flags.ttl)} is not a duration; give e.g. 5m, 1h or 24h`);
    }
    if (ttl > 24 * 3600) throw badInput(`--ttl ${flags.ttl} is longer than a day; a login URL is for now: give at most 24h`);
    // A key made here would be no dashboard's: signing with it would print a URL that nothing takes.
    if (!flags['key-file'] && !(await access(dashboardKeyFile(this.env.home)).then(() => true, () => false)))
      throw badInput(`no dashboard key in ${this.env.home}: start \`reprise dashboard\` with this REPRISE_HOME first, or give the key of the one serving with --key-file`);
    const auth = new DashboardAuth(await dashboardKey(this.env.home, flags['key-file']));
    const url = `${base}/login?token=${auth.signLoginToken(ttl)}`;
    const expires = new Date(Date.now() + ttl * 1000).toISOString();
    this.say(url);
    this.note(`one-time, valid until ${expires}`);
    return { url, expires };
  }
}
