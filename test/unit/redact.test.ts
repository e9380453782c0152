import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { credentialFreeUrl, redactError, redactSecrets, urlCredentials } from '../../src/redact.js';

// What RFC 3986 lets a user name or password hold unencoded (unreserved and sub-delims), plus
// percent escapes; a password may also hold "@" and ":" as people paste them.
const userChars = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&\'()*+,;='.split(''), '%40', '%2F');
const user = fc.stringOf(userChars, { minLength: 0, maxLength: 12 });
const secret = fc.stringOf(fc.oneof(userChars, fc.constantFrom('@', ':')), { minLength: 6, maxLength: 40 }).filter((s) => /[A-Za-z0-9]{4}/.test(s));
const scheme = fc.constantFrom('https', 'http', 'ssh', 'git+ssh', 'ftp', 'HTTPS');
const host = fc.constantFrom('github.com', 'git.example.org:8443', '127.0.0.1:5000', '[::1]:22', 'h');
const path = fc.constantFrom('', '/', '/team/fit.git', '/a b', '?x=1', '#frag', ' and more');
// Where a URL sits: git's stderr, a JSON log line, a message in quotes, glued to a word.
const around = fc.constantFrom(
  (u: string) => u,
  (u: string) => `fatal: unable to access '${u}': The requested URL returned error: 403`,
  (u: string) => JSON.stringify({ level: 30, remote: u, msg: 'team run prepared' }),
  (u: string) => `remote "origin" is unreachable (${u})`,
  (u: string) => `x_${u}`,
  (u: string) => `${u}\n${u}`,
);

describe('redactSecrets', () => {
  it('hides the password of a URL and keeps the rest', () => {
    expect(redactSecrets("fatal: unable to access 'https://alice:ghp_abc123@github.com/a/b.git/': 403")).toBe("fatal: unable to access 'https://alice:***@github.com/a/b.git/': 403");
    expect(redactSecrets('ssh://bob:hunter2@host:22/srv/x.git')).toBe('ssh://bob:***@host:22/srv/x.git');
    expect(redactSecrets('https://x-access-token:t@k@en@h/p')).toBe('https://x-access-token:***@h/p');
  });

  it('leaves URLs without a password, ports, scp-like addresses and plain text alone', () => {
    for (const text of ['https://github.com/a/b.git', 'https://alice@github.com/a', 'http://127.0.0.1:8080/x', 'git@github.com:a/b.git', 'ssh://git@host:2222/x', 'mail me at a@b.c', '/srv/git/x.git']) {
      expect(redactSecrets(text)).toBe(text);
    }
  });

  it('never lets a password through, wherever the URL sits (fast-check, 10,000 cases)', () => {
    fc.assert(
      fc.property(scheme, user, secret, host, path, around, (s, u, pw, h, p, wrap) => {
        fc.pre(!wrap(`${s}://${u}:@${h}${p}`).includes(pw)); // the secret is not also the user name, the host, …
        const out = redactSecrets(wrap(`${s}://${u}:${pw}@${h}${p}`));
        expect(out).not.toContain(pw);
        expect(out).toContain(':***@');
      }),
      { numRuns: 10_000 },
    );
  });

  it('an error loses the password from its message, stack and git stderr; its stdout is data and kept', () => {
    const err = Object.assign(new Error('Command failed: git clone https://u:s3cret@h/x'), { stderr: "fatal: 'https://u:s3cret@h/x' not found", stdout: 'data' });
    redactError(err);
    expect(`${err.message}${err.stack}${err.stderr}`).not.toContain('s3cret');
    expect(err.stdout).toBe('data');
  });
});

describe('urlCredentials and credentialFreeUrl', () => {
  it('split a password off a URL, decoding it', () => {
    expect(urlCredentials('https://alice:p%40ss@git.example.org:8443/team/x.git')).toEqual({
      url: 'https://alice@git.example.org:8443/team/x.git',
      protocol: 'https',
      host: 'git.example.org:8443',
      username: 'alice',
      password: 'p@ss',
    });
    expect(urlCredentials('https://alice@h/x')).toBeUndefined();
    expect(urlCredentials('git@github.com:a/b.git')).toBeUndefined();
    expect(urlCredentials('/srv/x.git')).toBeUndefined();
  });

  it('what workers are sent: no password, no HTTP user; an SSH user is an address and stays', () => {
    expect(credentialFreeUrl('https://alice:tok@h/team/x.git')).toBe('https://h/team/x.git');
    expect(credentialFreeUrl('https://alice@h/team/x.git')).toBe('https://h/team/x.git');
    expect(credentialFreeUrl('ssh://git:pw@h/x.git')).toBe('ssh://git@h/x.git');
    expect(credentialFreeUrl('git@github.com:a/b.git')).toBe('git@github.com:a/b.git');
    expect(credentialFreeUrl('/srv/x.git')).toBe('/srv/x.git');
  });

  it('no credential-free URL holds the password (fast-check)', () => {
    fc.assert(
      fc.property(scheme, user, secret, host, path.filter((p) => !p.includes(' ')), (s, u, pw, h, p) => {
        fc.pre(!`${s}://${u}:@${h}${p}`.includes(pw));
        expect(credentialFreeUrl(`${s}://${u}:${pw}@${h}${p}`)).not.toContain(pw);
      }),
      { numRuns: 2_000 },
    );
  });
});
