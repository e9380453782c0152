import { describe, expect, it } from 'vitest';
import type Docker from 'dockerode';
import { DockerBackend, killedReason } from '../../../src/backends/docker/docker-backend.js';

/** A fake engine that records the create request: the mapping of resources is pure logic. */
function fakeEngine() {
  const created: Docker.ContainerCreateOptions[] = [];
  const info = { Id: 'c1', State: { Status: 'created' } };
  const engine = {
    getContainer: () => ({
      inspect: async () => {
        if (created.length === 0) throw Object.assign(new Error('no such container'), { statusCode: 404 });
        return info;
      },
      start: async () => undefined,
    }),
    // An engine with the NVIDIA Container Toolkit configured: GPUs may be asked for.
    info: async () => ({ Runtimes: { runc: { path: 'runc' }, nvidia: { path: 'nvidia-container-runtime' } } }),
    createContainer: async (opts: Docker.ContainerCreateOptions) => {
      created.push(opts);
      return { inspect: async () => info };
    },
  };
  return { engine: engine as unknown as Docker, created };
}

describe('DockerBackend container spec', () => {
  it('maps cpus, memory and gpus, mounts the sources at /project and labels the run', async () => {
    const { engine, created } = fakeEngine();
    const handle = await new DockerBackend(engine).submit({
      runId: 'run-aaaa',
      command: ['python3', 'fit.py'],
      env: { A: '1' },
      resources: { cpus: 1.5, memoryBytes: 2 ** 30, gpus: 2, timeSeconds: 60 },
      staged: { image: 'sha256:abc', sources: '/runs/run-aaaa/src' },
    });
    expect(handle).toMatchObject({ kind: 'docker', runId: 'run-aaaa', jobId: 'c1', timeSeconds: 60 });
    const spec = created[0]!;
    expect(spec).toMatchObject({ name: 'reprise-run-aaaa', Image: 'sha256:abc', Cmd: ['python3', 'fit.py'], WorkingDir: '/project', Labels: { 'org.reprise.run': 'run-aaaa' } });
    expect(spec.Env).toEqual(expect.arrayContaining(['A=1', 'REPRISE_RUN_ID=run-aaaa']));
    expect(spec.HostConfig).toMatchObject({
      Binds: ['/runs/run-aaaa/src:/project'],
      NanoCpus: 1.5e9,
      Memory: 2 ** 30,
      MemorySwap: 2 ** 30,
      DeviceRequests: [{ Count: 2, Capabilities: [['gpu']] }],
    });
  });

  it('asks for no limits when none are given', async () => {
    const { engine, created } = fakeEngine();
    await new DockerBackend(engine).submit({ runId: 'run-b', command: ['true'], env: {}, resources: {}, staged: { image: 'i', sources: '/s' } });
    expect(created[0]!.HostConfig).toMatchObject({ NanoCpus: undefined, Memory: undefined, DeviceRequests: undefined });
  });

  it('starts the command in the run\'s working directory under /project', async () => {
    const { engine, created } = fakeEngine();
    await new DockerBackend(engine).submit({ runId: 'run-c', command: ['pwd'], workdir: 'code', env: {}, resources: {}, staged: { image: 'i', sources: '/s' } });
    expect(created[0]).toMatchObject({ WorkingDir: '/project/code', HostConfig: { Binds: ['/s:/project'] } });
  });
});

describe('DockerBackend status of a container ended from outside', () => {
  const exited = (ExitCode: number, OOMKilled = false) => {
    const State = { Status: 'exited', Running: false, ExitCode, OOMKilled, Error: '', StartedAt: '2026-12-01T04:00:00Z', FinishedAt: '2026-12-01T04:00:05Z' };
    return { getContainer: () => ({ inspect: async () => ({ Id: 'c1', State, Config: { Labels: { 'org.reprise.run': 'run-k' } } }) }) } as unknown as Docker;
  };
  const handle = { kind: 'docker', runId: 'run-k', jobId: 'c1', sources: '/s', timeSeconds: null };

  it("refuses a handle naming a container of another run (or none's): handles come from workflow state", async () => {
    for (const runId of ['run-other', 'run-k2']) {
      const forged = { ...handle, runId };
      await expect(new DockerBackend(exited(0)).status(forged)).rejects.toThrow(`container c1 is not the container of run ${runId}; refusing to touch it`);
      await expect(new DockerBackend(exited(0)).cleanup(forged)).rejects.toThrow(/refusing to touch it/);
      await expect(new DockerBackend(exited(0)).checkHandle(forged)).rejects.toThrow(/refusing to touch it/);
    }
  });

  it('names SIGKILL and SIGTERM (the engine restarting, docker stop or kill) as the reason', async () => {
    for (const code of [137, 143]) {
      const status = await new DockerBackend(exited(code)).status(handle);
      expect(status).toMatchObject({ phase: 'exited', exitCode: code, reason: killedReason(code) });
      expect(status.reason).toMatch(/^ended by SIG(KILL|TERM) \(exit code 1[34][37]\): the container was stopped from outside/);
    }
  });

  it('gives no reason for an ordinary exit code, and the OOM reason when the engine says so', async () => {
    expect((await new DockerBackend(exited(3)).status(handle)).reason).toBeUndefined();
    expect((await new DockerBackend(exited(137, true)).status(handle)).reason).toBe('killed: out of memory');
  });
});

describe('DockerBackend time limit: status() only reads, enforceTimeLimit() stops', () => {
  /** An engine with one running container started `ageSeconds` ago: it records what is done to it. */
  const running = (ageSeconds: number) => {
    const done: string[] = [];
    const State = { Status: 'running', Running: true, ExitCode: 0, OOMKilled: false, Error: '', StartedAt: new Date(Date.now() - ageSeconds * 1000).toISOString(), FinishedAt: '0001-01-01T00:00:00Z' };
    const container = {
      inspect: async () => ({ Id: 'c1', State, Config: { Labels: { 'org.reprise.run': 'run-t' } } }),
      kill: async () => void done.push('kill'),
      wait: async (opts: { condition: string }) => void done.push(`wait ${opts.condition}`),
      // status() may start sampling a running container's figures: that reads, it changes nothing.
      stats: async () => ({ on: () => undefined, destroy: () => undefined }),
    };
    return { engine: { getContainer: () => container } as unknown as Docker, done };
  };
  const handle = (timeSeconds: number | null) => ({ kind: 'docker', runId: 'run-t', jobId: 'c1', sources: '/s', timeSeconds });

  it('reports a container past its limit as running with the time limit due, and touches nothing', async () => {
    const { engine, done } = running(5);
    const backend = new DockerBackend(engine);
    expect(await backend.status(handle(2))).toMatchObject({ phase: 'running', due: 'time-limit' });
    expect(await backend.status(handle(2))).toMatchObject({ phase: 'running', due: 'time-limit' });
    expect(done).toEqual([]);
  });

  it('has nothing due within the limit or without one', async () => {
    const { engine } = running(5);
    for (const limit of [3600, null]) expect((await new DockerBackend(engine).status(handle(limit))).due).toBeUndefined();
  });

  it('enforceTimeLimit kills a container past its limit and waits until it stopped; within the limit it does nothing', async () => {
    const past = running(5);
    await new DockerBackend(past.engine).enforceTimeLimit(handle(2));
    expect(past.done).toEqual(['kill', 'wait not-running']);
    const within = running(5);
    await new DockerBackend(within.engine).enforceTimeLimit(handle(3600));
    await new DockerBackend(within.engine).enforceTimeLimit(handle(null));
    expect(within.done).toEqual([]);
  });
});
