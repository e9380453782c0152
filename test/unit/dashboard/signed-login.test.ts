import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DashboardAuth } from '../../../src/dashboard/auth.js';

describe('login tokens signed with the dashboard key (reprise dashboard login)', () => {
  const key = randomBytes(32);

  it('a dashboard with the same key takes one once, and its session holds', () => {
    const token = new DashboardAuth(key).signLoginToken(600);
    const server = new DashboardAuth(key);
    const cookie = server.login(token);
    expect(cookie).toBeDefined();
    expect(server.session(cookie)).toBeDefined();
    expect(server.login(token)).toBeUndefined();
  });

  it('refused once expired, signed with another key, or altered', () => {
    let now = 1_000_000_000_000;
    const clock = () => now;
    const server = new DashboardAuth(key, clock);
    const late = new DashboardAuth(key, clock).signLoginToken(60);
    now += 61_000;
    expect(server.login(late)).toBeUndefined();
    expect(server.login(new DashboardAuth(randomBytes(32), clock).signLoginToken(60))).toBeUndefined();
    const good = new DashboardAuth(key, clock).signLoginToken(60);
    const [expires, nonce, sig] = good.split('.');
    // A later expiry under the same signature, another nonce, a session cookie given as a login token.
    expect(server.login(`${Number(expires) + 3600}.${nonce}.${sig}`)).toBeUndefined();
    expect(server.login(`${expires}.${randomBytes(16).toString('base64url')}.${sig}`)).toBeUndefined();
    const session = server.login(server.issueLoginToken())!;
    expect(server.login(session)).toBeUndefined();
    expect(server.login(good)).toBeDefined();
  });

  it('the token made by this process stays one-time as before', () => {
    const server = new DashboardAuth(key);
    const token = server.issueLoginToken();
    expect(server.login(token)).toBeDefined();
    expect(server.login(token)).toBeUndefined();
  });
});
