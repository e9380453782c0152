import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import { createAdaptorServer } from '@hono/node-server';
import { getCookie, setCookie } from 'hono/cookie';
import type { Context } from 'hono';
import type { Server } from 'node:http';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import type { RunClient } from '../client/runs.js';
import { errorMessage } from '../errors.js';
import type { Project } from '../project/layout.js';
import { addActionRoutes, statusOf } from './actions.js';
import { CSRF_HEADER, SESSION_COOKIE, SESSION_MAX_AGE, type DashboardAuth } from './auth.js';
import { dashboardPage } from './page.js';
import { addReadRoutes } from './read-api.js';
import { addBackendRoutes } from './backends-api.js';
import { addTeamRoutes } from './team-api.js';
import { ErrorBody, LoginQuery, Session } from './schemas.js';

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

/** True when a write's Origin is this dashboard as the browser addressed it (a foreign page's request is not). */
export function originAllowed(origin: string | undefined, host: string | undefined): boolean {
  if (!origin || !host) return false;
  try {
    return new URL(origin).host === host.toLowerCase();
  } catch {
    return false;
  }
}

export interface DashboardOptions {
  auth: DashboardAuth;
  allowedHosts?: string[];
  /** Listening beyond loopback: reading needs the login too. */
  loginToRead?: boolean;
  /** Where the built web app is (dist/dashboard/web next to this module). */
  assetsDir?: URL;
}

const ACTION = /^\/api\/(runs|sweeps|labs)\/[a-z]+-[a-z2-7]+\/(cancel|rerun|verify|retry|stop)$/;
const ASSETS: Record<string, string> = { 'app.js': 'text/javascript; charset=utf-8', 'app.css': 'text/css; charset=utf-8' };
const PAGE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** The dashboard app (hono): JSON API described by /api/openapi.json, the web app, login and actions. */
export function dashboardApp(project: Project, client: RunClient, options: DashboardOptions): OpenAPIHono {
  const { auth } = options;
  const allowed = [hostname(), ...(options.allowedHosts ?? [])];
  const assets = options.assetsDir ?? new URL('./web/', import.meta.url);
  const app = new OpenAPIHono({
    defaultHook: (result, c) => {
      if (!result.success) {
        const issue = result.error.issues[0];
        // A path naming no run, sweep, lab or image is a page that does not exist, as before the framework.
        if (result.target === 'param') return c.json({ error: `no such page: ${new URL(c.req.url).pathname}` }, 404);
        return c.json({ error: `invalid ${issue?.path.join('.') || 'request'}: ${issue?.message ?? 'malformed'}` }, 400);
      }
    },
  });
  const fail = (c: Context, status: 401 | 403 | 404 | 405, error: string) => c.json({ error }, status);
  const sessionOf = (c: Context) => auth.session(getCookie(c, SESSION_COOKIE));

  app.use('*', async (c, next) => {
    await next();
    c.header('cache-control', 'no-store');
    c.header('x-content-type-options', 'nosniff');
    c.header('referrer-policy', 'no-referrer');
  });
  app.use('*', async (c, next) => {
    const host = c.req.header('host');
    if (!hostAllowed(host, allowed)) return fail(c, 403, `Host "${host ?? ''}" is not this dashboard's; open it by address, or start it with --allowed-host NAME`);
    const { pathname } = new URL(c.req.url);
    const session = sessionOf(c);
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      if (!ACTION.test(pathname)) return c.json({ error: 'read-only: GET only' }, 405);
      if (!session) return fail(c, 401, 'log in first: open the login URL `reprise dashboard` printed');
      if (!originAllowed(c.req.header('origin'), host)) return fail(c, 403, `Origin "${c.req.header('origin') ?? ''}" is not this dashboard's`);
      if (!auth.csrfValid(session, c.req.header(CSRF_HEADER))) return fail(c, 403, `missing or wrong ${CSRF_HEADER} header (GET /api/session gives it)`);
    } else if (options.loginToRead && !session && pathname !== '/login' && pathname !== '/api/session') {
      return fail(c, 401, 'this dashboard is reachable beyond this machine: open the login URL `reprise dashboard` printed');
    }
    return next();
  });

  app.openapi(
    createRoute({
      method: 'get',
      path: '/login',
      summary: 'Trade the one-time login token `reprise dashboard` printed for a session cookie (HttpOnly, SameSite=Strict)',
      request: { query: LoginQuery },
      responses: { 303: { description: 'logged in: on to the dashboard' }, 401: { description: 'the token is unknown or used', content: { 'application/json': { schema: ErrorBody } } } },
    }),
    (c) => {
      const cookie = auth.login(c.req.valid('query').token);
      if (!cookie) return c.json({ error: 'this login link is used, expired or unknown; get a new one with `reprise dashboard login`' }, 401);
      setCookie(c, SESSION_COOKIE, cookie, { httpOnly: true, sameSite: 'Strict', path: '/', maxAge: SESSION_MAX_AGE });
      return c.redirect('/', 303);
    },
  );
  app.openapi(
    createRoute({ method: 'get', path: '/api/session', summary: 'Whether this browser is logged in, and its CSRF token', responses: { 200: { description: 'OK', content: { 'application/json': { schema: Session } } } } }),
    (c) => {
      const session = sessionOf(c);
      return c.json({ loggedIn: Boolean(session), ...(session ? { csrf: auth.csrfToken(session) } : {}), loginRequiredToRead: Boolean(options.loginToRead) }, 200);
    },
  );
  addReadRoutes(app, { project, client });
  addBackendRoutes(app, { project, client });
  addTeamRoutes(app, { project, client });
  addActionRoutes(app, { project, client });
  app.doc31('/api/openapi.json', { openapi: '3.1.0', info: { title: `Reprise dashboard: ${project.spec.name}`, version: '1' } });

  app.get('/', (c) => c.html(dashboardPage(project.spec.name), 200, { 'content-security-policy': PAGE_CSP }));
  app.get('/assets/:file', async (c) => {
    const file = c.req.param('file');
    const type = ASSETS[file];
    const body = type ? await readFile(new URL(file, assets)).catch(() => undefined) : undefined;
    if (!body) return fail(c, 404, type ? `the web app is not built: run npm run build` : `no such asset: ${file}`);
    return c.body(new Uint8Array(body), 200, { 'content-type': type! });
  });
  app.notFound((c) => fail(c, 404, `no such page: ${new URL(c.req.url).pathname}`));
  app.onError((err, c) => c.json({ error: errorMessage(err) }, statusOf(err)));
  return app;
}

/** The dashboard as a Node HTTP server (not yet listening). */
export function createDashboard(project: Project, client: RunClient, options: DashboardOptions): Server {
  return createAdaptorServer({ fetch: dashboardApp(project, client, options).fetch }) as Server;
}

