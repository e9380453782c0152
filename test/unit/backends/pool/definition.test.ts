import { describe, expect, it } from 'vitest';
import { MAX_QUEUE_WAIT_SECONDS, queueWaitSeconds } from '../../../../src/backends/pool/definition.js';
import { backendIssues, userConfigSchema } from '../../../../src/backends/user-config.js';
import { parseYaml } from '../../../../src/config/yaml-file.js';
import { RepriseError } from '../../../../src/errors.js';

const members = 'hpc:\n    kind: slurm\n    host: login\n    user: me\n    knownHostsFile: k\n  k8s:\n    kind: kubernetes\n    namespace: runs\n    registry: r.example/x\n';
const withPool = (pool: string) => `backends:\n  ${members}  burst:\n    kind: pool\n${pool}`;
const load = (text: string) => parseYaml(text, userConfigSchema, '/home/me/.reprise/config.yaml');

function refusal(text: string): string {
  try {
    load(text);
  } catch (err) {
    expect(err).toBeInstanceOf(RepriseError);
    expect((err as RepriseError).exitCode).toBe(2);
    expect((err as RepriseError).message).not.toContain('\n');
    return (err as RepriseError).message;
  }
  throw new Error('expected the config to be refused');
}

describe('pool: validated when config.yaml is loaded, one line naming the file and key', () => {
  it('accepts ordered distinct members, a wait up to 7d and a preferred member', () => {
    const config = load(withPool('    members: [k8s, hpc, local]\n    maxQueueWait: 7d\n    prefer: hpc\n'));
    expect(config.backends.burst).toEqual({ kind: 'pool', members: ['k8s', 'hpc', 'local'], maxQueueWait: '7d', prefer: 'hpc' });
  });

  it.each([
    ['an unknown member', '    members: [hpc, gpu]\n    maxQueueWait: 5m\n', 'key "backends.burst.members": names unknown backend "gpu"; known backends: hpc, k8s, local'],
    [
      'the pool itself',
      '    members: [hpc, burst]\n    maxQueueWait: 5m\n',
      'key "backends.burst.members": names the pool itself ("burst"): a pool\'s members must be docker, slurm or kubernetes backends (no recursive pools)',
    ],
    ['a member twice', '    members: [hpc, k8s, hpc]\n    maxQueueWait: 5m\n', 'key "backends.burst.members": names "hpc" twice; list each member once'],
    ['one member', '    members: [hpc]\n    maxQueueWait: 5m\n', 'key "backends.burst.members": must name at least two backends, in the order they are tried'],
    ['no members', '    maxQueueWait: 5m\n', 'missing key "backends.burst.members"'],
    ['no wait', '    members: [hpc, k8s]\n', 'missing key "backends.burst.maxQueueWait"'],
    ['a zero wait', '    members: [hpc, k8s]\n    maxQueueWait: 0s\n', 'key "backends.burst.maxQueueWait": must be a duration from 1s to 7d, e.g. 20s, 5m or 1h (got "0s")'],
    ['a negative wait', '    members: [hpc, k8s]\n    maxQueueWait: -1m\n', 'key "backends.burst.maxQueueWait": must be a duration from 1s to 7d, e.g. 20s, 5m or 1h (got "-1m")'],
    ['a wait that is no duration', '    members: [hpc, k8s]\n    maxQueueWait: abc\n', 'key "backends.burst.maxQueueWait": must be a duration from 1s to 7d, e.g. 20s, 5m or 1h (got "abc")'],
    ['a wait over 7d', '    members: [hpc, k8s]\n    maxQueueWait: 30d\n', 'key "backends.burst.maxQueueWait": must be a duration from 1s to 7d, e.g. 20s, 5m or 1h (got "30d")'],
    ['a preferred non-member', '    members: [hpc, k8s]\n    maxQueueWait: 5m\n    prefer: local\n', 'key "backends.burst.prefer": must be one of the members (hpc, k8s), not "local"'],
    ['a setting pools do not take', '    members: [hpc, k8s]\n    maxQueueWait: 5m\n    maxParallel: 2\n', 'unknown key "maxParallel" under "backends.burst"'],
  ])('refuses %s', (_name, pool, message) => {
    expect(refusal(withPool(pool))).toBe(`/home/me/.reprise/config.yaml: ${message}; fix the file and retry`);
  });

  it('refuses a pool among the members of another (recursive pools)', () => {
    const text = withPool('    members: [hpc, k8s]\n    maxQueueWait: 5m\n') + '  outer:\n    kind: pool\n    members: [burst, local]\n    maxQueueWait: 1h\n';
    expect(refusal(text)).toBe(
      '/home/me/.reprise/config.yaml: key "backends.outer.members": names "burst", itself a pool: a pool\'s members must be docker, slurm or kubernetes backends (no recursive pools); fix the file and retry',
    );
  });

  it('backendIssues reports each problem with its backend and the path inside it', () => {
    const issues = backendIssues({ a: { kind: 'pool', members: ['a', 'nope'], maxQueueWait: '1m', prefer: 'x' } });
    expect(issues).toEqual([
      { backend: 'a', path: ['members'], message: expect.stringContaining('names the pool itself ("a")') },
      { backend: 'a', path: ['members'], message: 'names unknown backend "nope"; known backends: local' },
      { backend: 'a', path: ['prefer'], message: 'must be one of the members (a, nope), not "x"' },
    ]);
  });

  it('queueWaitSeconds: the parsed wait from 1 s to 7 d, else undefined', () => {
    expect(queueWaitSeconds('20s')).toBe(20);
    expect(queueWaitSeconds('1h30m')).toBe(5400);
    expect(queueWaitSeconds('00:05:00')).toBe(300);
    expect(queueWaitSeconds('7d')).toBe(MAX_QUEUE_WAIT_SECONDS);
    for (const bad of ['0s', '-1m', 'abc', '30d', '7d1s', '', '1.5h']) expect(queueWaitSeconds(bad), bad).toBeUndefined();
  });
});
