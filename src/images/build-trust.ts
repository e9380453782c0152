import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { BuildSettings } from '../config/build-settings.js';
import { expandHome } from '../config/env.js';
import { badInput } from '../errors.js';

/**
 * What a build needs from the user's network to reach package indexes: the CA certificates the
 * user already trusts (a TLS-inspecting proxy or a private index re-signs with its own CA, which
 * a fresh base image does not know) and the proxy settings. Neither changes the environment
 * hash: they decide how packages are fetched, not which.
 */
export interface BuildTrust {
  /** PEM bundle handed to pip/conda during the build; undefined: the image's own trust only. */
  caBundle?: Buffer;
  /** Where the bundle came from (a path), for the lock and messages. */
  caSource?: string;
  /** Docker's predefined proxy build args (never written into the image or its history). */
  proxy: Record<string, string>;
}

/** The host trust stores tried, in order, when the user config names none. */
const HOST_BUNDLES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt', '/etc/ssl/cert.pem'];

export async function resolveBuildTrust(settings: BuildSettings | undefined, env: NodeJS.ProcessEnv = process.env): Promise<BuildTrust> {
  const proxy: Record<string, string> = {};
  const pick = (configured: string | undefined, ...names: string[]) => configured ?? names.map((n) => env[n]).find((v) => v);
  const entries: [string, string | undefined][] = [
    ['HTTP_PROXY', pick(settings?.httpProxy, 'HTTP_PROXY', 'http_proxy')],
    ['HTTPS_PROXY', pick(settings?.httpsProxy, 'HTTPS_PROXY', 'https_proxy')],
    ['NO_PROXY', pick(settings?.noProxy, 'NO_PROXY', 'no_proxy')],
  ];
  for (const [name, value] of entries) if (value) proxy[name] = proxy[name.toLowerCase()] = value;

  if (settings?.caFile === 'none') return { proxy };
  if (settings?.caFile) {
    const path = expandHome(settings.caFile);
    const caBundle = await readFile(path).catch(() => {
      throw badInput(`build.caFile "${settings.caFile}" in your user config cannot be read; fix the path or remove the key (default: the host's trust store)`);
    });
    if (!caBundle.includes('-----BEGIN CERTIFICATE-----')) throw badInput(`build.caFile "${settings.caFile}" holds no PEM certificate; point it at a PEM CA bundle`);
    return { caBundle, caSource: path, proxy };
  }
  for (const path of [env.SSL_CERT_FILE, ...HOST_BUNDLES]) {
    if (!path) continue;
    const caBundle = await readFile(path).catch(() => undefined);
    if (caBundle?.includes('-----BEGIN CERTIFICATE-----')) return { caBundle, caSource: path, proxy };
  }
  return { proxy };
}

/**
 * Lines for the environment lock saying what reached the build: the bundle by digest (a
 * different CA is a different build setting) and which proxies were set, never their URLs
 * (they may hold credentials).
 */
export function buildTrustNotes(trust: BuildTrust): string[] {
  const notes: string[] = [];
  if (trust.caBundle) notes.push(`ca-bundle=sha256:${createHash('sha256').update(trust.caBundle).digest('hex')}`);
  const proxies = ['HTTP_PROXY', 'HTTPS_PROXY'].filter((n) => trust.proxy[n]);
  if (proxies.length) notes.push(`proxy=${proxies.join(',').toLowerCase()}`);
  return notes;
}
