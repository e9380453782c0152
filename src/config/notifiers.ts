import { z } from 'zod';
import { backendName } from './names.js';

/**
 * Where people hear that a run, sweep or lab ended (`reprise notify add`). Notifiers live in the
 * user config only: a webhook URL usually carries its token, and an SMTP password is a secret.
 * The worker reads them when it sends, so they never enter a workflow's input or history.
 */
export const notifierName = z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'notifier names are lowercase letters, digits and dashes (at most 32)');

export const endStates = ['succeeded', 'failed', 'cancelled'] as const;
export type EndState = (typeof endStates)[number];

export const webhookFormats = ['slack', 'json'] as const;
export type WebhookFormat = (typeof webhookFormats)[number];

/** An http(s) URL with a host: anything else is refused before it is saved. */
export const webhookUrl = z.string().refine((text) => {
  try {
    const url = new URL(text);
    return (url.protocol === 'https:' || url.protocol === 'http:') && url.hostname !== '' && !/\s/.test(text);
  } catch {
    return false;
  }
}, 'must be an http:// or https:// URL with a host');

/** One address, no display name (a header injection has nowhere to go). */
export const emailAddress = z.string().regex(/^[^\s@<>,;"'()\\]+@[A-Za-z0-9.-]+\.?[A-Za-z0-9-]*$/, 'must be an address such as alice@example.com');

const filters = {
  /** End states that notify; all three by default. */
  on: z.array(z.enum(endStates)).min(1).default([...endStates]),
  /** Only what ran at least this long (seconds). */
  minDurationSeconds: z.number().int().min(0).optional(),
  /** Only what ran on this backend (or pool). */
  backend: backendName.optional(),
};

export const notifierSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('webhook'), url: webhookUrl, format: z.enum(webhookFormats).default('json'), ...filters }).strict(),
  z.object({ kind: z.literal('email'), to: emailAddress, ...filters }).strict(),
]);
export type Notifier = z.infer<typeof notifierSchema>;

/** The mail server email notifiers send through. `tls`: "starttls" upgrades a plain connection (port 587), "tls" is TLS from the start (465), "none" only on trusted networks. */
export const smtpSchema = z
  .object({
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(587),
    from: emailAddress,
    user: z.string().min(1).optional(),
    password: z.string().min(1).optional(),
    tls: z.enum(['starttls', 'tls', 'none']).default('starttls'),
  })
  .strict();
export type SmtpSettings = z.infer<typeof smtpSchema>;

/** Where the dashboard is reachable by the people notified: messages link to `<url>#/runs/<id>`. */
export const dashboardSettingsSchema = z.object({ url: webhookUrl }).strict();

/** scheme://host[:port] of a URL: all a log line or an error may show of a webhook (its path and query carry tokens). */
export function redactUrl(text: string): string {
  try {
    const url = new URL(text);
    return `${url.protocol}//${url.host}`;
  } catch {
    return '(an invalid URL)';
  }
}
