import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildTrustNotes, resolveBuildTrust } from '../../../src/images/build-trust.js';

const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

describe('resolveBuildTrust', () => {
  it('takes the configured CA file, and the proxies from the config over the environment', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'trust-'));
    await writeFile(join(dir, 'ca.pem'), PEM);
    const trust = await resolveBuildTrust({ caFile: join(dir, 'ca.pem'), httpsProxy: 'http://proxy:3128' }, { HTTPS_PROXY: 'http://other:1', no_proxy: 'localhost' });
    expect(trust.caBundle?.toString()).toBe(PEM);
    expect(trust.proxy).toEqual({ HTTPS_PROXY: 'http://proxy:3128', https_proxy: 'http://proxy:3128', NO_PROXY: 'localhost', no_proxy: 'localhost' });
    expect(buildTrustNotes(trust)).toEqual([expect.stringMatching(/^ca-bundle=sha256:[0-9a-f]{64}$/), 'proxy=https_proxy']);
  });

  it("defaults to the host's trust store (SSL_CERT_FILE first)", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'trust-'));
    await writeFile(join(dir, 'host.pem'), PEM);
    const trust = await resolveBuildTrust(undefined, { SSL_CERT_FILE: join(dir, 'host.pem') });
    expect(trust.caSource).toBe(join(dir, 'host.pem'));
  });

  it('"none" gives the build only the image\'s own trust', async () => {
    expect(await resolveBuildTrust({ caFile: 'none' }, {})).toEqual({ proxy: {} });
  });

  it('refuses a CA file that is missing or holds no certificate, naming the key', async () => {
    await expect(resolveBuildTrust({ caFile: '/nonexistent/ca.pem' }, {})).rejects.toThrow(/build.caFile "\/nonexistent\/ca.pem" .* cannot be read/);
    const dir = await mkdtemp(join(tmpdir(), 'trust-'));
    await writeFile(join(dir, 'junk'), 'hello');
    await expect(resolveBuildTrust({ caFile: join(dir, 'junk') }, {})).rejects.toThrow(/holds no PEM certificate/);
  });
});
