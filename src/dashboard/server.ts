import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { JOB_LOG } from '../activities/types.js';
import { readRunLog, type RunClient } from '../client/runs.js';
import { notFound, RepriseError } from '../errors.js';
import { findRun, readFeed, readRecord } from '../project/history.js';
import type { Project } from '../project/layout.js';
import { dashboardPage } from './page.js';
import { readLabImage, readLabs } from '../project/lab-history.js';
import { labView } from '../cli/lab-show.js';

/**
 * The Host headers the dashboard answers: IP literals, localhost, the address it listens on,
 * this machine's name and any the user allows. A DNS-rebinding page reaches the dashboard under
 * its own domain name, which is refused, so it cannot read the project through the browser.
 */
export function hostAllowed(hostHeader: string | undefined, allowed: readonly string[]): boolean {
  if (!hostHeader) return false;
  let name: string;
  try {
    name = new URL(`http://${hostHeader}`).hostname.replace(/^\[|\]$/g, '').toLowerCase();
  } catch {
    return false;
  }
  if (isIP(name) || name === 'localhost') return true;
  return allowed.some((a) => a.toLowerCase() === name);
}

/**
 * A read-only web dashboard for one project: the activity feed (git), live runs (Temporal) and
 * run logs, as JSON under /api and one page that polls it. Loopback only by default.
 */
export function createDashboard(project: Project, client: RunClient, options: { allowedHosts?: string[] } = {}): Server {
  const allowed = [hostname(), ...(options.allowedHosts ?? [])];
  const routes: [RegExp, (m: RegExpMatchArray, url: URL) => Promise<unknown>][] = [
    [/^\/api\/project$/, async () => ({ name: project.spec.name, id: project.spec.id, root: project.root })],
    [/^\/api\/feed$/, async (_m, url) => readFeed(project.root, Number(url.searchParams.get('n') ?? 100))],
    [/^\/api\/runs$/, async () => client.listWithState(project, 50)],
    [
      /^\/api\/runs\/(run-[a-z2-7]+)$/,
      async (m) => {
        const entry = await findRun(project.root, m[1]!).catch(() => undefined);
        if (entry) return { recorded: true, ...(await readRecord(project.root, entry)).record, commit: entry.commit };
        const progress = await client.progress(m[1]!);
        if (!progress) throw notFound(`no run ${m[1]}`);
        return { recorded: false, ...progress };
      },
    ],
    [/^\/api\/labs$/, async () => readLabs(project.root)],
    [/^\/api\/labs\/(lab-[a-z2-7]+)$/, async (m) => labView(project.root, m[1]!)],
    [
      /^\/api\/runs\/(run-[a-z2-7]+)\/log$/,
      async (m) => {
        const entry = await findRun(project.root, m[1]!).catch(() => undefined);
        if (entry) return { done: true, text: (await readRecord(project.root, entry)).log };
        if (client.env.team) {
          // A team run's worker is elsewhere: its latest output window rides on awaitJob's heartbeats.
          const window = (await client.awaitDetails(m[1]!)).details?.log;
          const tail = Buffer.from(window?.tail ?? '', 'base64');
          return { done: false, text: tail.toString(), skipped: (window?.end ?? 0) - tail.length };
        }
        return { done: false, text: (await readRunLog(client.env, m[1]!, JOB_LOG)) ?? '' };
      },
    ],
  ];

  return createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const send = (status: number, body: string, type: string) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
      res.end(body);
    };
    if (!hostAllowed(req.headers.host, allowed)) {
      return send(403, JSON.stringify({ error: `Host "${req.headers.host ?? ''}" is not this dashboard's; open it by address, or start it with --allowed-host NAME` }), 'application/json');
    }
    if (req.method !== 'GET') return send(405, JSON.stringify({ error: 'read-only: GET only' }), 'application/json');
    if (url.pathname === '/') return send(200, dashboardPage(project.spec.name), 'text/html; charset=utf-8');
    // A lab cell's image, from the session's commits (names are checked: letters, digits, . _ -).
    const image = /^\/api\/labs\/(lab-[a-z2-7]+)\/images\/([A-Za-z0-9_-][A-Za-z0-9._-]*\.(png|svg))$/.exec(url.pathname);
    if (image) {
      readLabImage(project.root, image[1]!, image[2]!).then(
        (bytes) => {
          res.writeHead(200, { 'content-type': image[3] === 'svg' ? 'image/svg+xml' : 'image/png', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', 'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'" });
          res.end(bytes);
        },
        () => send(404, JSON.stringify({ error: `no image ${image[2]} in lab ${image[1]}` }), 'application/json'),
      );
      return;
    }
    for (const [pattern, handler] of routes) {
      const m = url.pathname.match(pattern);
      if (!m) continue;
      handler(m, url).then(
        (data) => send(200, JSON.stringify(data), 'application/json'),
        (err: unknown) => send(err instanceof RepriseError ? 404 : 500, JSON.stringify({ error: (err as Error).message }), 'application/json'),
      );
      return;
    }
    send(404, JSON.stringify({ error: `no such page: ${url.pathname}` }), 'application/json');
  });
}
