import { describe, expect, it } from 'vitest';
import type Docker from 'dockerode';
import { DockerBackend } from '../../../src/backends/docker/docker-backend.js';

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
