// The dashboard's Backends view with a Kubernetes backend on the real test cluster: listed with
// its settings, checked as `reprise backend check` checks it, and its queue shows a running run
// and a pending one with the scheduler's reason (two runs that each ask for most of the node's
// CPUs), in the API and in the page (headless Chromium).
import type { ChildProcess } from 'node:child_process';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackendCheckView, BackendList } from '../../../src/dashboard/schemas.js';
import { launchChromium } from '../../helpers/browser.js';
import { useCliProject } from '../../helpers/cli-project.js';
import { startDashboard } from '../../helpers/dashboard.js';
import { adminClients, kubernetesAddArgs, loadClusterEnv } from './kubernetes-backend-env.js';

const c = loadClusterEnv();
const p = useCliProject('dashk8s', () => kubernetesAddArgs('k8s', 'reprise-dash-k8s'));
const started: string[] = [];
let server: ChildProcess | undefined;
let base: string;
let browser: Browser;

beforeAll(async () => {
  ({ server, base } = await startDashboard((args) => p.cli.spawn(args, p.root), 'dashk8s'));
  browser = await launchChromium();
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await Promise.all(started.map((id) => p.cli.run(['cancel', id], p.root)));
  server?.kill('SIGINT');
}, 300_000);

const getJson = async (path: string) => (await (await fetch(base + path)).json()) as unknown;
const k8s = async () => BackendList.parse(await getJson('/api/backends')).backends.find((b) => b.name === 'k8s')!;

/** Most of the node's allocatable CPU, so that a second such run cannot start beside the first (but could alone). */
async function mostOfTheNode(): Promise<string> {
  const { core } = adminClients(c);
  const node = (await core.listNode()).items[0]!;
  const cpu = node.status!.allocatable!.cpu!;
  const millis = cpu.endsWith('m') ? Number(cpu.slice(0, -1)) : Number(cpu) * 1000;
  return String(Math.floor((millis * 0.6) / 100) / 10);
}

async function startRun(cpus: string): Promise<string> {
  const r = await p.cli.run(['run', '--detach', '--on', 'k8s', '--cpus', cpus, '--', 'sh', '-c', 'echo started; sleep 300'], p.root);
  expect(r.code, r.stderr).toBe(0);
  const id = /run-[a-z2-7]{12}/.exec(r.stdout + r.stderr)![0];
  started.push(id);
  return id;
}

describe('the Backends view with a Kubernetes backend', () => {
  it('lists it with its settings and checks it as the CLI does', async () => {
    const backend = await k8s();
    expect(backend).toMatchObject({ kind: 'kubernetes', running: [], pending: [] });
    expect(backend.settings).toContain(c.K8S_NAMESPACE);
    const check = BackendCheckView.parse(await getJson('/api/backends/k8s/check'));
    const cliCheck = await p.cli.json<{ version: string }>(['backend', 'check', 'k8s'], p.root);
    expect(check).toMatchObject({ name: 'k8s', ok: true, kind: 'kubernetes', version: cliCheck.version });
  }, 120_000);

  it('shows a running run and a pending one with the scheduler’s reason, in the API and the page', async () => {
    const cpus = await mostOfTheNode();
    const first = await startRun(cpus);
    for (let i = 0; i < 240 && !(await k8s()).running.some((r) => r.runId === first); i++) await new Promise((r) => setTimeout(r, 1000));
    expect((await k8s()).running.map((r) => r.runId)).toContain(first);
    const second = await startRun(cpus);
    for (let i = 0; i < 240 && !(await k8s()).pending.some((r) => r.runId === second && r.waiting); i++) await new Promise((r) => setTimeout(r, 1000));
    const backend = await k8s();
    const pending = backend.pending.find((r) => r.runId === second);
    expect(pending?.waiting, JSON.stringify(backend)).toMatch(/Insufficient cpu/);

    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${base}/#/backends`);
    const section = page.locator('#backend-k8s');
    await section.locator('.check', { hasText: /ok, version \S+/ }).waitFor({ timeout: 30_000 });
    await section.locator('.queue li', { hasText: first }).waitFor({ timeout: 15_000 });
    expect(await section.locator('.queue li', { hasText: first }).textContent()).toContain('running');
    expect(await section.locator('.queue li', { hasText: second }).textContent()).toContain(`pending: ${pending!.waiting}`);
    await page.close();
  }, 600_000);
});
