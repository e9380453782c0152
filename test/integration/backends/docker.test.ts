import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { DockerBackend } from '../../../src/backends/docker/docker-backend.js';
import { dockerClient } from '../../../src/images/engine.js';
import type { JobHandle, JobSpec } from '../../../src/backends/types.js';
import { RepriseError } from '../../../src/errors.js';
import { DEFAULT_PIDS_LIMIT } from '../../../src/backends/docker/hardening.js';
import { tempDir } from '../../helpers/project.js';
import { BUSYBOX, containersOf, requireDocker } from '../../helpers/docker.js';

const docker = dockerClient();
const backend = new DockerBackend(docker);
const handles: JobHandle[] = [];
let busyboxId: string;

beforeAll(async () => {
  requireDocker();
  busyboxId = (await docker.getImage(BUSYBOX).inspect()).Id;
});
afterAll(async () => {
  for (const h of handles) await backend.cleanup(h);
});

async function job(command: string[], over: Partial<JobSpec> = {}): Promise<JobSpec> {
  const runId = `run-dockertest${Math.random().toString(36).slice(2, 8)}`;
  const sourcesDir = await tempDir('reprise-src-');
  await mkdir(join(sourcesDir, 'output'));
  await writeFile(join(sourcesDir, 'input.txt'), 'from the sources\n');
  const staged = await backend.stage({ runId, image: { digest: busyboxId }, sourcesDir });
  return { runId, command, env: { GREETING: 'hi' }, resources: {}, staged, ...over };
}

async function until(h: JobHandle, phase: string) {
  for (let i = 0; i < 200; i++) {
    const s = await backend.status(h);
    if (s.phase === phase) return s;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`never reached ${phase}`);
}

describe('DockerBackend against the real engine', () => {
  it('check reports the engine version', async () => {
    expect((await backend.check()).version).toMatch(/^\d+\.\d+/);
  });

  it('submit is idempotent per run id: a repeated submit finds the same container', async () => {
    const spec = await job(['sh', '-c', 'sleep 2']);
    const [a, b] = await Promise.all([backend.submit(spec), backend.submit(spec)]);
    handles.push(a);
    expect(b.jobId).toBe(a.jobId);
    expect((await backend.submit(spec)).jobId).toBe(a.jobId);
    expect(containersOf(spec.runId)).toHaveLength(1);
  });

  it('runs the command in /project with sources mounted; logs, exit code and outputs come back', async () => {
    const spec = await job(['sh', '-c', 'cat input.txt; echo "$GREETING $REPRISE_RUN_ID"; echo err >&2; echo 7 > output/seven.txt; exit 4']);
    const h = await backend.submit(spec);
    handles.push(h);
    const log = await text(await backend.logs(h));
    const status = await until(h, 'exited');
    expect(status).toMatchObject({ phase: 'exited', exitCode: 4 });
    // stdout and stderr are separate streams: their relative order is not guaranteed.
    expect(log.split('\n').sort()).toEqual(['', 'err', 'from the sources', `hi ${spec.runId}`]);
    const dest = await tempDir('reprise-collect-');
    await backend.collect(h, dest);
    expect(await readFile(join(dest, 'seven.txt'), 'utf8')).toBe('7\n');
  });

  it('cancel stops a running job; cancel and cleanup are harmless when repeated', async () => {
    const h = await backend.submit(await job(['sleep', '300']));
    await until(h, 'running');
    await backend.cancel(h);
    expect((await until(h, 'exited')).exitCode).toBe(137);
    await backend.cancel(h);
    await backend.cleanup(h);
    await backend.cleanup(h);
    expect(await backend.status(h)).toMatchObject({ phase: 'lost' });
  });

  it('reports a job past its time limit as due to stop; enforceTimeLimit kills it and it reports exit code 124', async () => {
    const h = await backend.submit(await job(['sleep', '300'], { resources: { timeSeconds: 1 } }));
    handles.push(h);
    await until(h, 'running');
    await new Promise((r) => setTimeout(r, 1500));
    // status() only reads: asked twice, the job still runs.
    expect(await backend.status(h)).toMatchObject({ phase: 'running', due: 'time-limit' });
    expect(await backend.status(h)).toMatchObject({ phase: 'running', due: 'time-limit' });
    await backend.enforceTimeLimit(h);
    expect(await backend.status(h)).toMatchObject({ phase: 'exited', exitCode: 124, reason: 'time limit 0:00:01 exceeded' });
  });

  it('waitForEnd answers as the container stops, wakes at its time limit or timeout, and lets go of its request when aborted', async () => {
    const short = await backend.submit(await job(['sleep', '1']));
    handles.push(short);
    await until(short, 'running');
    await backend.waitForEnd(short, { timeoutMs: 10_000 });
    const ended = await backend.status(short);
    expect(ended).toMatchObject({ phase: 'exited', exitCode: 0 });
    expect(Date.now() - Date.parse(ended.finishedAt!)).toBeLessThan(500);

    const limited = await backend.submit(await job(['sleep', '300'], { resources: { timeSeconds: 1 } }));
    handles.push(limited);
    const { startedAt } = await until(limited, 'running');
    await backend.waitForEnd(limited, { timeoutMs: 10_000 });
    expect(Date.now() - Date.parse(startedAt!)).toBeLessThan(1500);
    expect(await backend.status(limited)).toMatchObject({ phase: 'running', due: 'time-limit' });
    await backend.enforceTimeLimit(limited);

    const long = await backend.submit(await job(['sleep', '300']));
    handles.push(long);
    await until(long, 'running');
    let t = Date.now();
    await backend.waitForEnd(long, { timeoutMs: 300 });
    expect(Date.now() - t).toBeLessThan(1000);
    // The wait is a plain request on its own connection to the engine: aborted, that connection closes.
    const waits: ClientRequest[] = [];
    const onRequest = (m: unknown) => {
      const { request } = m as { request: ClientRequest };
      if (request.path.includes(`/containers/${long.jobId}/wait`)) waits.push(request);
    };
    subscribe('http.client.request.start', onRequest);
    const abort = new AbortController();
    const waiting = backend.waitForEnd(long, { timeoutMs: 60_000, signal: abort.signal });
    await new Promise((r) => setTimeout(r, 200));
    unsubscribe('http.client.request.start', onRequest);
    expect(waits).toHaveLength(1);
    expect(waits[0]!.socket?.destroyed).toBe(false);
    t = Date.now();
    abort.abort();
    await waiting;
    expect(Date.now() - t).toBeLessThan(200);
    expect(waits[0]!.destroyed).toBe(true);
    expect(waits[0]!.socket?.destroyed ?? true).toBe(true);
    expect(await backend.status(long)).toMatchObject({ phase: 'running' });
    await backend.cancel(long);
  });

  it('waitForEnd wakes at its timeout even when the garbage collector runs meanwhile (its time limit wakes it the same way)', async () => {
    // Node 20 collects an AbortSignal.timeout that nothing listens to directly (inside
    // AbortSignal.any), its timer with it: the wait then lasted until the container ended, and a
    // lab past its time limit ran on (stop 30's e2e). A forced collection during the wait shows it.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const long = await backend.submit(await job(['sleep', '300']));
    handles.push(long);
    await until(long, 'running');
    for (const timeoutMs of [1000, 1500]) {
      const t = Date.now();
      const collect = setTimeout(gc, 200);
      const outcome = await Promise.race([
        backend.waitForEnd(long, { timeoutMs, signal: new AbortController().signal }).then(() => 'woke'),
        new Promise((r) => setTimeout(() => r('still waiting'), timeoutMs + 3000)),
      ]);
      clearTimeout(collect);
      expect(outcome).toBe('woke');
      expect(Date.now() - t).toBeLessThan(timeoutMs + 1000);
    }
    await backend.cancel(long);
  });

  it('runs the container without capabilities, setuid gain or an unbounded process table', async () => {
    const h = await backend.submit(await job(['sh', '-c', 'grep ^CapEff /proc/self/status']));
    handles.push(h);
    await until(h, 'exited');
    const { HostConfig } = await docker.getContainer(h.jobId).inspect();
    expect(HostConfig).toMatchObject({ SecurityOpt: ['no-new-privileges'], CapDrop: ['ALL'], PidsLimit: DEFAULT_PIDS_LIMIT });
    expect(await text(await backend.logs(h))).toMatch(/^CapEff:\s+0+$/m);
  });

  it('a job forking past the pids limit is refused its forks and fails; under the limit the same job succeeds', async () => {
    const forks = ['sh', '-c', 'for i in $(seq 100); do sleep 60 & done; echo all-forked; kill $(jobs -p)'];
    const limited = new DockerBackend(docker, { pidsLimit: 32 });
    const h = await limited.submit(await job(forks));
    handles.push(h);
    const status = await until(h, 'exited');
    const log = await text(await limited.logs(h));
    expect(log).toMatch(/can't fork/);
    expect(log).not.toMatch(/all-forked/);
    expect(status.exitCode).not.toBe(0);
    const roomy = new DockerBackend(docker, { pidsLimit: 256 });
    const ok = await roomy.submit(await job(forks));
    handles.push(ok);
    expect(await until(ok, 'exited')).toMatchObject({ exitCode: 0 });
    expect(await text(await roomy.logs(ok))).toMatch(/all-forked/);
  });

  it('stage refuses an image the engine does not have and that has no registry reference, saying how to bring it', async () => {
    const err = await backend
      .stage({ runId: 'run-x', image: { digest: `sha256:${'0'.repeat(64)}` }, sourcesDir: '/tmp' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RepriseError);
    expect((err as RepriseError).message).toMatch(/is not in the Docker engine .* and was never pushed to a registry; rebuild it \(reprise env build\) or bring it with: reprise image import FILE/);
  });
});
