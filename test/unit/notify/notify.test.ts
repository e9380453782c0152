// Notices without services: what a message says (Slack, JSON, email), the log tail's bounds,
// the filters, and a webhook URL shown by scheme and host only.
import { describe, expect, it } from 'vitest';
import { notifierSchema, redactUrl, type Notifier } from '../../../src/config/notifiers.js';
import { parseYaml } from '../../../src/config/yaml-file.js';
import { userConfigSchema } from '../../../src/backends/user-config.js';
import { emailMessage, headline, jsonBody, slackBody } from '../../../src/notify/format.js';
import { dashboardLink, formatDuration, logTail, sampleNotice, type Notice } from '../../../src/notify/notice.js';
import { wants } from '../../../src/notify/select.js';

const notice = (over: Partial<Notice> = {}): Notice => ({ ...sampleNotice(new Date('2026-01-01T00:00:00Z')), ...over });
const notifier = (over: Record<string, unknown> = {}): Notifier => notifierSchema.parse({ kind: 'webhook', url: 'https://hooks.example.com/T/SECRET', ...over });

describe('log tail', () => {
  it('keeps the last lines, strips terminal escapes and bounds the characters', () => {
    const log = Array.from({ length: 50 }, (_, i) => `line ${i}`).join('\n') + '\n\x1b[31mred\x1b[0m\x1b]0;title\x07 end\r\n';
    const tail = logTail(log);
    expect(tail.split('\n')).toHaveLength(20);
    expect(tail.endsWith('line 49\nred end')).toBe(true);
    const long = logTail('x'.repeat(10_000));
    expect(long).toHaveLength(2000);
    expect(long.startsWith('…')).toBe(true);
  });
});

describe('formats', () => {
  it('headline, duration, dashboard link', () => {
    expect(formatDuration(3723)).toBe('1h 2m 3s');
    expect(formatDuration(5)).toBe('5s');
    expect(headline(notice({ state: 'failed', exitCode: 2 }))).toBe('run run-testmessage00 failed (exit 2) on local after 1m 23s');
    expect(dashboardLink('http://dash:8080/base/', 'sweep', 'sweep-abc')).toBe('http://dash:8080/base/#/sweeps/sweep-abc');
    expect(dashboardLink(undefined, 'run', 'run-x')).toBeUndefined();
  });

  it('Slack: text and blocks, markup in job output escaped, code blocks cannot be closed early', () => {
    const body = slackBody(notice({ logTail: 'a <@here> & ``` b', url: 'http://dash/#/runs/run-testmessage00' })) as { text: string; blocks: { type: string; text?: { text: string }; elements?: { text: string }[] }[] };
    expect(body.text).toBe(headline(notice()));
    const log = body.blocks.find((b) => b.text?.text.startsWith('*Last lines of the log*'))!.text!.text;
    expect(log).toBe("*Last lines of the log*\n```a &lt;@here&gt; &amp; ''' b```");
    expect(body.blocks.at(-1)).toEqual({ type: 'context', elements: [{ type: 'mrkdwn', text: '<http://dash/#/runs/run-testmessage00|Open in the dashboard>' }] });
  });

  it('JSON: the documented schema with the delivery id', () => {
    expect(jsonBody(notice(), 'run-x/hook')).toMatchObject({ schema: 'reprise.notification/v1', delivery: 'run-x/hook', kind: 'run', state: 'succeeded', exitCode: 0, durationSeconds: 83 });
  });

  it('email: subject with state and id, plain-text fields', () => {
    const { subject, text } = emailMessage(notice({ state: 'failed', exitCode: 1, command: ['sh', '-c', "echo 'hi'"] }));
    expect(subject).toBe('[reprise] run run-testmessage00 failed');
    expect(text).toContain('Exit code: 1');
    expect(text).toContain(`Command:   sh -c 'echo '\\''hi'\\'''`);
  });
});

describe('filters', () => {
  it('by end state, duration and backend (or pool)', () => {
    expect(wants(notifier(), notice())).toBe(true);
    expect(wants(notifier({ on: ['failed'] }), notice())).toBe(false);
    expect(wants(notifier({ minDurationSeconds: 84 }), notice())).toBe(false);
    expect(wants(notifier({ minDurationSeconds: 83 }), notice())).toBe(true);
    expect(wants(notifier({ backend: 'hpc' }), notice())).toBe(false);
    expect(wants(notifier({ backend: 'hpc' }), notice({ backend: 'hpc-a', pool: 'hpc' }))).toBe(true);
  });
});

describe('webhook secrets', () => {
  it('a URL is shown by scheme and host only', () => {
    expect(redactUrl('https://hooks.slack.com/services/T0/B0/XYZ?token=1')).toBe('https://hooks.slack.com');
    expect(redactUrl('http://user:pw@127.0.0.1:8080/x')).toBe('http://127.0.0.1:8080');
    expect(redactUrl('nonsense')).toBe('(an invalid URL)');
  });

  it('config.yaml: a notifier naming an unknown backend is refused with its key', () => {
    const yaml = 'notifiers:\n  team:\n    kind: webhook\n    url: https://example.com/x\n    backend: hpc\n';
    expect(() => parseYaml(yaml, userConfigSchema, 'config.yaml')).toThrow('config.yaml: key "notifiers.team.backend": "hpc" is not a configured backend; fix the file and retry');
  });
});
