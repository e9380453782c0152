import { describe, expect, expectTypeOf, it } from 'vitest';
import { backendKinds, kindDefinition, runnableKinds } from '../../../src/backends/kinds.js';
import { backendConfigSchema, userConfigSchema, type BackendConfig } from '../../../src/backends/user-config.js';
import { parseYaml } from '../../../src/config/yaml-file.js';

describe('backend kinds: one list, the config schema derived from it', () => {
  it('lists every kind once; the runnable ones have a factory, the pool none', () => {
    expect(backendKinds.map((d) => d.kind)).toEqual(['docker', 'slurm', 'kubernetes', 'pool']);
    expect(runnableKinds).toEqual(['docker', 'slurm', 'kubernetes']);
    expect(kindDefinition('pool')?.create).toBeUndefined();
    expect(kindDefinition('nope')).toBeUndefined();
  });

  it('each flag fills a key of its kind schema, and no two flags of a kind fill the same key', () => {
    for (const d of backendKinds) {
      const keys = Object.values(d.flags).map((f) => f.key);
      expect(new Set(keys).size, d.kind).toBe(keys.length);
      for (const key of keys) expect(Object.keys(d.schema.shape), `${d.kind} --${key}`).toContain(key);
    }
  });

  it('every runnable kind takes maxParallel and --max-parallel; the pool neither', () => {
    for (const d of backendKinds) {
      const runnable = runnableKinds.includes(d.kind);
      expect('maxParallel' in d.schema.shape, d.kind).toBe(runnable);
      expect('max-parallel' in d.flags, d.kind).toBe(runnable);
    }
    expect(backendConfigSchema.parse({ kind: 'slurm', host: 'h', user: 'u', knownHostsFile: 'k', maxParallel: 4 })).toMatchObject({ maxParallel: 4 });
    for (const bad of [0, -1, 1.5, 'two']) {
      expect(() => parseYaml(`backends:\n  d:\n    kind: docker\n    maxParallel: ${bad}\n`, userConfigSchema, 'config.yaml')).toThrow(
        'config.yaml: key "backends.d.maxParallel": must be a whole number of jobs, at least 1; fix the file and retry',
      );
    }
    expect(() => backendConfigSchema.parse({ kind: 'pool', members: ['a', 'b'], maxQueueWait: '1m', maxParallel: 2 })).toThrow(/maxParallel/);
  });

  it('the derived union is discriminated: it parses by kind and its type narrows by kind', () => {
    expect(backendConfigSchema.parse({ kind: 'kubernetes', namespace: 'runs', registry: 'r.example/x' })).toEqual({ kind: 'kubernetes', namespace: 'runs', registry: 'r.example/x' });
    expect(backendConfigSchema.parse({ kind: 'slurm', host: 'h' })).toEqual({ kind: 'slurm', host: 'h', runtime: 'charliecloud', workdir: '~/.reprise' });
    expect(() => parseYaml('backends:\n  x:\n    kind: lsf\n', userConfigSchema, 'config.yaml')).toThrow(
      "config.yaml: key \"backends.x.kind\": Invalid discriminator value. Expected 'docker' | 'slurm' | 'kubernetes' | 'pool'; fix the file and retry",
    );
    expectTypeOf<BackendConfig['kind']>().toEqualTypeOf<'docker' | 'slurm' | 'kubernetes' | 'pool'>();
    expectTypeOf<Extract<BackendConfig, { kind: 'pool' }>['members']>().toEqualTypeOf<string[]>();
    expectTypeOf<Extract<BackendConfig, { kind: 'slurm' }>['runtime']>().toEqualTypeOf<'charliecloud' | 'apptainer'>();
    expectTypeOf<Extract<BackendConfig, { kind: 'docker' }>['maxParallel']>().toEqualTypeOf<number | undefined>();
  });

  it('each kind describes its settings in one line for backend list', () => {
    const describe = (c: BackendConfig) => kindDefinition(c.kind)!.describe(c);
    expect(describe({ kind: 'docker' })).toBe('DOCKER_HOST or the local socket');
    expect(describe(backendConfigSchema.parse({ kind: 'slurm', host: 'login', user: 'me', port: 2222, knownHostsFile: 'k', partition: 'debug' }))).toBe('me@login:2222, partition debug, charliecloud');
    expect(describe(backendConfigSchema.parse({ kind: 'slurm', host: 'hpc', sshConfig: '/cfg' }))).toBe('hpc, ssh config /cfg, charliecloud');
    expect(describe({ kind: 'kubernetes', context: 'prod', namespace: 'runs', registry: 'r/x' })).toBe('prod/runs, registry r/x');
    expect(describe({ kind: 'pool', members: ['hpc', 'k8s'], maxQueueWait: '5m', prefer: 'k8s' })).toBe('members hpc, k8s; max queue wait 5m; prefers k8s');
  });
});
