// The dashboard's session key from a file the operator keeps (a deployment's Secret): read as
// given, never written or re-moded (a Secret's mount is read-only), refused in one line when unusable.
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DashboardAuth, dashboardKey } from '../../../src/dashboard/auth.js';
import { RepriseError } from '../../../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'reprise-dash-key-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('dashboardKey with a key file', () => {
  it('uses the file\'s key, so a session signed by one process holds in the next; makes no key in REPRISE_HOME', async () => {
    const file = join(dir, 'dashboard.key');
    writeFileSync(file, `${'ab'.repeat(32)}\n`);
    chmodSync(file, 0o440);
    const home = join(dir, 'home');
    const key = await dashboardKey(home, file);
    expect(key.toString('hex')).toBe('ab'.repeat(32));
    expect(existsSync(join(home, 'dashboard.key'))).toBe(false);

    const first = new DashboardAuth(key);
    const cookie = first.login(first.issueLoginToken())!;
    const next = new DashboardAuth(await dashboardKey(join(dir, 'other-home'), file));
    expect(next.session(cookie)).toBeDefined();
  });

  it('refuses a missing file or one that is not 64 hex characters, saying how to make one', async () => {
    const bad = join(dir, 'short.key');
    writeFileSync(bad, 'not-a-key');
    for (const [file, message] of [
      [join(dir, 'absent.key'), /cannot read the dashboard key file .*absent\.key \(ENOENT\); make one with: openssl rand -hex 32/],
      [bad, /the dashboard key file .*short\.key must hold 64 hexadecimal characters; make one with: openssl rand -hex 32/],
    ] as const) {
      const err = await dashboardKey(join(dir, 'home'), file).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RepriseError);
      expect((err as Error).message).toMatch(message);
      expect((err as RepriseError).kind).toBe('BadInput');
    }
  });
});
