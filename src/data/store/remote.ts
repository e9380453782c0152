import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { badInput } from '../../errors.js';
import { Git } from '../../project/git.js';
import { DVC_CONFIG, DVC_DIR, ensureDvcRepository, parseIni, readDvcConfig, remoteSection, writeDvcConfig, type DvcConfig } from '../dvc-config.js';
import { formatStoreUrl, parseStoreUrl } from './location.js';
import { S3Store } from './s3-store.js';

/**
 * The project's data remote, kept where DVC keeps it (`.dvc/config`: `[core] remote = NAME` and
 * `['remote "NAME"'] url = s3://… endpointurl = …`), so DVC users and Reprise share it. Each
 * user's `.dvc/config.local` (git-ignored) may override it, as in DVC. Never credentials.
 */
export interface DataRemote {
  name: string;
  url: string;
  endpoint?: string;
  region?: string;
  profile?: string;
}

/** The name `data remote set` gives a new remote when the project has none (DVC's docs call theirs "storage" too). */
export const DEFAULT_REMOTE_NAME = 'storage';

const CONFIG_LOCAL = `${DVC_DIR}/config.local`;

async function readLocalConfig(root: string): Promise<DvcConfig | undefined> {
  const text = await readFile(join(root, CONFIG_LOCAL), 'utf8').catch(() => undefined);
  return text === undefined ? undefined : parseIni(text, CONFIG_LOCAL);
}

/**
 * The default remote (config.local over config), or undefined when none is set. With `commit`,
 * config is the one that commit holds: a team worker's bare clone has no working tree.
 */
export async function readDataRemote(root: string, commit?: string): Promise<DataRemote | undefined> {
  const committed = commit === undefined ? await readDvcConfig(root) : parseIni(await new Git(root).run(['show', `${commit}:${DVC_CONFIG}`]).catch(() => ''));
  const configs = [await readLocalConfig(root), committed].filter((c): c is DvcConfig => c !== undefined);
  const get = (section: string, key: string) => configs.map((c) => c.get(section, key)).find((v) => v !== undefined);
  const name = get('core', 'remote');
  if (!name) return undefined;
  const section = remoteSection(name);
  const url = get(section, 'url');
  if (!url) throw badInput(`.dvc/config names the data remote "${name}" but has no url for it; set one: reprise data remote set s3://bucket/prefix`);
  const endpoint = get(section, 'endpointurl');
  const region = get(section, 'region');
  const profile = get(section, 'profile');
  return { name, url, ...(endpoint ? { endpoint } : {}), ...(region ? { region } : {}), ...(profile ? { profile } : {}) };
}

export async function requireDataRemote(root: string, commit?: string): Promise<DataRemote> {
  const remote = await readDataRemote(root, commit);
  if (!remote) throw badInput('this project has no data remote; set one: reprise data remote set s3://bucket/prefix [--endpoint URL]');
  return remote;
}

/** A client for the remote; only S3 remotes are Reprise's (DVC may have others). */
export function openStore(remote: DataRemote): S3Store {
  if (!remote.url.startsWith('s3://')) throw badInput(`the data remote "${remote.name}" is ${remote.url}; Reprise reads s3:// remotes only: reprise data remote set s3://bucket/prefix`);
  return new S3Store({ location: parseStoreUrl(remote.url), endpoint: remote.endpoint, region: remote.region, profile: remote.profile });
}

/**
 * Make `url` the project's default data remote in `.dvc/config` (the current default is updated
 * in place, keeping what else DVC wrote; else a remote named "storage" is added). An endpoint
 * is kept when not given again; `endpoint: null` removes it.
 */
export async function setDataRemote(root: string, url: string, endpoint: string | null | undefined): Promise<DataRemote> {
  const location = parseStoreUrl(url);
  if (endpoint) checkEndpoint(endpoint);
  await ensureDvcRepository(root);
  const config = await readDvcConfig(root);
  const name = config.get('core', 'remote') ?? DEFAULT_REMOTE_NAME;
  const section = remoteSection(name);
  config.set('core', 'remote', name);
  config.set(section, 'url', formatStoreUrl(location));
  if (endpoint) config.set(section, 'endpointurl', endpoint.replace(/\/+$/, ''));
  else if (endpoint === null) config.delete(section, 'endpointurl');
  await writeDvcConfig(root, config);
  return requireDataRemote(root);
}

function checkEndpoint(endpoint: string): void {
  let parsed: URL | undefined;
  try {
    parsed = new URL(endpoint);
  } catch {
    parsed = undefined;
  }
  if (!parsed || !/^https?:$/.test(parsed.protocol) || parsed.username || parsed.password || parsed.search || parsed.hash) {
    throw badInput(`"${endpoint}" is not an endpoint URL; give http(s)://host[:port] (no credentials in it: they come from the AWS environment or ~/.aws/credentials)`);
  }
}
