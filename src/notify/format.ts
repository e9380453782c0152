import type { WebhookFormat } from '../config/notifiers.js';
import { formatDuration, type Notice } from './notice.js';

/** The version of the JSON body (docs/notifications.md); bumped only when a field changes meaning. */
export const JSON_SCHEMA = 'reprise.notification/v1';

/** One line: what ended, how, where, after how long. */
export function headline(n: Notice): string {
  const what = n.kind === 'lab' ? `lab ${n.id}` : `${n.kind} ${n.id}`;
  const exit = n.exitCode !== undefined && n.kind !== 'sweep' ? ` (exit ${n.exitCode})` : '';
  return `${what} ${n.state}${exit} on ${n.backend} after ${formatDuration(n.durationSeconds)}`;
}

const commandText = (n: Notice) => (n.kind === 'lab' ? 'JupyterLab' : n.command.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' '));

function pointsText(n: Notice): string | undefined {
  const p = n.points;
  if (!p) return undefined;
  const parts = [['succeeded', p.succeeded], ['failed', p.failed], ['cancelled', p.cancelled], ['not started', p.notStarted]].filter(([, c]) => c) as [string, number][];
  return `${p.total} points: ${parts.map(([s, c]) => `${c} ${s}`).join(', ')}`;
}

export function jsonBody(n: Notice, delivery: string): unknown {
  return { schema: JSON_SCHEMA, delivery, ...n };
}

/** Slack's mrkdwn treats &, < and > as markup. */
const slackEscape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
/** A code block that the text cannot close early; Slack caps a section's text at 3000 characters. */
const slackCode = (text: string) => '```' + slackEscape(text).replace(/```/g, "'''").slice(0, 2900) + '```';

/** Slack incoming-webhook JSON: `text` (notifications, fallbacks) and `blocks` (the message). */
export function slackBody(n: Notice): unknown {
  const icon = n.endState === 'succeeded' ? ':white_check_mark:' : n.endState === 'cancelled' ? ':no_entry_sign:' : ':x:';
  const fields = [
    ['State', n.state],
    ...(n.exitCode !== undefined && n.kind !== 'sweep' ? [['Exit code', String(n.exitCode)]] : []),
    ['Duration', formatDuration(n.durationSeconds)],
    ['Backend', n.backend],
    ['Project', n.project],
    ...(n.points ? [['Points', pointsText(n)!]] : []),
  ];
  const blocks: unknown[] = [
    { type: 'section', text: { type: 'mrkdwn', text: `${icon} *${slackEscape(headline(n))}*${n.reason ? `\n${slackEscape(n.reason)}` : ''}` } },
    { type: 'section', fields: fields.map(([k, v]) => ({ type: 'mrkdwn', text: `*${k}*\n${slackEscape(v!)}` })) },
    { type: 'section', text: { type: 'mrkdwn', text: `*Command*\n${slackCode(commandText(n))}` } },
  ];
  if (n.logTail) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: `*${n.kind === 'sweep' ? 'Points' : 'Last lines of the log'}*\n${slackCode(n.logTail)}` } });
  if (n.url) blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `<${n.url}|Open in the dashboard>` }] });
  return { text: headline(n), blocks };
}

export function webhookBody(format: WebhookFormat, n: Notice, delivery: string): unknown {
  return format === 'slack' ? slackBody(n) : jsonBody(n, delivery);
}

/** A plain-text email: the subject names the state and the id. */
export function emailMessage(n: Notice): { subject: string; text: string } {
  const lines = [
    headline(n),
    '',
    `State:     ${n.state}`,
    ...(n.exitCode !== undefined && n.kind !== 'sweep' ? [`Exit code: ${n.exitCode}`] : []),
    `Duration:  ${formatDuration(n.durationSeconds)}`,
    `Backend:   ${n.backend}${n.pool ? ` (pool ${n.pool})` : ''}`,
    `Project:   ${n.project}`,
    `Command:   ${commandText(n)}`,
    ...(n.points ? [`Points:    ${pointsText(n)}`] : []),
    ...(n.reason ? [`Reason:    ${n.reason}`] : []),
    `Started:   ${n.startedAt}`,
    `Finished:  ${n.finishedAt}`,
    `Record:    ${n.commit}`,
    ...(n.url ? [`Dashboard: ${n.url}`] : []),
    ...(n.logTail ? ['', n.kind === 'sweep' ? 'Points:' : 'Last lines of the log:', '', n.logTail] : []),
  ];
  return { subject: `[reprise] ${n.kind} ${n.id} ${n.state}`, text: lines.join('\n') + '\n' };
}
