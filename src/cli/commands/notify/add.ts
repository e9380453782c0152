import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { readPasswordFrom } from '../../url-password.js';
import { endStates, notifierName, notifierSchema, webhookFormats, webhookUrl, emailAddress, type Notifier } from '../../../config/notifiers.js';
import { parseDuration } from '../../../config/resources.js';
import { loadUserConfig, resolveBackend, saveUserConfig } from '../../../backends/user-config.js';
import { paths } from '../../../config/env.js';
import { badInput } from '../../../errors.js';
import { describeNotifier, type NotifierView } from '../../notifier-view.js';

export default class NotifyAdd extends BaseCommand {
  static override summary = 'Tell a webhook (Slack or JSON) or an email address when runs, sweeps and labs end.';
  static override description =
    'Sent by the worker once the record is committed, at most once per run and notifier. Stored in your user config (mode 0600), never in the project. Email needs an smtp: section in that config (docs/notifications.md).';
  static override examples = [
    'printf %s "$SLACK_WEBHOOK" | <%= config.bin %> notify add team --webhook-stdin --format slack --on failed',
    '<%= config.bin %> notify add me --email alice@example.com --min-duration 10m --backend hpc',
  ];
  static override args = { name: Args.string({ description: 'notifier name (lowercase letters, digits, dashes)', required: true }) };
  static override flags = {
    webhook: Flags.string({ description: 'URL to POST each notice to (it usually carries a token: prefer --webhook-stdin, a command line is visible to every local account with ps)', exclusive: ['webhook-stdin'] }),
    'webhook-stdin': Flags.boolean({ description: 'read the webhook URL from standard input (kept in the user config only, never on a command line)' }),
    format: Flags.string({ description: 'body of the webhook POST: Slack incoming-webhook JSON, or the documented JSON schema', options: [...webhookFormats] }),
    email: Flags.string({ description: 'address to mail each notice to (through the smtp: server of the user config)' }),
    on: Flags.string({ description: `end states that notify, comma-separated (${endStates.join(', ')}); default all` }),
    'min-duration': Flags.string({ description: 'only what ran at least this long (90s, 5m, 1h)' }),
    backend: Flags.string({ description: 'only what ran on this backend (or pool)' }),
  };

  async run(): Promise<NotifierView> {
    const { args, flags } = await this.parse(NotifyAdd);
    const onArgv = flags.webhook !== undefined;
    if (flags['webhook-stdin']) flags.webhook = (await readPasswordFrom(process.stdin, '--webhook-stdin')).trim();
    if ((flags.webhook === undefined) === (flags.email === undefined)) throw badInput('give exactly one of --webhook URL or --email ADDRESS');
    if (flags.format && flags.email !== undefined) throw badInput('--format is for webhooks; an email is plain text');
    const name = notifierName.safeParse(args.name);
    if (!name.success) throw badInput(`invalid notifier name "${args.name}": ${name.error.issues[0]!.message}`);
    const config = await loadUserConfig(this.env.home);
    if (config.notifiers?.[args.name]) throw badInput(`a notifier "${args.name}" exists already; remove it first (reprise notify remove ${args.name}) or pick another name`);

    const on = flags.on?.split(',').map((s) => s.trim());
    const unknown = on?.find((s) => !(endStates as readonly string[]).includes(s));
    if (unknown !== undefined) throw badInput(`--on: unknown state "${unknown}"; use any of ${endStates.join(', ')}, comma-separated`);
    let minDurationSeconds: number | undefined;
    if (flags['min-duration'] !== undefined) {
      try {
        minDurationSeconds = parseDuration(flags['min-duration']);
      } catch (err) {
        throw badInput(`--min-duration: ${(err as Error).message}`);
      }
    }
    if (flags.backend !== undefined) resolveBackend(config, flags.backend);

    const filters = { ...(on ? { on } : {}), ...(minDurationSeconds !== undefined ? { minDurationSeconds } : {}), ...(flags.backend ? { backend: flags.backend } : {}) };
    let candidate: unknown;
    if (flags.webhook !== undefined) {
      // The URL is never echoed back whole: it usually carries the webhook's token.
      if (!webhookUrl.safeParse(flags.webhook).success) throw badInput('--webhook: not a valid URL; give the full http:// or https:// URL the receiver gave you');
      candidate = { kind: 'webhook', url: flags.webhook, format: flags.format ?? 'json', ...filters };
    } else {
      if (!emailAddress.safeParse(flags.email).success) throw badInput(`--email: "${flags.email}" is not an address such as alice@example.com`);
      if (!config.smtp) throw badInput(`no SMTP server to send email through; add an smtp: section (host, port, from) to ${paths.userConfig(this.env.home)} first (docs/notifications.md)`);
      candidate = { kind: 'email', to: flags.email, ...filters };
    }
    const notifier: Notifier = notifierSchema.parse(candidate);
    config.notifiers = { ...config.notifiers, [args.name]: notifier };
    await saveUserConfig(this.env.home, config);
    if (onArgv) this.note('warning: a webhook URL is usually its own credential, and a command line is visible to every account on this machine (ps) while it runs; next time use --webhook-stdin and give the URL on standard input');
    const view = describeNotifier(args.name, notifier);
    this.say(`added notifier ${args.name}: ${view.target} (${view.filters})`);
    return view;
  }
}
