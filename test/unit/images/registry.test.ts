import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dockerAuth, isInRegistry, registryReference } from '../../../src/images/registry.js';

describe('registryReference', () => {
  it('names the image <registry>/<project>:<digest hex 12>', () => {
    expect(registryReference('registry.example.com/team/', { digest: 'sha256:0123456789abcdef0123', tag: 'reprise/My_Proj:abc' })).toEqual({
      repository: 'registry.example.com/team/my_proj',
      tag: '0123456789ab',
    });
    expect(registryReference('127.0.0.1:5000', { digest: 'sha256:fedcba9876543210' })).toEqual({ repository: '127.0.0.1:5000/run', tag: 'fedcba987654' });
  });
});

describe('dockerAuth: credentials as docker login left them', () => {
  async function dockerConfig(config: object): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'docker-config-'));
    await writeFile(join(dir, 'config.json'), JSON.stringify(config));
    return dir;
  }

  it('reads an inline auths entry', async () => {
    const DOCKER_CONFIG = await dockerConfig({ auths: { 'reg.example:5000': { auth: Buffer.from('alice:s3:cret').toString('base64') } } });
    expect(await dockerAuth('reg.example:5000', { DOCKER_CONFIG })).toEqual({ username: 'alice', password: 's3:cret', serveraddress: 'reg.example:5000' });
    expect(await dockerAuth('other.example', { DOCKER_CONFIG })).toBeUndefined();
  });

  it('asks the credential helper for the host (credHelpers before credsStore), by its protocol', async () => {
    const bin = await mkdtemp(join(tmpdir(), 'cred-helper-'));
    // docker-credential-helpers protocol: `get`, the server on stdin, JSON on stdout; exit 1 when unknown.
    const helper = (user: string) => `#!/bin/sh\nread -r host\n[ "$1" = get ] && [ "$host" = reg.example ] || { echo "credentials not found in native keychain"; exit 1; }\nprintf '{"ServerURL":"%s","Username":"${user}","Secret":"tok"}' "$host"\n`;
    await writeFile(join(bin, 'docker-credential-pass'), helper('from-pass'));
    await writeFile(join(bin, 'docker-credential-store'), helper('from-store'));
    await chmod(join(bin, 'docker-credential-pass'), 0o755);
    await chmod(join(bin, 'docker-credential-store'), 0o755);
    const env = { PATH: `${bin}:/usr/bin:/bin` };
    const both = await dockerConfig({ credHelpers: { 'reg.example': 'pass' }, credsStore: 'store' });
    expect(await dockerAuth('reg.example', { ...env, DOCKER_CONFIG: both })).toEqual({ username: 'from-pass', password: 'tok', serveraddress: 'reg.example' });
    const store = await dockerConfig({ credsStore: 'store', auths: { 'elsewhere.example': { auth: Buffer.from('u:p').toString('base64') } } });
    expect(await dockerAuth('reg.example', { ...env, DOCKER_CONFIG: store })).toMatchObject({ username: 'from-store' });
    // The store knows nothing of this host: the inline entry still answers.
    expect(await dockerAuth('elsewhere.example', { ...env, DOCKER_CONFIG: store })).toMatchObject({ username: 'u', password: 'p' });
  });

  it('a reference lives in a registry only below its path', () => {
    expect(isInRegistry('reg.example:5000/team/p@sha256:ab', 'reg.example:5000/team')).toBe(true);
    expect(isInRegistry('reg.example:5000/teamx/p@sha256:ab', 'reg.example:5000/team')).toBe(false);
  });
});
