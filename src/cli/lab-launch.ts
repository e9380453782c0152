import { request } from 'node:http';
import type { LabProgress, LabResult } from '../activities/types.js';
import { createBackend } from '../backends/registry.js';
import type { Backend } from '../backends/types.js';
import { LabClient } from '../client/labs.js';
import { readRunLog } from '../client/runs.js';
import { BUILD_LOG, type RepriseEnv } from '../config/env.js';
import { loadUserConfig, resolveBackend } from '../backends/user-config.js';
import { badInput, ExitCode } from '../errors.js';
import { labToken } from '../lab/token.js';
import { openTunnel, type Tunnel } from './lab-tunnel.js';
import type { JobHandle } from '../backends/types.js';
import { StepProgress } from './progress.js';
import { lastBuildStep } from '../client/follow.js';
import { openBrowserPrivately } from './open-browser.js';
import { labKernels, missingRKernel } from '../lab/kernels.js';
import type { EnvironmentSpec } from '../project/schema.js';
import type { LabApp } from '../lab/apps/types.js';

export interface AttachOptions {
  labId: string;
  /** The app the session opens: how it is reached and when it answers. */
  app: LabApp;
  backend: string;
  /** The Jupyter server's port inside the job. */
  remotePort: number;
  /** The port on this machine (0: any free one). */
  localPort: number;
  json: boolean;
  open: boolean;
  /** Stop the session when this process is interrupted (`reprise lab`), or only close the tunnel (`reprise lab open`). */
  stopOnInterrupt: boolean;
  /** The project's environment: when it names R and the lab has no R kernel, one line says why. */
  environment?: EnvironmentSpec;
}

export interface Attached {
  labId: string;
  url: string;
  backend: string;
  port: number;
  app: string;
  /** For an app with a login page (VS Code): the password to give it, which is the lab's token. */
  password?: string;
  /** The kernels JupyterLab offers (kernelspec names), as its launcher lists them. */
  kernels?: string[];
}

/** A backend of the user's config, for the tunnel (the worker has its own instance). Pools are refused: a lab runs on one backend. */
export async function labBackend(env: RepriseEnv, name: string): Promise<Backend> {
  const { config } = resolveBackend(await loadUserConfig(env.home), name);
  if (config.kind === 'pool') throw badInput(`${name} is a pool; a lab runs on one backend: pick one of its members with --on`);
  const backend = await createBackend(config);
  if (!backend.connect) throw badInput(`backend ${name} (${config.kind}) cannot reach a job's ports, so it cannot hold a lab`);
  return backend;
}

/**
 * Open the tunnel first (a taken local port is refused before anything starts), then wait for
 * the session's job to run and for its app to answer through the tunnel, print the URL and stay
 * until the session ends. The tunnel lives in this process: `reprise lab open ID` makes a new one.
 */
/** The local end of a lab's tunnel, opened before its job exists: connections made before then are refused. */
export async function labTunnel(backend: Backend, remotePort: number, localPort: number): Promise<{ tunnel: Tunnel; target: { handle?: JobHandle } }> {
  const target: { handle?: JobHandle } = {};
  const tunnel = await openTunnel(() => (target.handle ? backend.connect!(target.handle, remotePort) : Promise.reject(new Error('the lab is not running yet'))), localPort);
  return { tunnel, target };
}

export async function attachLab(
  env: RepriseEnv,
  labs: LabClient,
  backend: Backend,
  { tunnel, target }: { tunnel: Tunnel; target: { handle?: JobHandle } },
  o: AttachOptions,
  onReady: (a: Attached) => void,
): Promise<LabResult | undefined> {
  const token = await labToken(env.home, o.labId);
  const app = o.app;
  const url = app.url(tunnel.port, token);
  const say = (text: string) => (o.json ? undefined : process.stderr.write(text + '\n'));
  let settled: { result?: LabResult; error?: unknown } | undefined;
  const done = labs.result(o.labId).then(
    (result) => (settled = { result }),
    (error: unknown) => (settled = { error }),
  );
  let interrupts = 0;
  let interrupted = false;
  const onInterrupt = () => {
    interrupted = true;
    if (!o.stopOnInterrupt || ++interrupts > 1) {
      void tunnel.close();
      if (!o.stopOnInterrupt) return void (settled ??= {});
      process.exit(ExitCode.cancelled);
    }
    process.stderr.write(`\nstopping ${o.labId}: bringing its files back and recording it (Ctrl-C again to stop waiting)\n`);
    void labs.stop(o.labId).catch(() => undefined);
  };
  process.on('SIGINT', onInterrupt);
  process.on('SIGTERM', onInterrupt);
  const build = new StepProgress('lab image', !o.json);
  let removePage: (() => Promise<void>) | undefined;
  try {
    let shown = '';
    let ready = false;
    while (!settled) {
      const progress = await labs.progress(o.labId).catch(() => undefined);
      if (progress?.handle) target.handle = progress.handle;
      if (progress && !ready) {
        const line = await stateLine(env, progress, build, app.title);
        if (line && line !== shown) say((shown = line));
        if (progress.state === 'running' && (await answers(tunnel.port, app.ready(token)))) {
          build.stop();
          ready = true;
          say(`${app.title} ${o.labId} on ${o.backend}: ${url}${app.login ? ` (password: ${token})` : ''}`);
          const kernels = app.name === 'jupyterlab' ? await labKernels(tunnel.port, token) : [];
          if (kernels.length) say(`kernels: ${kernels.map((k) => k.displayName).join(', ')}`);
          const missing = o.environment && app.name === 'jupyterlab' && missingRKernel(o.environment, kernels);
          if (missing) process.stderr.write(`${missing}\n`);
          say(interrupted ? '' : o.stopOnInterrupt ? `Ctrl-C (or reprise lab stop) stops it; ${app.records} are recorded` : 'Ctrl-C closes this tunnel; the session goes on');
          onReady({ labId: o.labId, url, backend: o.backend, port: tunnel.port, app: app.name, ...(app.login ? { password: token } : {}), ...(kernels.length ? { kernels: kernels.map((k) => k.name) } : {}) });
          if (o.open) removePage = await openBrowserPrivately(url, process.env, app.login && { action: new URL(app.login.path, url).href, fields: { [app.login.field]: token } });
        }
      }
      await Promise.race([done, new Promise((r) => setTimeout(r, ready ? 1000 : 300).unref())]);
    }
  } finally {
    build.stop();
    process.off('SIGINT', onInterrupt);
    process.off('SIGTERM', onInterrupt);
    await tunnel.close();
    await removePage?.();
    backend.close?.();
  }
  if (settled.error) throw settled.error;
  return settled.result;
}

async function stateLine(env: RepriseEnv, p: LabProgress, build: StepProgress, title: string): Promise<string | undefined> {
  if (p.state === 'building') {
    const step = lastBuildStep((await readRunLog(env, p.labId, BUILD_LOG)) ?? '');
    if (step) build.update(step.step, step.total, step.text);
    return `building the lab image (the project's image plus ${title}; once per image)`;
  }
  if (p.state === 'starting') return `starting ${title} on ${p.backend}`;
  if (p.state === 'running') return `${p.handle ? `job ${p.handle.jobId.slice(0, 12)} ` : ''}on ${p.backend}: waiting for ${title} to answer`;
  return undefined;
}

/** Does the app answer its readiness request through the tunnel? */
function answers(port: number, probe: { path: string; headers: Record<string, string> }): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: probe.path, headers: probe.headers, timeout: 5000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

export function describeLab(r: LabResult): string {
  const why = r.reason ? ` (${r.reason})` : '';
  const where = r.commit ? `; recorded in ${r.commit.slice(0, 12)}` : '';
  const left = r.notWritten.length ? `; committed but not written here because you have edits in them: ${r.notWritten.join(', ')}` : '';
  return `lab ${r.labId} ${r.state}${why}: ${r.checkpoints} checkpoint${r.checkpoints === 1 ? '' : 's'}, ${r.executions} cell${r.executions === 1 ? '' : 's'} executed${where}${left}`;
}

export function labExitCode(r: LabResult): number {
  return r.state === 'stopped' ? ExitCode.ok : ExitCode.jobFailed;
}
