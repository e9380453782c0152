import { describe, expect, it } from 'vitest';
import { resolvePool } from '../../../../src/backends/pool/resolve-pool.js';
import type { UserConfig } from '../../../../src/backends/user-config.js';

const config: UserConfig = {
  backends: {
    hpc: { kind: 'slurm', host: 'login', port: 22, user: 'me', knownHostsFile: 'k', runtime: 'charliecloud', workdir: '~/.reprise', maxParallel: 4 },
    burst: { kind: 'pool', members: ['hpc', 'local'], maxQueueWait: '5m', prefer: 'local' },
    plain: { kind: 'pool', members: ['local', 'hpc'], maxQueueWait: '1h30m' },
  },
};

describe('resolvePool: a pool as the workflow uses it', () => {
  it('members in order with their configs (built-in ones too), the wait in seconds, the preference', () => {
    expect(resolvePool(config, 'burst')).toEqual({
      name: 'burst',
      members: [
        { name: 'hpc', config: config.backends.hpc },
        { name: 'local', config: { kind: 'docker' } },
      ],
      maxQueueWaitSeconds: 300,
      prefer: 'local',
    });
    expect(resolvePool(config, 'plain')).toEqual({ name: 'plain', members: [expect.objectContaining({ name: 'local' }), expect.objectContaining({ name: 'hpc' })], maxQueueWaitSeconds: 5400 });
  });

  it('refuses a backend that is no pool, or unknown, as bad input', () => {
    expect(() => resolvePool(config, 'hpc')).toThrow('backend "hpc" is a slurm backend, not a pool');
    expect(() => resolvePool(config, 'nope')).toThrow(/^unknown backend "nope"; known backends: burst, hpc, local, plain/);
  });
});
