import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { stat, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { RunClient } from '../../../src/client/runs.js';
import { readEnv } from '../../../src/config/env.js';
import { DashboardAuth, dashboardKey } from '../../../src/dashboard/auth.js';
import { createDashboard, dashboardApp } from '../../../src/dashboard/server.js';
import { liveLogFollowers } from '../../../src/dashboard/log-stream.js';
import type { RunInput } from '../../../src/activities/types.js';
import { makeProject, git, tempDir } from '../../helpers/project.js';
import { startTemporal } from '../../helpers/temporal.js';
import { fakeRunId, TINY_PNG, writeRunHistory } from '../../helpers/run-history.js';
import type { Project } from '../../../src/project/layout.js';

// The dashboard API in process (app.fetch, no socket) over a real git history and a real
// Temporal dev server, every answer checked against the OpenAPI document the app serves.

type Schema = { type?: string | string[]; properties?: Record<string, Schema>; required?: string[]; items?: Schema; enum?: unknown[]; anyOf?: Schema[]; oneOf?: Schema[]; $ref?: string; additionalProperties?: Schema | boolean };
type Doc = { paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: Schema }> }> }>>; components?: { schemas?: Record<string, Schema> } };

/** The problems of `value` against an OpenAPI 3.1 schema (the subset zod-openapi emits). */
function conforms(doc: Doc, schema: Schema, value: unknown, at = '$'): string[] {
  if (schema.$ref) return conforms(doc, doc.components!.schemas![schema.$ref.split('/').pop()!]!, value, at);
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives) return alternatives.some((s) => conforms(doc, s, value, at).length === 0) ? [] : [`${at}: matches no alternative`];
  if (schema.enum && !schema.enum.includes(value)) return [`${at}: ${JSON.stringify(value)} not in enum`];
  const types = [schema.type ?? []].flat();
  const typeOf = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : Number.isInteger(v) ? 'integer' : typeof v);
  if (types.length && !types.some((t) => t === typeOf(value) || (t === 'number' && typeof value === 'number'))) return [`${at}: ${typeOf(value)} is not ${types.join('|')}`];
  if (Array.isArray(value) && schema.items) return value.flatMap((v, i) => conforms(doc, schema.items!, v, `${at}[${i}]`));
  if (typeOf(value) === 'object' && schema.properties) {
    const obj = value as Record<string, unknown>;
    return [
      ...(schema.required ?? []).filter((k) => !(k in obj)).map((k) => `${at}.${k}: missing`),
      ...Object.entries(schema.properties).flatMap(([k, s]) => (obj[k] === undefined ? [] : conforms(doc, s, obj[k], `${at}.${k}`))),
    ];
  }
  return [];
}

let temporal: TestWorkflowEnvironment;
let client: RunClient;
let project: Project;
let auth: DashboardAuth;
let app: ReturnType<typeof dashboardApp>;
let doc: Doc;
let home: string;
const seen = new Set<string>();
const HOST = '127.0.0.1:8484';
const ORIGIN = `http://${HOST}`;

/** A request as a browser on the dashboard's own page makes it; every answer is checked against the document. */
async function call(method: string, path: string, options: { headers?: Record<string, string>; body?: unknown; route?: string } = {}) {
  const res = await app.fetch(
    new Request(`http://${HOST}${path}`, {
      method,
      headers: { host: HOST, ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}), ...options.headers },
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    }),
  );
  const route = options.route ?? path.split('?')[0]!;
  const op = doc?.paths[route]?.[method.toLowerCase()];
  const type = res.headers.get('content-type') ?? '';
  const body = type.includes('json') ? ((await res.json()) as unknown) : Buffer.from(await res.arrayBuffer());
  if (op) {
    seen.add(`${method} ${route}`);
    const declared = op.responses[String(res.status)];
    expect(declared, `${method} ${route} answered ${res.status}, which its document does not declare`).toBeDefined();
    const schema = declared?.content?.['application/json']?.schema;
    if (schema && type.includes('json')) expect(conforms(doc, schema, body), `${method} ${route} ${res.status}`).toEqual([]);
  }
  return { status: res.status, headers: res.headers, body: body as Record<string, unknown> & unknown[] & Buffer };
}

async function login(): Promise<{ cookie: string; csrf: string }> {
  const token = auth.issueLoginToken();
  const res = await call('GET', `/login?token=${token}`);
  expect(res.status).toBe(303);
  const setCookie = res.headers.get('set-cookie')!;
  expect(setCookie).toMatch(/HttpOnly/);
  expect(setCookie).toMatch(/SameSite=Strict/);
  const cookie = setCookie.split(';')[0]!;
  const session = await call('GET', '/api/session', { headers: { cookie } });
  expect(session.body).toMatchObject({ loggedIn: true, loginRequiredToRead: false });
  return { cookie, csrf: session.body.csrf as string };
}

const runInput = (runId: string, root: string): RunInput => ({ runId, projectRoot: root, backend: 'docker', command: ['true'], resources: {} });

beforeAll(async () => {
  temporal = await startTemporal();
  home = await tempDir('reprise-dash-api-home-');
  client = await RunClient.connect({ ...readEnv({}), home, temporalAddress: temporal.address, taskQueue: `dash-api-nobody-${process.pid}` }, { start: false });
  project = await makeProject({ name: 'dashapi' });
  writeRunHistory(project.root, 30, project.spec);
  git(project.root, 'branch', 'side', 'HEAD~25');
  auth = new DashboardAuth(await dashboardKey(home));
  app = dashboardApp(project, client, { auth });
  doc = (await (await app.fetch(new Request(`http://${HOST}/api/openapi.json`, { headers: { host: HOST } }))).json()) as Doc;
}, 300_000);

afterAll(async () => {
  await client?.close();
  await temporal?.teardown();
});

describe('the dashboard API, against its OpenAPI document', () => {
  it('documents every route with its error answers, and keeps its HMAC key private (0600)', async () => {
    expect(Object.keys(doc.paths).sort()).toEqual(
      [
        '/api/activity', '/api/feed', '/api/labs', '/api/labs/{labId}', '/api/labs/{labId}/images/{name}', '/api/labs/{labId}/stop', '/api/project', '/api/runs', '/api/runs/{runId}',
        '/api/runs/{runId}/cancel', '/api/runs/{runId}/log', '/api/runs/{runId}/log/stream', '/api/runs/{runId}/output', '/api/runs/{runId}/rerun', '/api/session',
        '/api/sweeps/{sweepId}', '/api/sweeps/{sweepId}/cancel', '/login', '/api/runs/{runId}/source-diff', '/api/runs/{runId}/env-diff', '/api/runs/{runId}/verify', '/api/sweeps/{sweepId}/retry',
        '/api/backends', '/api/backends/{name}/check', '/api/team',
      ].sort(),
    );
    for (const [path, ops] of Object.entries(doc.paths)) for (const [method, op] of Object.entries(ops)) if (path.startsWith('/api/') && path !== '/api/session') expect(Object.keys(op.responses), `${method} ${path}`).toContain('403');
    expect((await stat(join(home, 'dashboard.key'))).mode & 0o777).toBe(0o600);
  });

  it('reads the project, the feed, the live runs and the labs', async () => {
    expect((await call('GET', '/api/project')).body).toMatchObject({ name: 'dashapi', id: project.spec.id });
    const feed = await call('GET', '/api/feed?n=5');
    expect(feed.body).toHaveLength(5);
    expect(feed.body[0]).toMatchObject({ runId: fakeRunId(29) });
    expect((await call('GET', '/api/runs')).status).toBe(200);
    expect((await call('GET', '/api/labs')).body).toEqual([]);
  });

  it('pages the activity and filters it by backend, state, branch and text', async () => {
    const first = await call('GET', '/api/activity?limit=10', { route: '/api/activity' });
    expect(first.body).toMatchObject({ total: 30, offset: 0, limit: 10, branch: 'main' });
    expect((first.body.items as { id: string }[]).map((i) => i.id)).toEqual(Array.from({ length: 10 }, (_, i) => fakeRunId(29 - i)));
    const third = await call('GET', '/api/activity?limit=10&offset=20', { route: '/api/activity' });
    expect((third.body.items as { id: string }[]).at(-1)!.id).toBe(fakeRunId(0));
    const failed = await call('GET', '/api/activity?state=failed', { route: '/api/activity' });
    expect((failed.body.items as { id: string }[]).map((i) => i.id)).toEqual([fakeRunId(29), fakeRunId(19), fakeRunId(9)]);
    expect((await call('GET', '/api/activity?backend=hpc', { route: '/api/activity' })).body.total).toBe(15);
    expect((await call('GET', '/api/activity?q=echo%20run%207', { route: '/api/activity' })).body.total).toBe(1);
    expect((await call('GET', '/api/activity?branch=side', { route: '/api/activity' })).body).toMatchObject({ total: 5, branch: 'side' });
    expect((await call('GET', '/api/activity?branch=nope', { route: '/api/activity' })).status).toBe(404);
    expect((await call('GET', '/api/activity?limit=0', { route: '/api/activity' })).status).toBe(400);
  });

  it('shows a recorded run, its log (JSON and as events) and its outputs', async () => {
    const runId = fakeRunId(0);
    const run = await call('GET', `/api/runs/${runId}`, { route: '/api/runs/{runId}' });
    expect(run.body).toMatchObject({ recorded: true, runId, state: 'succeeded', outputs: [expect.objectContaining({ path: 'output/plot.png' }), expect.objectContaining({ path: 'output/table.csv' })] });
    expect((await call('GET', `/api/runs/${runId}/log`, { route: '/api/runs/{runId}/log' })).body).toEqual({ done: true, text: 'hello from run 0\n' });
    const stream = await call('GET', `/api/runs/${runId}/log/stream`, { route: '/api/runs/{runId}/log/stream' });
    expect(stream.headers.get('content-type')).toBe('text/event-stream');
    expect(stream.body.toString()).toBe(`event: log\ndata: ${JSON.stringify('hello from run 0\n')}\n\nevent: end\ndata: {"state":"succeeded"}\n\n`);
    const png = await call('GET', `/api/runs/${runId}/output?path=output/plot.png`, { route: '/api/runs/{runId}/output' });
    expect(png.status).toBe(200);
    expect(png.headers.get('content-type')).toBe('image/png');
    expect(png.headers.get('content-security-policy')).toContain('sandbox');
    expect(Buffer.compare(png.body, TINY_PNG)).toBe(0);
    // Only what the record lists, from the record's commit: not the project's other files.
    expect((await call('GET', `/api/runs/${runId}/output?path=output/../.reprise/project.yaml`, { route: '/api/runs/{runId}/output' })).status).toBe(404);
    expect((await call('GET', `/api/runs/${runId}/output?path=.reprise/project.yaml`, { route: '/api/runs/{runId}/output' })).status).toBe(400);
  });

  it('shows a run\'s timeline, resources and parent; diffs its sources against the parent or a chosen run', async () => {
    const run = await call('GET', `/api/runs/${fakeRunId(5)}`, { route: '/api/runs/{runId}' });
    // Recorded before timelines: only its start and finish, said so.
    expect(run.body).toMatchObject({
      parentRun: fakeRunId(4),
      timeline: { complete: false, entries: [{ state: 'running' }, { state: 'exited' }] },
      usage: { wallSeconds: 0, coreHours: 0 },
    });
    expect((await call('GET', `/api/runs/${fakeRunId(0)}`, { route: '/api/runs/{runId}' })).body.parentRun).toBeUndefined();

    const other = await makeProject({ name: 'dashdiff' });
    await writeFile(join(other.root, 'code/fit.py'), 'print(1)\n');
    git(other.root, 'add', '-A');
    git(other.root, 'commit', '-qm', 'v1');
    const v1 = git(other.root, 'rev-parse', 'HEAD').trim();
    await writeFile(join(other.root, 'code/fit.py'), 'print(2)\n');
    git(other.root, 'commit', '-qam', 'v2');
    const v2 = git(other.root, 'rev-parse', 'HEAD').trim();
    writeRunHistory(other.root, 3, other.spec, [v1, v2, v2]);
    const diffApp = dashboardApp(other, client, { auth });
    const get = async (path: string) => {
      const res = await diffApp.fetch(new Request(`http://${HOST}${path}`, { headers: { host: HOST } }));
      const body = (await res.json()) as Record<string, unknown>;
      const schema = doc.paths[path.split('?')[0]!.replace(/run-[a-z2-7]+/, '{runId}')]!.get!.responses[String(res.status)]!.content!['application/json']!.schema;
      expect(conforms(doc, schema, body)).toEqual([]);
      return { status: res.status, body };
    };
    const diff = await get(`/api/runs/${fakeRunId(1)}/source-diff`);
    expect(diff.body).toMatchObject({ runId: fakeRunId(1), against: fakeRunId(0), from: v1, to: v2, truncated: false });
    expect(diff.body.diff).toContain('-print(1)\n+print(2)');
    expect((await get(`/api/runs/${fakeRunId(2)}/source-diff`)).body).toMatchObject({ against: fakeRunId(1), diff: '' });
    expect((await get(`/api/runs/${fakeRunId(2)}/source-diff?against=${fakeRunId(0)}`)).body.diff).toContain('+print(2)');
    const first = await get(`/api/runs/${fakeRunId(0)}/source-diff`);
    expect(first).toEqual({ status: 404, body: { error: `run ${fakeRunId(0)} has no earlier run on this branch to compare with; choose one with ?against=RUN` } });
    expect((await get(`/api/runs/${fakeRunId(1)}/source-diff?against=${fakeRunId(100_005)}`)).status).toBe(404);
    expect((await get(`/api/runs/${fakeRunId(1)}/source-diff?against=nope`)).status).toBe(400);
  });

  it('diffs environment locks as `reprise env diff` does; a run recorded without a lock is 404', async () => {
    const noLock = await call('GET', `/api/runs/${fakeRunId(3)}/env-diff`, { route: '/api/runs/{runId}/env-diff' });
    expect(noLock.status).toBe(404);
    expect(noLock.body.error).toMatch(/has no environment lock/);
    expect((await call('GET', `/api/runs/${fakeRunId(0)}/env-diff`, { route: '/api/runs/{runId}/env-diff' })).status).toBe(404);
    expect((await call('GET', `/api/runs/${fakeRunId(3)}/env-diff?against=x`, { route: '/api/runs/{runId}/env-diff' })).status).toBe(400);
    expect((await call('GET', `/api/runs/${fakeRunId(3)}/source-diff`, { route: '/api/runs/{runId}/source-diff' })).body).toMatchObject({ against: fakeRunId(2), diff: '' });
  });

  it('answers 404 for an unknown run, sweep or lab, and for another project\'s live run', async () => {
    const other = fakeRunId(100_001);
    await client.start(runInput(other, '/elsewhere'), 'another-project');
    expect((await call('GET', `/api/runs/${other}`, { route: '/api/runs/{runId}' })).status).toBe(404);
    expect((await call('GET', `/api/runs/${other}/log`, { route: '/api/runs/{runId}/log' })).status).toBe(404);
    expect((await call('GET', `/api/runs/${other}/log/stream`, { route: '/api/runs/{runId}/log/stream' })).status).toBe(404);
    expect((await call('GET', '/api/runs/run-zzzzzzzzzzzz', { route: '/api/runs/{runId}' })).status).toBe(404);
    expect((await call('GET', '/api/sweeps/sweep-zzzzzzzzzzzz', { route: '/api/sweeps/{sweepId}' })).status).toBe(404);
    // A metric comes from a JSON file under output/, never from elsewhere in the project.
    expect((await call('GET', '/api/sweeps/sweep-zzzzzzzzzzzz?metric=output/../.reprise/x.json', { route: '/api/sweeps/{sweepId}' })).status).toBe(400);
    expect((await call('GET', '/api/sweeps/sweep-zzzzzzzzzzzz?metric=.reprise/project.json', { route: '/api/sweeps/{sweepId}' })).status).toBe(400);
    expect((await call('GET', '/api/labs/lab-zzzzzzzzzzzz', { route: '/api/labs/{labId}' })).status).toBe(404);
    expect((await call('GET', '/api/labs/lab-zzzzzzzzzzzz/images/a.png', { route: '/api/labs/{labId}/images/{name}' })).status).toBe(404);
    expect((await call('GET', '/api/runs/not-an-id')).status).toBe(404);
    expect((await call('GET', '/api/labs/lab-zzzzzzzzzzzz/images/..%2F..%2Fproject.yaml')).status).toBe(404);
    const { cookie, csrf } = await login();
    const write = { cookie, origin: ORIGIN, 'x-csrf-token': csrf };
    expect((await call('POST', `/api/runs/${other}/cancel`, { headers: write, route: '/api/runs/{runId}/cancel' })).status).toBe(404);
    expect((await call('POST', '/api/sweeps/sweep-zzzzzzzzzzzz/cancel', { headers: write, route: '/api/sweeps/{sweepId}/cancel' })).status).toBe(404);
    expect((await call('POST', '/api/labs/lab-zzzzzzzzzzzz/stop', { headers: write, route: '/api/labs/{labId}/stop' })).status).toBe(404);
    expect((await call('POST', `/api/runs/${fakeRunId(100_002)}/rerun`, { headers: write, body: {}, route: '/api/runs/{runId}/rerun' })).status).toBe(404);
    expect((await call('POST', `/api/runs/${fakeRunId(100_002)}/verify`, { headers: write, body: {}, route: '/api/runs/{runId}/verify' })).status).toBe(404);
    const noSweep = await call('POST', '/api/sweeps/sweep-zzzzzzzzzzzz/retry', { headers: write, body: {}, route: '/api/sweeps/{sweepId}/retry' });
    expect(noSweep).toMatchObject({ status: 404, body: { error: 'no recorded sweep sweep-zzzzzzzzzzzz in this project' } });
    expect((await call('POST', '/api/sweeps/sweep-zzzzzzzzzzzz/retry', { headers: { cookie, origin: ORIGIN }, body: {}, route: '/api/sweeps/{sweepId}/retry' })).status).toBe(403);
    expect((await call('POST', `/api/runs/${fakeRunId(0)}/verify`, { headers: { origin: ORIGIN }, body: {}, route: '/api/runs/{runId}/verify' })).status).toBe(401);
    expect((await call('POST', `/api/runs/${fakeRunId(0)}/verify`, { headers: write, body: { backend: 'no such/backend' }, route: '/api/runs/{runId}/verify' })).status).toBe(400);
    await client.handle(other).terminate();
  });

  it('refuses writes without a session (401), from a foreign Origin or without the CSRF token (403), and a foreign Host (403)', async () => {
    const runId = fakeRunId(1);
    const cancel = (headers: Record<string, string>) => call('POST', `/api/runs/${runId}/cancel`, { headers, route: '/api/runs/{runId}/cancel' });
    expect((await cancel({ origin: ORIGIN })).status).toBe(401);
    expect((await cancel({ origin: ORIGIN, cookie: 'reprise_session=1.forged.sig', 'x-csrf-token': 'x' })).status).toBe(401);
    const { cookie, csrf } = await login();
    const foreign = await cancel({ cookie, origin: 'http://attacker.example', 'x-csrf-token': csrf });
    expect(foreign.status).toBe(403);
    expect(foreign.body).toEqual({ error: 'Origin "http://attacker.example" is not this dashboard\'s' });
    expect((await cancel({ cookie, 'x-csrf-token': csrf })).status).toBe(403);
    expect((await cancel({ cookie, origin: ORIGIN })).status).toBe(403);
    expect((await cancel({ cookie, origin: ORIGIN, 'x-csrf-token': auth.csrfToken('1.other') })).status).toBe(403);
    const host = await app.fetch(new Request(`http://${HOST}/api/feed`, { headers: { host: 'attacker.example:8484' } }));
    expect(host.status).toBe(403);
    expect(await host.json()).toEqual({ error: 'Host "attacker.example:8484" is not this dashboard\'s; open it by address, or start it with --allowed-host NAME' });
    expect((await call('POST', '/api/feed', { headers: { cookie, origin: ORIGIN, 'x-csrf-token': csrf } })).status).toBe(405);
  });

  it('acts only on what runs: a closed run of this project is 409, a login token works once', async () => {
    const closed = fakeRunId(100_003);
    await client.start(runInput(closed, project.root), project.spec.id);
    await client.handle(closed).terminate();
    const { cookie, csrf } = await login();
    const res = await call('POST', `/api/runs/${closed}/cancel`, { headers: { cookie, origin: ORIGIN, 'x-csrf-token': csrf }, route: '/api/runs/{runId}/cancel' });
    expect(res.status).toBe(409);
    expect(res.body).toEqual({ error: `run ${closed} is not running; nothing to cancel` });
    const token = auth.issueLoginToken();
    expect((await call('GET', `/login?token=${token}`)).status).toBe(303);
    expect((await call('GET', `/login?token=${token}`)).status).toBe(401);
    expect((await call('POST', `/api/runs/${fakeRunId(0)}/rerun`, { headers: { cookie, origin: ORIGIN, 'x-csrf-token': csrf }, body: { backend: 'no such/backend' }, route: '/api/runs/{runId}/rerun' })).status).toBe(400);
  });

  it('stops following a live run\'s log when its reader leaves (counted on the server)', async () => {
    // No worker polls this queue: the run stays running, so only the reader leaving ends its follower.
    const live = fakeRunId(100_004);
    await client.start(runInput(live, project.root), project.spec.id);
    const server = createDashboard(project, client, { auth });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const { port } = server.address() as AddressInfo;
      const before = liveLogFollowers();
      const req = httpRequest({ host: '127.0.0.1', port, path: `/api/runs/${live}/log/stream`, headers: { host: `127.0.0.1:${port}` } });
      const res = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => req.on('response', resolve).on('error', reject).end());
      expect(res.statusCode).toBe(200);
      await vi.waitFor(() => expect(liveLogFollowers()).toBe(before + 1), { timeout: 30_000, interval: 50 });
      res.destroy();
      req.destroy();
      // The reader left: its follower stops (before the fix it followed until the run ended).
      await vi.waitFor(() => expect(liveLogFollowers()).toBe(before), { timeout: 30_000, interval: 50 });
      expect((await client.handle(live).describe()).status.name).toBe('RUNNING');
    } finally {
      server.close();
      await client.handle(live).terminate();
    }
  });

  it('beyond loopback, reading needs the login too', async () => {
    const open = dashboardApp(project, client, { auth, loginToRead: true });
    const get = (path: string, cookie?: string) => open.fetch(new Request(`http://${HOST}${path}`, { headers: { host: HOST, ...(cookie ? { cookie } : {}) } }));
    expect((await get('/api/feed')).status).toBe(401);
    expect((await get('/')).status).toBe(401);
    const login = await get(`/login?token=${auth.issueLoginToken()}`);
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    expect((await get('/api/feed', cookie)).status).toBe(200);
  });

  it('lists the backends and checks one (the built-in Docker), 404 for an unknown one; the team view says how to configure team mode', async () => {
    const list = await call('GET', '/api/backends');
    expect(list.status).toBe(200);
    expect(list.body).toEqual({ backends: [{ name: 'local', kind: 'docker', settings: expect.any(String), poolsOf: [], running: [], pending: [] }] });
    const check = await call('GET', '/api/backends/local/check', { route: '/api/backends/{name}/check' });
    expect(check.body).toMatchObject({ name: 'local', ok: true, kind: 'docker', version: expect.stringMatching(/\d/) });
    const unknown = await call('GET', '/api/backends/nope/check', { route: '/api/backends/{name}/check' });
    expect(unknown).toMatchObject({ status: 404, body: { error: 'no backend "nope" is configured; list them with: reprise backend list' } });
    const team = await call('GET', '/api/team?person=someone');
    expect(team.body).toEqual({ team: false, hint: expect.stringContaining('REPRISE_TEAM=1'), people: [], workers: [], runs: [] });
  });

  it('exercised every documented operation', () => {
    const all = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    expect(all.filter((op) => !seen.has(op))).toEqual([]);
  });
});
