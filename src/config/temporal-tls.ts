import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { badInput } from '../errors.js';
import { expandHome } from './env.js';

/**
 * How Reprise reaches a Temporal server it did not start (TEMPORAL_ADDRESS): TLS, mTLS and an API
 * key, from Temporal's own environment variables (the names its CLI and SDKs read, so settings a
 * user already has work) or from `temporal:` in the user config. The environment wins, per value.
 */
export const temporalSettingsSchema = z
  .object({
    /** Hosted Temporal (Temporal Cloud): sent as a bearer token; implies TLS. */
    apiKey: z.string().min(1).optional(),
    /** Present (even empty): connect with TLS. */
    tls: z
      .object({
        serverCaCertPath: z.string().min(1).optional(),
        clientCertPath: z.string().min(1).optional(),
        clientKeyPath: z.string().min(1).optional(),
        serverName: z.string().min(1).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();
export type TemporalSettings = z.infer<typeof temporalSettingsSchema>;

/** Temporal's environment variable names (`temporal options` lists them). */
export const TEMPORAL_ENV = {
  tls: 'TEMPORAL_TLS',
  serverCaCertPath: 'TEMPORAL_TLS_SERVER_CA_CERT_PATH',
  serverCaCertData: 'TEMPORAL_TLS_SERVER_CA_CERT_DATA',
  clientCertPath: 'TEMPORAL_TLS_CLIENT_CERT_PATH',
  clientCertData: 'TEMPORAL_TLS_CLIENT_CERT_DATA',
  clientKeyPath: 'TEMPORAL_TLS_CLIENT_KEY_PATH',
  clientKeyData: 'TEMPORAL_TLS_CLIENT_KEY_DATA',
  serverName: 'TEMPORAL_TLS_SERVER_NAME',
  apiKey: 'TEMPORAL_API_KEY',
} as const;

/** What the Temporal SDKs take (`Connection.connect`, `NativeConnection.connect`). */
export interface TemporalTls {
  serverRootCACertificate?: Buffer;
  clientCertPair?: { crt: Buffer; key: Buffer };
  serverNameOverride?: string;
}
export interface TemporalAuth {
  tls?: TemporalTls;
  apiKey?: string;
}
/** Where and how to connect, as both SDKs take it. */
export type TemporalConnectionOptions = TemporalAuth & { address: string };

/** One value and where the user set it, so an error names the place to fix. */
interface Source {
  where: string;
  path?: string;
  data?: string;
}

const configKey = (key: string) => `temporal.${key} in config.yaml`;

function pick(env: NodeJS.ProcessEnv, pathVar: string, dataVar: string, configPath: string | undefined, key: string): Source | undefined {
  if (env[dataVar]) return { where: dataVar, data: env[dataVar] };
  if (env[pathVar]) return { where: pathVar, path: env[pathVar] };
  if (configPath) return { where: configKey(`tls.${key}`), path: expandHome(configPath) };
  return undefined;
}

function flag(env: NodeJS.ProcessEnv, name: string): boolean | undefined {
  const value = env[name]?.trim().toLowerCase();
  if (!value) return undefined;
  if (['1', 'true', 'yes', 'on'].includes(value)) return true;
  if (['0', 'false', 'no', 'off'].includes(value)) return false;
  throw badInput(`${name}=${env[name]} is not a boolean; set it to true or false`);
}

async function bytes(source: Source): Promise<Buffer> {
  if (source.data !== undefined) return Buffer.from(source.data);
  try {
    return await readFile(source.path!);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw badInput(`${source.where}: ${source.path} does not exist; fix the path`);
    if (code === 'EACCES') throw badInput(`${source.where}: cannot read ${source.path} (permission denied); make it readable by this account`);
    if (code === 'EISDIR') throw badInput(`${source.where}: ${source.path} is a directory, not a PEM file; name the file`);
    throw badInput(`${source.where}: cannot read ${source.path} (${code ?? String(err)})`);
  }
}

const shown = (s: Source) => (s.path ? `${s.where} (${s.path})` : s.where);

async function certificate(source: Source): Promise<{ pem: Buffer; cert: X509Certificate }> {
  const pem = await bytes(source);
  try {
    return { pem, cert: new X509Certificate(pem) };
  } catch {
    throw badInput(`${shown(source)} is not a PEM certificate; point it at the certificate file (-----BEGIN CERTIFICATE-----)`);
  }
}

/**
 * TLS and API key settings for a Temporal server reached at TEMPORAL_ADDRESS, files read and
 * checked now: a missing file, an unreadable key or a certificate without its key is a bad input
 * (exit 2) here, not a TLS handshake error later. Undefined fields: plain gRPC.
 */
export async function resolveTemporalAuth(env: NodeJS.ProcessEnv, config: TemporalSettings | undefined): Promise<TemporalAuth> {
  const cfg = config?.tls;
  const ca = pick(env, TEMPORAL_ENV.serverCaCertPath, TEMPORAL_ENV.serverCaCertData, cfg?.serverCaCertPath, 'serverCaCertPath');
  const cert = pick(env, TEMPORAL_ENV.clientCertPath, TEMPORAL_ENV.clientCertData, cfg?.clientCertPath, 'clientCertPath');
  const key = pick(env, TEMPORAL_ENV.clientKeyPath, TEMPORAL_ENV.clientKeyData, cfg?.clientKeyPath, 'clientKeyPath');
  const serverName = env[TEMPORAL_ENV.serverName] || cfg?.serverName;
  const apiKey = env[TEMPORAL_ENV.apiKey] || config?.apiKey;
  const explicit = flag(env, TEMPORAL_ENV.tls);

  if (cert && !key) throw badInput(`${shown(cert)} is set but not the client key; set ${TEMPORAL_ENV.clientKeyPath} (or ${configKey('tls.clientKeyPath')})`);
  if (key && !cert) throw badInput(`${shown(key)} is set but not the client certificate; set ${TEMPORAL_ENV.clientCertPath} (or ${configKey('tls.clientCertPath')})`);
  const wantsTls = Boolean(ca || cert || serverName || apiKey || cfg);
  if (explicit === false && wantsTls) {
    throw badInput(`${TEMPORAL_ENV.tls}=false but TLS settings or an API key are set; unset ${TEMPORAL_ENV.tls} or remove the other settings`);
  }
  if (!wantsTls && !explicit) return {};

  const tls: TemporalTls = {};
  if (ca) tls.serverRootCACertificate = (await certificate(ca)).pem;
  if (cert && key) {
    const { pem: crt, cert: x509 } = await certificate(cert);
    const keyPem = await bytes(key);
    let parsed;
    try {
      parsed = createPrivateKey(keyPem);
    } catch {
      throw badInput(`${shown(key)} is not a readable PEM private key (an encrypted key needs its passphrase removed: openssl pkey -in KEY -out KEY.plain)`);
    }
    if (!x509.checkPrivateKey(parsed)) throw badInput(`the client certificate ${shown(cert)} and key ${shown(key)} do not belong together; set the key issued with that certificate`);
    tls.clientCertPair = { crt, key: keyPem };
  }
  if (serverName) tls.serverNameOverride = serverName;
  return { tls, ...(apiKey ? { apiKey } : {}) };
}
