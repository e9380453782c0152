import { badInput } from '../errors.js';

/** The `--url` people open the dashboard under: http(s), no path (the routes are absolute). */
export function publicUrl(value: string | undefined): URL | undefined {
  if (value === undefined) return undefined;
  const url = URL.canParse(value) ? new URL(value) : undefined;
  if (!url || !/^https?:$/.test(url.protocol) || url.pathname !== '/' || url.search || url.hash)
    throw badInput(`--url ${JSON.stringify(value)} is not the dashboard's base address; give scheme, host and port only, e.g. --url http://127.0.0.1:8484`);
  return url;
}
