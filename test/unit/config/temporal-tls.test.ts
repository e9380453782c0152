import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureAgentTls, agentTlsFiles } from '../../../src/client/agent-tls.js';
import { readEnv } from '../../../src/config/env.js';
import { resolveTemporalAuth, type TemporalSettings } from '../../../src/config/temporal-tls.js';
import { userConfigSchema } from '../../../src/backends/user-config.js';
import { parseYaml } from '../../../src/config/yaml-file.js';
import { RepriseError } from '../../../src/errors.js';
import { tempDir } from '../../helpers/project.js';

// Certificates made the way the agent makes its own (openssl, ECDSA P-256): two unrelated sets.
let dir: string;
let mine: ReturnType<typeof agentTlsFiles>;
let other: ReturnType<typeof agentTlsFiles>;

beforeAll(async () => {
  dir = await tempDir('reprise-tls-unit-');
  await ensureAgentTls(join(dir, 'a'));
  await ensureAgentTls(join(dir, 'b'));
  mine = agentTlsFiles(join(dir, 'a'));
  other = agentTlsFiles(join(dir, 'b'));
});

async function failure(env: NodeJS.ProcessEnv, config?: TemporalSettings): Promise<RepriseError> {
  try {
    await resolveTemporalAuth(env, config);
  } catch (err) {
    expect(err).toBeInstanceOf(RepriseError);
    expect((err as RepriseError).exitCode).toBe(2);
    expect((err as RepriseError).message).not.toContain('\n');
    return err as RepriseError;
  }
  throw new Error('expected the settings to be refused');
}

describe("Temporal TLS settings: Temporal's own variables, then config.yaml", () => {
  it('nothing set: plain gRPC', async () => {
    expect(await resolveTemporalAuth({}, undefined)).toEqual({});
    expect(await resolveTemporalAuth({ TEMPORAL_TLS: 'false' }, undefined)).toEqual({});
  });

  it('TEMPORAL_TLS=true alone: TLS with the system trust store', async () => {
    expect(await resolveTemporalAuth({ TEMPORAL_TLS: 'true' }, undefined)).toEqual({ tls: {} });
  });

  it('mTLS from the environment: CA, client pair and server name, files read', async () => {
    const auth = await resolveTemporalAuth(
      {
        TEMPORAL_TLS_SERVER_CA_CERT_PATH: mine.ca,
        TEMPORAL_TLS_CLIENT_CERT_PATH: mine.clientCert,
        TEMPORAL_TLS_CLIENT_KEY_PATH: mine.clientKey,
        TEMPORAL_TLS_SERVER_NAME: 'temporal.example.org',
      },
      undefined,
    );
    expect(auth.tls?.serverRootCACertificate?.toString()).toBe(readFileSync(mine.ca, 'utf8'));
    expect(auth.tls?.clientCertPair?.crt.toString()).toBe(readFileSync(mine.clientCert, 'utf8'));
    expect(auth.tls?.clientCertPair?.key.toString()).toBe(readFileSync(mine.clientKey, 'utf8'));
    expect(auth.tls?.serverNameOverride).toBe('temporal.example.org');
    expect(auth.apiKey).toBeUndefined();
  });

  it('inline PEM (the *_DATA variables) works like the files', async () => {
    const auth = await resolveTemporalAuth(
      { TEMPORAL_TLS_CLIENT_CERT_DATA: readFileSync(mine.clientCert, 'utf8'), TEMPORAL_TLS_CLIENT_KEY_DATA: readFileSync(mine.clientKey, 'utf8') },
      undefined,
    );
    expect(auth.tls?.clientCertPair?.crt.toString()).toContain('BEGIN CERTIFICATE');
  });

  it('config.yaml settings apply where the environment says nothing; the environment wins per value', async () => {
    const config: TemporalSettings = { tls: { serverCaCertPath: mine.ca, clientCertPath: mine.clientCert, clientKeyPath: mine.clientKey, serverName: 'from-config' }, apiKey: 'config-key' };
    const fromConfig = await resolveTemporalAuth({}, config);
    expect(fromConfig.tls?.serverNameOverride).toBe('from-config');
    expect(fromConfig.apiKey).toBe('config-key');
    const mixed = await resolveTemporalAuth({ TEMPORAL_TLS_SERVER_NAME: 'from-env', TEMPORAL_API_KEY: 'env-key', TEMPORAL_TLS_SERVER_CA_CERT_PATH: other.ca }, config);
    expect(mixed.tls?.serverNameOverride).toBe('from-env');
    expect(mixed.apiKey).toBe('env-key');
    expect(mixed.tls?.serverRootCACertificate?.toString()).toBe(readFileSync(other.ca, 'utf8'));
    expect(mixed.tls?.clientCertPair?.crt.toString()).toBe(readFileSync(mine.clientCert, 'utf8'));
    // An empty tls: section means TLS with the system trust store.
    expect(await resolveTemporalAuth({}, { tls: {} })).toEqual({ tls: {} });
  });

  it('an API key implies TLS (hosted Temporal)', async () => {
    expect(await resolveTemporalAuth({ TEMPORAL_API_KEY: 'secret' }, undefined)).toEqual({ tls: {}, apiKey: 'secret' });
  });

  it('the RepriseEnv carries only the TLS and API key variables', () => {
    const env = readEnv({ TEMPORAL_TLS_CLIENT_CERT_PATH: '/c', TEMPORAL_API_KEY: 'k', HOME: '/root', TEMPORAL_ADDRESS: 'h:1' });
    expect(env.temporalAuthEnv).toEqual({ TEMPORAL_TLS_CLIENT_CERT_PATH: '/c', TEMPORAL_API_KEY: 'k' });
    expect(env.agentIsolation).toBe(true);
    expect(readEnv({ REPRISE_AGENT_ISOLATION: 'off' }).agentIsolation).toBe(false);
  });
});

describe('bad Temporal TLS settings: exit 2, one line naming the setting', () => {
  it('a client certificate without its key, and a key without its certificate', async () => {
    expect((await failure({ TEMPORAL_TLS_CLIENT_CERT_PATH: mine.clientCert })).message).toBe(
      `TEMPORAL_TLS_CLIENT_CERT_PATH (${mine.clientCert}) is set but not the client key; set TEMPORAL_TLS_CLIENT_KEY_PATH (or temporal.tls.clientKeyPath in config.yaml)`,
    );
    expect((await failure({}, { tls: { clientKeyPath: mine.clientKey } })).message).toBe(
      `temporal.tls.clientKeyPath in config.yaml (${mine.clientKey}) is set but not the client certificate; set TEMPORAL_TLS_CLIENT_CERT_PATH (or temporal.tls.clientCertPath in config.yaml)`,
    );
  });

  it('a missing file', async () => {
    const missing = join(dir, 'nope.crt');
    expect((await failure({ TEMPORAL_TLS_SERVER_CA_CERT_PATH: missing })).message).toBe(`TEMPORAL_TLS_SERVER_CA_CERT_PATH: ${missing} does not exist; fix the path`);
  });

  it('a directory where a file belongs', async () => {
    expect((await failure({ TEMPORAL_TLS_SERVER_CA_CERT_PATH: dir })).message).toBe(`TEMPORAL_TLS_SERVER_CA_CERT_PATH: ${dir} is a directory, not a PEM file; name the file`);
  });

  it('a file that is not a certificate', async () => {
    const junk = join(dir, 'junk.pem');
    writeFileSync(junk, 'not a certificate\n');
    expect((await failure({ TEMPORAL_TLS_SERVER_CA_CERT_PATH: junk })).message).toMatch(/^TEMPORAL_TLS_SERVER_CA_CERT_PATH \(.*junk\.pem\) is not a PEM certificate/);
    // A key where the certificate belongs.
    expect((await failure({ TEMPORAL_TLS_CLIENT_CERT_PATH: mine.clientKey, TEMPORAL_TLS_CLIENT_KEY_PATH: mine.clientKey })).message).toMatch(/TEMPORAL_TLS_CLIENT_CERT_PATH .* is not a PEM certificate/);
  });

  it('an unreadable key (not a key, or encrypted)', async () => {
    const bad = join(dir, 'bad.key');
    writeFileSync(bad, '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n');
    expect((await failure({ TEMPORAL_TLS_CLIENT_CERT_PATH: mine.clientCert, TEMPORAL_TLS_CLIENT_KEY_PATH: bad })).message).toMatch(/^TEMPORAL_TLS_CLIENT_KEY_PATH \(.*bad\.key\) is not a readable PEM private key/);
  });

  it('a certificate with the key of another', async () => {
    expect((await failure({ TEMPORAL_TLS_CLIENT_CERT_PATH: mine.clientCert, TEMPORAL_TLS_CLIENT_KEY_PATH: other.clientKey })).message).toMatch(/do not belong together/);
  });

  it('TEMPORAL_TLS that is not a boolean, or false beside TLS settings', async () => {
    expect((await failure({ TEMPORAL_TLS: 'maybe' })).message).toBe('TEMPORAL_TLS=maybe is not a boolean; set it to true or false');
    expect((await failure({ TEMPORAL_TLS: 'false', TEMPORAL_API_KEY: 'k' })).message).toMatch(/^TEMPORAL_TLS=false but TLS settings or an API key are set/);
  });

  it('config.yaml: an unknown key under temporal.tls names the key', () => {
    try {
      parseYaml('temporal:\n  tls:\n    clientCert: /x\n', userConfigSchema, 'config.yaml');
      throw new Error('expected a refusal');
    } catch (err) {
      expect((err as RepriseError).exitCode).toBe(2);
      expect((err as RepriseError).message).toMatch(/config\.yaml: unknown key "clientCert" under "temporal\.tls"/);
    }
  });
});
