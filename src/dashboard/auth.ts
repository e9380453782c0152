import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { badInput } from '../errors.js';

export const SESSION_COOKIE = 'reprise_session';
export const CSRF_HEADER = 'x-csrf-token';
const SESSION_SECONDS = 12 * 3600;

const KEY_HEX = /^[0-9a-f]{64}$/;

/** Where a REPRISE_HOME keeps the dashboard's HMAC key. */
export const dashboardKeyFile = (home: string): string => join(home, 'dashboard.key');

/**
 * The dashboard's HMAC key: from `keyFile` when given (a deployment's Secret, read-only and kept
 * by the operator, so sessions outlive the pod), else made once per REPRISE_HOME (0600):
 * sessions outlive a restart of the dashboard.
 */
export async function dashboardKey(home: string, keyFile?: string): Promise<Buffer> {
  if (keyFile) {
    const given = await readFile(keyFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw badInput(`cannot read the dashboard key file ${keyFile} (${err.code ?? err.message}); make one with: openssl rand -hex 32 > ${keyFile}`);
    });
    if (!KEY_HEX.test(given.trim())) throw badInput(`the dashboard key file ${keyFile} must hold 64 hexadecimal characters; make one with: openssl rand -hex 32 > ${keyFile}`);
    return Buffer.from(given.trim(), 'hex');
  }
  const file = dashboardKeyFile(home);
  const existing = await readFile(file, 'utf8').catch(() => undefined);
  if (existing && KEY_HEX.test(existing.trim())) {
    await chmod(file, 0o600);
    return Buffer.from(existing.trim(), 'hex');
  }
  await mkdir(home, { recursive: true });
  const key = randomBytes(32);
  await writeFile(file, key.toString('hex'), { mode: 0o600 });
  await chmod(file, 0o600);
  return key;
}

const equal = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

/**
 * Logins and sessions. A login token is one-time: either made by this process (the URL
 * `reprise dashboard` prints) or signed with the key by `reprise dashboard login` for another
 * person, valid for minutes (the server remembers the used ones until they expire). It buys a
 * session cookie signed with the key, and each session has its own CSRF token (an HMAC of the
 * session) that every write must echo in a header.
 */
export class DashboardAuth {
  private readonly loginTokens = new Set<string>();
  /** Signed login tokens already traded for a session, with their expiry (seconds). */
  private readonly usedSigned = new Map<string, number>();
  constructor(
    private readonly key: Buffer,
    private readonly now: () => number = Date.now,
  ) {}

  private sign(purpose: string, value: string): string {
    return createHmac('sha256', this.key).update(`${purpose}:${value}`).digest('base64url');
  }

  issueLoginToken(): string {
    const token = randomBytes(24).toString('base64url');
    this.loginTokens.add(token);
    return token;
  }

  /** A one-time login token that any dashboard serving with this key takes until `ttlSeconds` from now. */
  signLoginToken(ttlSeconds: number): string {
    const id = `${Math.floor(this.now() / 1000) + ttlSeconds}.${randomBytes(16).toString('base64url')}`;
    return `${id}.${this.sign('login', id)}`;
  }

  /** A signed login token that holds, has not expired and was not used before (it is used now). */
  private takeSigned(token: string): boolean {
    const m = /^(\d+\.[A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/.exec(token);
    if (!m || !equal(m[2]!, this.sign('login', m[1]!))) return false;
    const now = this.now() / 1000;
    for (const [used, expires] of this.usedSigned) if (expires <= now) this.usedSigned.delete(used);
    const expires = Number(m[1]!.split('.')[0]);
    if (expires <= now || this.usedSigned.has(m[1]!)) return false;
    this.usedSigned.set(m[1]!, expires);
    return true;
  }

  /** A new session's cookie value for a login token never used before; undefined otherwise. */
  login(token: string): string | undefined {
    if (!this.loginTokens.delete(token) && !this.takeSigned(token)) return undefined;
    const id = `${Math.floor(this.now() / 1000)}.${randomBytes(16).toString('base64url')}`;
    return `${id}.${this.sign('session', id)}`;
  }

  /** The session id a cookie carries when its signature holds and it has not expired. */
  session(cookie: string | undefined): string | undefined {
    const m = /^(\d+\.[A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/.exec(cookie ?? '');
    if (!m || !equal(m[2]!, this.sign('session', m[1]!))) return undefined;
    const issued = Number(m[1]!.split('.')[0]);
    return this.now() / 1000 - issued < SESSION_SECONDS ? m[1] : undefined;
  }

  csrfToken(session: string): string {
    return this.sign('csrf', session);
  }

  csrfValid(session: string, header: string | undefined): boolean {
    return header !== undefined && equal(header, this.csrfToken(session));
  }
}

export const SESSION_MAX_AGE = SESSION_SECONDS;
