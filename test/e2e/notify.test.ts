// `reprise notify add|list|remove|test` through the built CLI: notifiers are kept in the user
// config (mode 0600), shown without their webhook tokens, tested against a real HTTP receiver
// and a real SMTP server; bad input exits 2 with one line and saves nothing.
import { readFileSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cli, cliEnv } from '../helpers/cli.js';
import { SmtpServer, WebhookReceiver } from '../helpers/notify-receivers.js';
import { tempDir } from '../helpers/project.js';

let cli: Cli;
let home: string;
const configFile = () => join(home, 'config.yaml');
const configText = () => (existsSync(configFile()) ? readFileSync(configFile(), 'utf8') : '');

beforeAll(async () => {
  home = await tempDir('reprise-notify-cli-home-');
  cli = new Cli(await cliEnv(home));
});

describe('reprise notify', () => {
  let hook: WebhookReceiver;
  let smtp: SmtpServer;
  beforeAll(async () => {
    hook = await WebhookReceiver.start();
    smtp = await SmtpServer.start();
  });
  afterAll(async () => {
    await hook?.stop();
    await smtp?.stop();
  });

  it('add a webhook: kept in the user config (0600), listed by scheme and host only', async () => {
    const add = await cli.run(['notify', 'add', 'team', '--webhook', hook.url, '--format', 'slack', '--on', 'failed,cancelled', '--min-duration', '5m', '--backend', 'local'], '/');
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).not.toContain('SECRET-TOKEN');
    expect(statSync(configFile()).mode & 0o777).toBe(0o600);
    expect(configText()).toContain(hook.url);

    const list = await cli.run(['notify', 'list'], '/');
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/team\s+webhook \(slack\)\s+http:\/\/127\.0\.0\.1:\d+\s+failed or cancelled, at least 5m 0s, on local/);
    expect(list.stdout).not.toContain('SECRET-TOKEN');
    const json = await cli.json<Record<string, unknown>[]>(['notify', 'list'], '/');
    expect(json).toEqual([{ name: 'team', kind: 'webhook', format: 'slack', target: new URL(hook.url).origin, on: ['failed', 'cancelled'], minDurationSeconds: 300, backend: 'local', filters: 'failed or cancelled, at least 5m 0s, on local' }]);
    expect(JSON.stringify(json)).not.toContain('SECRET-TOKEN');
  });

  it('test sends a sample Slack message and reports the answer', async () => {
    const r = await cli.run(['notify', 'test', 'team'], '/');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('the receiver answered: HTTP 200 ok');
    expect(hook.requests).toHaveLength(1);
    const body = JSON.parse(hook.requests[0]!.body) as { text: string; blocks: { type: string }[] };
    expect(body.text).toMatch(/^run run-testmessage00 succeeded \(exit 0\) on local after 1m 23s$/);
    expect(body.blocks[0]!.type).toBe('section');
    expect(hook.requests[0]!.headers['reprise-delivery']).toMatch(/^test-\d+\/team$/);
  });

  it('test against a receiver that refuses: exit 3, the URL shown by scheme and host only', async () => {
    const refusing = await WebhookReceiver.start(() => 403);
    try {
      expect((await cli.run(['notify', 'add', 'refusing', '--webhook', refusing.url], '/')).code).toBe(0);
      const r = await cli.run(['notify', 'test', 'refusing'], '/');
      expect(r.code).toBe(3);
      expect(r.stderr.trim().split('\n')).toEqual([`Error: refusing: webhook ${new URL(refusing.url).origin} answered HTTP 403 try later`]);
      expect((await cli.run(['notify', 'remove', 'refusing'], '/')).code).toBe(0);
    } finally {
      await refusing.stop();
    }
  });

  it('email: needs the smtp settings, then test mails a plain-text message', async () => {
    const before = configText();
    const refused = await cli.run(['notify', 'add', 'me', '--email', 'alice@example.com'], '/');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^Error: no SMTP server to send email through; add an smtp: section/);
    expect(configText()).toBe(before);

    writeFileSync(configFile(), before + `smtp:\n  host: 127.0.0.1\n  port: ${smtp.port}\n  from: reprise@example.com\n  tls: none\n`);
    const add = await cli.run(['notify', 'add', 'me', '--email', 'alice@example.com'], '/');
    expect(add.code, add.stderr).toBe(0);
    const r = await cli.run(['notify', 'test', 'me'], '/');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/the receiver answered: 250 OK saved as 0001\.eml/);
    const [mail] = await smtp.waitFor(1);
    expect(mail).toMatch(/^Subject: \[reprise\] run run-testmessage00 succeeded$/m);
    expect(mail).toMatch(/^To: alice@example\.com$/m);
    expect(mail).toMatch(/^Reprise-Delivery: test-\d+\/me$/m);
    expect(mail).toContain('Exit code: 0');
  });

  it('remove: gone from list and config', async () => {
    const r = await cli.run(['notify', 'remove', 'me'], '/');
    expect(r.code).toBe(0);
    const names = (await cli.json<{ name: string }[]>(['notify', 'list'], '/')).map((n) => n.name);
    expect(names).toEqual(['team']);
  });

  it.each([
    ['a malformed URL', ['bad', '--webhook', 'hooks.example.com/x'], /^Error: --webhook: not a valid URL; give the full http/],
    ['a URL of another scheme', ['bad', '--webhook', 'ftp://example.com/x'], /^Error: --webhook: not a valid URL/],
    ['an unknown format', ['bad', '--webhook', 'https://example.com/x', '--format', 'xml'], /^Error: Expected --format=xml to be one of: slack, json$/],
    ['an unknown state', ['bad', '--webhook', 'https://example.com/x', '--on', 'failed,exploded'], /^Error: --on: unknown state "exploded"; use any of succeeded, failed, cancelled/],
    ['an unknown backend', ['bad', '--webhook', 'https://example.com/x', '--backend', 'hpc'], /^Error: unknown backend "hpc"; known backends: local/],
    ['a bad duration', ['bad', '--webhook', 'https://example.com/x', '--min-duration', '5 minutes'], /^Error: --min-duration: invalid time "5 minutes"/],
    ['a duplicate name', ['team', '--webhook', 'https://example.com/x'], /^Error: a notifier "team" exists already; remove it first/],
    ['a bad name', ['Team!', '--webhook', 'https://example.com/x'], /^Error: invalid notifier name "Team!"/],
    ['both a webhook and an email', ['bad', '--webhook', 'https://example.com/x', '--email', 'a@example.com'], /^Error: give exactly one of --webhook URL or --email ADDRESS$/],
    ['neither', ['bad'], /^Error: give exactly one of --webhook URL or --email ADDRESS$/],
    ['a malformed address', ['bad', '--email', 'alice at example.com'], /^Error: --email: "alice at example.com" is not an address/],
  ])('add refuses %s: exit 2, one line, nothing saved', async (_what, args, message) => {
    const before = configText();
    const r = await cli.run(['notify', 'add', ...args], '/');
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr.trim()).toMatch(message);
    expect(configText()).toBe(before);
  });

  it('remove and test of an unknown notifier: exit 2', async () => {
    for (const verb of ['remove', 'test']) {
      const r = await cli.run(['notify', verb, 'nobody'], '/');
      expect(r.code).toBe(2);
      expect(r.stderr.trim()).toBe('Error: no notifier "nobody"; list them with: reprise notify list');
    }
  });
});
