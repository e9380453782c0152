import { redactUrl, type Notifier, type SmtpSettings } from '../config/notifiers.js';
import { stripTerminalControls } from '../terminal-text.js';
import { emailMessage, webhookBody } from './format.js';
import type { Notice } from './notice.js';

/** The header (webhooks and email) naming one delivery: `<id>/<notifier>`, the same on every retry, so receivers can drop repeats. */
export const DELIVERY_HEADER = 'Reprise-Delivery';

/** How long one attempt may take: the workflow's retry policy paces further attempts. */
export const ATTEMPT_TIMEOUT_MS = 10_000;

/**
 * A delivery that did not happen. `permanent`: the receiver refused the message itself (a 4xx
 * other than 408/429, an SMTP 5xx), so sending it again would be refused again. Messages show a
 * webhook as scheme://host only: its path and query carry its token.
 */
export class DeliveryError extends Error {
  constructor(message: string, readonly permanent: boolean) {
    super(message);
  }
}

/** The receiver's answer in a line of at most 200 printable characters. */
const answerLine = (text: string) => stripTerminalControls(text).replace(/\s+/g, ' ').trim().slice(0, 200);

export async function deliver(notifier: Notifier, notice: Notice, delivery: string, smtp: SmtpSettings | undefined): Promise<string> {
  if (notifier.kind === 'webhook') return postWebhook(notifier.url, webhookBody(notifier.format, notice, delivery), delivery);
  if (!smtp) throw new DeliveryError('no SMTP server is configured (add smtp: host, port, from to config.yaml)', true);
  return sendEmail(smtp, notifier.to, notice, delivery);
}

/** POST the body as JSON; resolves with the receiver's answer ("HTTP 200 ok"). */
export async function postWebhook(url: string, body: unknown, delivery: string): Promise<string> {
  const where = redactUrl(url);
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'reprise', [DELIVERY_HEADER]: delivery },
      body: JSON.stringify(body),
      // A redirect would carry the message somewhere the user did not name.
      redirect: 'manual',
      signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS),
    });
  } catch (err) {
    throw new DeliveryError(`webhook ${where} did not answer: ${causeOf(err)}`, false);
  }
  const text = answerLine(await response.text().catch(() => ''));
  const answer = `HTTP ${response.status}${text ? ` ${text}` : ''}`;
  if (response.ok) return answer;
  const permanent = response.status >= 300 && response.status < 500 && response.status !== 408 && response.status !== 429;
  throw new DeliveryError(`webhook ${where} answered ${answer}`, permanent);
}

/** One plain-text message through the configured SMTP server; resolves with its answer ("250 OK …"). */
export async function sendEmail(smtp: SmtpSettings, to: string, notice: Notice, delivery: string): Promise<string> {
  // Loaded on the first email only: the worker and the CLI start without it.
  const { default: nodemailer } = await import('nodemailer');
  const transport = nodemailer.createTransport({
    host: smtp.host,
    port: smtp.port,
    secure: smtp.tls === 'tls',
    requireTLS: smtp.tls === 'starttls',
    ignoreTLS: smtp.tls === 'none',
    ...(smtp.user ? { auth: { user: smtp.user, pass: smtp.password ?? '' } } : {}),
    connectionTimeout: ATTEMPT_TIMEOUT_MS,
    greetingTimeout: ATTEMPT_TIMEOUT_MS,
    socketTimeout: ATTEMPT_TIMEOUT_MS * 2,
  });
  const { subject, text } = emailMessage(notice);
  try {
    const info = await transport.sendMail({
      from: smtp.from,
      to,
      subject,
      text,
      headers: { [DELIVERY_HEADER]: delivery },
      // The same id on every attempt: mail clients show a repeat once.
      messageId: `<${delivery.replace(/[^A-Za-z0-9.-]/g, '.')}@reprise>`,
    });
    return answerLine(String(info.response ?? 'accepted'));
  } catch (err) {
    const code = (err as { responseCode?: number }).responseCode;
    throw new DeliveryError(`SMTP server ${smtp.host}:${smtp.port} ${code ? `answered ${code}` : 'failed'}: ${answerLine(causeOf(err))}`, code !== undefined && code >= 500);
  } finally {
    transport.close();
  }
}

/** An error's innermost message, with any URL in it cut to scheme://host. */
function causeOf(err: unknown): string {
  let cause: unknown = err;
  while (cause instanceof Error && cause.cause) cause = cause.cause;
  const text = cause instanceof Error ? (cause.name === 'TimeoutError' ? `no answer within ${ATTEMPT_TIMEOUT_MS / 1000}s` : cause.message) : String(cause);
  return text.replace(/\bhttps?:\/\/[^\s"'<>]+/g, (u) => redactUrl(u));
}
