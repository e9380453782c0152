import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildEnvironmentImage, environmentBuild } from '../../../src/images/build.js';
import { resolveBuildTrust } from '../../../src/images/build-trust.js';
import { dockerClient } from '../../../src/images/engine.js';
import { requireDocker } from '../../helpers/docker.js';
import { tempDir } from '../../helpers/project.js';

// pip from the real PyPI inside a build. On these machines the egress re-signs TLS with its own
// CA, exactly like a corporate TLS-inspecting proxy: without the host's CA the build cannot fetch.
const BASE = 'local/debian-python:bookworm';
const spec = (pin: string) => ({ base: BASE, packages: { apt: ['python3-pip'], pip: [pin], conda: [] }, dockerfile: [] });

describe('builds that reach package indexes from where the user is', () => {
  it("pip installs from PyPI with the host's trust store, and fails naming the fix with a CA that signs nothing", async () => {
    requireDocker();
    const docker = dockerClient();
    const ok = environmentBuild('trust-test', spec('six==1.16.0'));
    const built = await buildEnvironmentImage(docker, { ...ok, trust: await resolveBuildTrust(undefined) });
    expect(execFileSync('docker', ['run', '--rm', built.digest, 'python3', '-c', 'import six; print(six.__version__)'], { encoding: 'utf8' })).toBe('1.16.0\n');

    // A valid CA that signed nothing on the way to PyPI: pip must refuse, and the error says what to set.
    const dir = await tempDir('reprise-ca-');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=unrelated', '-days', '1', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'ca.pem')], { stdio: 'ignore' });
    const wrong = environmentBuild('trust-test', spec('six==1.15.0'));
    await expect(buildEnvironmentImage(docker, { ...wrong, trust: await resolveBuildTrust({ caFile: join(dir, 'ca.pem') }) })).rejects.toThrow(
      /image build failed: .*a package index's TLS certificate is not trusted: set build.caFile/,
    );
    expect((await readFile(join(dir, 'ca.pem'), 'utf8')).startsWith('-----BEGIN CERTIFICATE-----')).toBe(true);
  }, 300_000);
});
