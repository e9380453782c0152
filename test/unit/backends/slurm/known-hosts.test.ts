import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { entryMatchesHost, hostLookupName, parseKnownHosts, verifyHostKey } from '../../../../src/backends/slurm/known-hosts.js';

const keyA = Buffer.from('\0\0\0\x0bssh-ed25519 key A');
const keyB = Buffer.from('\0\0\0\x0bssh-ed25519 key B');
const b64 = (b: Buffer) => b.toString('base64');
const hashed = (name: string) => {
  const salt = randomBytes(20);
  return `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
};

describe('known_hosts', () => {
  it('uses [host]:port for ports other than 22', () => {
    expect(hostLookupName('h.example', 22)).toBe('h.example');
    expect(hostLookupName('127.0.0.1', 2222)).toBe('[127.0.0.1]:2222');
  });

  it('parses plain, hashed, marked and commented lines', () => {
    const entries = parseKnownHosts(`# comment\n\n[127.0.0.1]:2222 ssh-ed25519 ${b64(keyA)}\n@revoked * ssh-ed25519 ${b64(keyB)}\n${hashed('login')} ssh-ed25519 ${b64(keyA)} c\nbroken-line\n`);
    expect(entries.map((e) => [e.marker, e.keyType])).toEqual([[undefined, 'ssh-ed25519'], ['@revoked', 'ssh-ed25519'], [undefined, 'ssh-ed25519']]);
    expect(entries[0]!.key.equals(keyA)).toBe(true);
  });

  it('matches [host]:port entries, comma lists, wildcards and negations', () => {
    const [e] = parseKnownHosts(`login.x,[127.0.0.1]:2222 ssh-ed25519 ${b64(keyA)}`);
    expect(entryMatchesHost(e!, '[127.0.0.1]:2222')).toBe(true);
    expect(entryMatchesHost(e!, '127.0.0.1')).toBe(false);
    expect(entryMatchesHost(e!, '[127.0.0.1]:22')).toBe(false);
    const [w] = parseKnownHosts(`*.cluster.edu,!bad.cluster.edu ssh-ed25519 ${b64(keyA)}`);
    expect(entryMatchesHost(w!, 'login.cluster.edu')).toBe(true);
    expect(entryMatchesHost(w!, 'bad.cluster.edu')).toBe(false);
    expect(entryMatchesHost(w!, 'cluster.edu.evil')).toBe(false);
  });

  it('matches hashed entries, including the [host]:port form', () => {
    const entries = parseKnownHosts(`${hashed('[login.x]:2222')} ssh-ed25519 ${b64(keyA)}\n`);
    expect(verifyHostKey(entries, 'login.x', 2222, keyA)).toBe('trusted');
    expect(verifyHostKey(entries, 'login.x', 22, keyA)).toBe('unknown-host');
  });

  it('tells a trusted key, an unknown host, a mismatch and a revoked key apart', () => {
    const entries = parseKnownHosts(`login.x ssh-ed25519 ${b64(keyA)}\n@revoked other.x ssh-ed25519 ${b64(keyB)}\nother.x ssh-ed25519 ${b64(keyB)}\n`);
    expect(verifyHostKey(entries, 'login.x', 22, keyA)).toBe('trusted');
    expect(verifyHostKey(entries, 'login.x', 22, keyB)).toBe('mismatch');
    expect(verifyHostKey(entries, 'nowhere.x', 22, keyA)).toBe('unknown-host');
    expect(verifyHostKey(entries, 'other.x', 22, keyB)).toBe('revoked');
  });
});
