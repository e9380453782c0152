// A recorded run's log streamed by the dashboard: read from git as it is sent, so a large log is
// never whole in the server's memory however many readers it has, and every character arrives
// (multi-byte characters split across git's chunks included).
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RunClient } from '../../../src/client/runs.js';
import { readEnv } from '../../../src/config/env.js';
import { DashboardAuth, dashboardKey } from '../../../src/dashboard/auth.js';
import { dashboardApp } from '../../../src/dashboard/server.js';
import type { Project } from '../../../src/project/layout.js';
import { fakeRunId, writeRunHistory } from '../../helpers/run-history.js';
import { makeProject, tempDir } from '../../helpers/project.js';
import { startTemporal } from '../../helpers/temporal.js';

const HOST = '127.0.0.1:8484';
// 64 MiB of lines with two- and three-byte characters, so chunk boundaries fall inside them.
const LINE = 'ligne été 日本語 — the quick brown fox\n';
const LOG = Buffer.from(LINE.repeat(Math.ceil((64 * 2 ** 20) / Buffer.byteLength(LINE))));
let temporal: TestWorkflowEnvironment;
let client: RunClient;
let project: Project;
let app: ReturnType<typeof dashboardApp>;

beforeAll(async () => {
  temporal = await startTemporal();
  const home = await tempDir('reprise-dash-log-home-');
  client = await RunClient.connect({ ...readEnv({}), home, temporalAddress: temporal.address, taskQueue: `dash-log-nobody-${process.pid}` }, { start: false });
  project = await makeProject({ name: 'dashlog' });
  writeRunHistory(project.root, 1, project.spec, [], { 0: LOG });
  app = dashboardApp(project, client, { auth: new DashboardAuth(await dashboardKey(home)) });
}, 300_000);

afterAll(async () => {
  await client?.close();
  await temporal?.teardown();
});

const open = async () => {
  const res = await app.fetch(new Request(`http://${HOST}/api/runs/${fakeRunId(0)}/log/stream`, { headers: { host: HOST } }));
  expect(res.status).toBe(200);
  return res.body!.getReader();
};

/** The text of the `log` events of a whole SSE body, and its `end` event. */
function parseEvents(body: string): { text: string; end?: string } {
  let text = '';
  let end: string | undefined;
  for (const block of body.split('\n\n')) {
    const event = /^event: (.*)$/m.exec(block)?.[1];
    const data = /^data: (.*)$/m.exec(block)?.[1];
    if (event === 'log') text += JSON.parse(data!) as string;
    if (event === 'end') end = data;
  }
  return { text, end };
}

it('streams a 64 MiB recorded log whole, character for character, then its end', async () => {
  const reader = await open();
  const decoder = new TextDecoder();
  let body = '';
  for (let r = await reader.read(); !r.done; r = await reader.read()) body += decoder.decode(r.value, { stream: true });
  const { text, end } = parseEvents(body);
  expect(text.length).toBe(LOG.toString().length);
  expect(text === LOG.toString()).toBe(true);
  expect(end).toBe('{"state":"succeeded"}');
}, 120_000);

it('eight readers that stopped after the first event hold no copy of the log, and leave no git process behind', async () => {
  global.gc?.();
  const before = process.memoryUsage();
  const readers = await Promise.all(Array.from({ length: 8 }, open));
  for (const r of readers) expect((await r.read()).done).toBe(false);
  const during = process.memoryUsage();
  // Read whole for each reader, the log would be 8 × 64 MiB of strings; streamed, a few chunks each.
  expect(during.heapUsed + during.external - (before.heapUsed + before.external)).toBeLessThan(128 * 2 ** 20);
  for (const r of readers) await r.cancel();
  const gits = () => execFileSync('ps', ['-eo', 'ppid,args'], { encoding: 'utf8' }).split('\n').filter((l) => l.trim().startsWith(`${process.pid} `) && l.includes('cat-file'));
  for (let i = 0; i < 50 && gits().length; i++) await new Promise((r) => setTimeout(r, 100));
  expect(gits()).toEqual([]);
}, 120_000);
