import { createHmac } from 'node:crypto';

/**
 * OpenSSH known_hosts, enough to verify a server the way `ssh -o StrictHostKeyChecking=yes`
 * does: plain and hashed (`|1|salt|hmac`) host entries, `[host]:port` for non-22 ports,
 * comma lists, `*`/`?` wildcards, `!` negation and `@revoked` keys.
 */
export interface KnownHostEntry {
  marker?: '@revoked' | '@cert-authority';
  hosts: string;
  keyType: string;
  /** The key in SSH wire format, as ssh2 hands it to a host verifier. */
  key: Buffer;
}

export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const fields = line.split(/\s+/);
    const marker = fields[0] === '@revoked' || fields[0] === '@cert-authority' ? (fields.shift() as KnownHostEntry['marker']) : undefined;
    const [hosts, keyType, blob] = fields;
    if (!hosts || !keyType || !blob) continue;
    entries.push({ marker, hosts, keyType, key: Buffer.from(blob, 'base64') });
  }
  return entries;
}

/** The name ssh looks up: `host` on port 22, `[host]:port` otherwise. */
export const hostLookupName = (host: string, port: number) => (port === 22 ? host : `[${host}]:${port}`);

function matchesPattern(pattern: string, name: string): boolean {
  if (pattern.startsWith('|1|')) {
    const [, , salt, hash] = pattern.split('|');
    if (!salt || !hash) return false;
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
  }
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');
  return re.test(name);
}

/** True when the entry's host field names `name` (a negated pattern that matches vetoes). */
export function entryMatchesHost(entry: KnownHostEntry, name: string): boolean {
  let matched = false;
  for (const pattern of entry.hosts.split(',')) {
    if (pattern.startsWith('!')) {
      if (matchesPattern(pattern.slice(1), name)) return false;
    } else if (matchesPattern(pattern, name)) {
      matched = true;
    }
  }
  return matched;
}

export type HostKeyVerdict = 'trusted' | 'unknown-host' | 'mismatch' | 'revoked';

export function verifyHostKey(entries: KnownHostEntry[], host: string, port: number, key: Buffer): HostKeyVerdict {
  const name = hostLookupName(host, port);
  const forHost = entries.filter((e) => e.marker !== '@cert-authority' && entryMatchesHost(e, name));
  if (forHost.some((e) => e.marker === '@revoked' && e.key.equals(key))) return 'revoked';
  const plain = forHost.filter((e) => e.marker === undefined);
  if (plain.length === 0) return 'unknown-host';
  return plain.some((e) => e.key.equals(key)) ? 'trusted' : 'mismatch';
}
