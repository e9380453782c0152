import type { OpenAPIHono } from '@hono/zod-openapi';
import { kindDefinition } from '../backends/kinds.js';
import { createBackend } from '../backends/registry.js';
import { resolvePool } from '../backends/pool/resolve-pool.js';
import type { BackendCheck } from '../backends/types.js';
import { backendSlots } from '../client/backend-slots.js';
import { allBackends, loadUserConfig, type BackendConfig, type UserConfig } from '../backends/user-config.js';
import { errorMessage, notFound } from '../errors.js';
import type { ApiDeps } from './read-api.js';
import { jsonRoute } from './routes.js';
import * as s from './schemas.js';

/** A check slower than this (an SSH host that does not answer) is shown as failed, not waited for. */
export const CHECK_TIMEOUT_MS = 20_000;
/** A check's answer is reused this long: every open page polling would otherwise dial every cluster. */
const CHECK_FRESH_MS = 15_000;
/** States a run passes before its job runs on the backend. */
const BEFORE_JOB = new Set(['queued', 'preparing', 'submitted']);
const FINISHED = new Set(['succeeded', 'reused', 'failed', 'cancelled', 'completed', 'terminated', 'timed_out', 'canceled']);

type CheckResult = { ok: true; kind: string; version: string; details: Record<string, string> } | { ok: false; kind: string; error: string };

/** One backend's check, bounded in time; its connection closed however it ends. */
async function checkOne(config: BackendConfig, timeoutMs: number): Promise<CheckResult> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const backend = await createBackend(config);
    const checking = backend.check().finally(() => backend.close?.());
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs / 1000} s; check it with: reprise backend check`)), timeoutMs);
    });
    const check: BackendCheck = await Promise.race([checking, timeout]);
    return { ok: true, kind: check.kind, version: check.version, details: check.details };
  } catch (err) {
    // One line: the page shows it in a table cell.
    return { ok: false, kind: config.kind, error: errorMessage(err).split('\n')[0]! };
  } finally {
    clearTimeout(timer);
  }
}

/** Checks by backend name, run at most once per CHECK_FRESH_MS however many pages ask. */
export class BackendChecks {
  private readonly cache = new Map<string, { at: number; answer: Promise<s.BackendCheckView> }>();
  constructor(private readonly timeoutMs = CHECK_TIMEOUT_MS) {}

  check(config: UserConfig, name: string): Promise<s.BackendCheckView> {
    const cached = this.cache.get(name);
    if (cached && Date.now() - cached.at < CHECK_FRESH_MS) return cached.answer;
    const answer = this.run(config, name);
    this.cache.set(name, { at: Date.now(), answer });
    return answer;
  }

  private async run(config: UserConfig, name: string): Promise<s.BackendCheckView> {
    const started = Date.now();
    const backend = allBackends(config)[name]!;
    const done = (result: object) => ({ name, checkedAt: new Date().toISOString(), seconds: (Date.now() - started) / 1000, ...result }) as s.BackendCheckView;
    if (backend.kind !== 'pool') return done(await checkOne(backend, this.timeoutMs));
    const members = await Promise.all(resolvePool(config, name).members.map(async (m) => ({ name: m.name, ...(await checkOne(m.config, this.timeoutMs)) })));
    return done({ ok: members.every((m) => m.ok), kind: 'pool', members });
  }
}

type LiveRun = Awaited<ReturnType<ApiDeps['client']['listWithState']>>[number];
const queued = (r: LiveRun) => ({ runId: r.runId, state: r.state, startTime: r.startTime, command: r.command, ...(r.waiting ? { waiting: r.waiting } : {}) });

/** Every configured backend with its queue of this project's runs, slots and pool membership (no checks: those are slow). */
async function backendList(deps: ApiDeps, config: UserConfig): Promise<s.BackendView[]> {
  const backends = allBackends(config);
  const live = (await deps.client.listWithState(deps.project, 200)).filter((r) => r.status === 'RUNNING' && !FINISHED.has(r.state));
  return Promise.all(
    Object.entries(backends).map(async ([name, c]) => {
      const mine = live.filter((r) => r.backend === name);
      // Pending: before its job exists, or a job the scheduler keeps waiting (with its reason).
      const pending = mine.filter((r) => BEFORE_JOB.has(r.state) || r.waiting);
      const running = mine.filter((r) => !pending.includes(r));
      const maxParallel = 'maxParallel' in c ? c.maxParallel : undefined;
      let slots: s.BackendView['slots'];
      if (maxParallel !== undefined) {
        const held = await backendSlots(deps.client.client, name);
        slots = held
          ? { inUse: held.holders.length, waiting: held.waiting.length, limit: maxParallel, scope: 'all projects' }
          : { inUse: running.length, waiting: pending.length, limit: maxParallel, scope: 'this project' };
      }
      return {
        name,
        kind: c.kind,
        settings: kindDefinition(c.kind)?.describe(c as never) ?? '',
        ...(maxParallel !== undefined ? { maxParallel, slots } : {}),
        ...(c.kind === 'pool' ? { members: c.members } : {}),
        poolsOf: Object.entries(backends).filter(([, p]) => p.kind === 'pool' && p.members.includes(name)).map(([p]) => p),
        running: running.map(queued),
        pending: pending.map(queued),
      };
    }),
  );
}

/** The Backends view's routes: the list (fast) and each backend's check (bounded, possibly slow). */
export function addBackendRoutes(app: OpenAPIHono, deps: ApiDeps): void {
  const checks = new BackendChecks();
  const home = deps.client.env.home;
  app.openapi(
    jsonRoute({ method: 'get', path: '/api/backends', summary: "Configured backends with this project's running and pending runs on each, slots in use against maxParallel and pool members", response: s.BackendList, errors: [401] }),
    async (c) => {
      let config: UserConfig;
      try {
        config = await loadUserConfig(home);
      } catch (err) {
        // A broken config file is shown, not a broken page: the built-in backend still answers.
        return c.json({ backends: await backendList(deps, { backends: {} }), configError: errorMessage(err) }, 200);
      }
      return c.json({ backends: await backendList(deps, config) }, 200);
    },
  );
  app.openapi(
    jsonRoute({
      method: 'get',
      path: '/api/backends/{name}/check',
      summary: `A backend's check, as \`reprise backend check\` (a pool: each member); ok false with a one-line error when it fails or gives no answer within ${CHECK_TIMEOUT_MS / 1000} s`,
      request: { params: s.BackendNameParam },
      response: s.BackendCheckView,
      errors: [400, 401, 404],
    }),
    async (c) => {
      const { name } = c.req.valid('param');
      const config = await loadUserConfig(home);
      if (!allBackends(config)[name]) throw notFound(`no backend "${name}" is configured; list them with: reprise backend list`);
      return c.json(await checks.check(config, name), 200);
    },
  );
}
