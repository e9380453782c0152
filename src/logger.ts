import pino, { type Logger } from 'pino';
import { redactSecrets } from './redact.js';

/** JSON lines on stderr; pretty only when stderr is a TTY. Level from LOG_LEVEL. */
export function createLogger(bindings: Record<string, string> = {}): Logger {
  const level = process.env.LOG_LEVEL ?? 'info';
  const pretty = process.stderr.isTTY && process.env.LOG_FORMAT !== 'json';
  const transport = pretty
    ? pino.transport({ target: 'pino-pretty', options: { destination: 2, colorize: true, ignore: 'pid,hostname' } })
    : pino.destination(2);
  // Every line, whatever logged it (an error's message, git's stderr, a URL), loses URL passwords.
  return pino({ level, base: bindings, hooks: { streamWrite: redactSecrets } }, transport);
}

let shared: Logger | undefined;
export function logger(): Logger {
  shared ??= createLogger();
  return shared;
}

export type { Logger };
