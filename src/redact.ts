/**
 * Credentials in URLs (`https://user:token@host/…`, `ssh://user:pass@host/…`) never leave the
 * place they were given: everything Reprise prints, logs, records or sends to a workflow goes
 * through these functions first (docs/security.md, "Credentials").
 */

/** What a password is replaced with. */
export const REDACTED = '***';

// scheme://user:password@ — the password runs to the last "@" before the host's "/", "?", "#" or
// a space (or a quote: URLs sit in JSON log lines), so a password holding an unencoded "@" is
// hidden whole (over-hiding is harmless).
const URL_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^\s/?#@:"\\]*):[^\s/?#"\\]*@/gi;

/** The text with the password of every URL in it replaced by `***` (git's stderr, messages, log lines). */
export function redactSecrets(text: string): string {
  return text.replace(URL_PASSWORD, `$1:${REDACTED}@`);
}

/** An error with its message (and git's stderr, when it carries it) redacted, in place. */
export function redactError<T>(err: T): T {
  if (err instanceof Error) {
    err.message = redactSecrets(err.message);
    if (err.stack) err.stack = redactSecrets(err.stack);
    // stdout is the command's answer (data), left as it is.
    const withOutput = err as Error & { stderr?: unknown; cmd?: unknown };
    for (const key of ['stderr', 'cmd'] as const) if (typeof withOutput[key] === 'string') withOutput[key] = redactSecrets(withOutput[key]);
  }
  return err;
}

/** A URL's parts when it carries a password; undefined for any other URL or a path. */
export interface UrlCredentials {
  /** The URL without its password (the user name kept: it picks the credential). */
  url: string;
  protocol: string;
  host: string;
  username: string;
  password: string;
}

export function urlCredentials(url: string): UrlCredentials | undefined {
  const m = /^([a-z][a-z0-9+.-]*):\/\/([^\s/?#@:]*):([^\s/?#]*)@([^\s/?#]*)(.*)$/i.exec(url);
  if (!m) return undefined;
  const [, protocol, username, password, host, rest] = m as unknown as [string, string, string, string, string, string];
  return { url: `${protocol}://${username}@${host}${rest}`, protocol: protocol.toLowerCase(), host, username: decode(username), password: decode(password) };
}

/**
 * The URL as anyone but its owner may see it, e.g. a team worker: no password, and for HTTP(S)
 * no user name either (a worker authenticates as itself, from its own git credentials). An SSH
 * user (`git@host:…`, `ssh://git@host/…`) is an address, not a secret, and is kept.
 */
export function credentialFreeUrl(url: string): string {
  const withoutPassword = urlCredentials(url)?.url ?? url;
  return withoutPassword.replace(/^(https?|ftps?):\/\/[^\s/?#@]*@/i, '$1://');
}

function decode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}
