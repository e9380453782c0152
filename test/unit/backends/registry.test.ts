import { describe, expect, it } from 'vitest';
import { createBackend } from '../../../src/backends/registry.js';
import { ErrorKind, RepriseError } from '../../../src/errors.js';

describe('createBackend', () => {
  it('makes each runnable kind from its definition (implementation loaded on first use)', async () => {
    expect((await createBackend({ kind: 'docker', socketPath: '/nonexistent.sock' })).kind).toBe('docker');
    expect((await createBackend({ kind: 'slurm', host: 'h', port: 22, user: 'u', knownHostsFile: 'k', runtime: 'charliecloud', workdir: '~/.reprise' })).kind).toBe('slurm');
    expect((await createBackend({ kind: 'kubernetes', namespace: 'runs', registry: 'r/x' })).kind).toBe('kubernetes');
  });

  it('refuses a pool: the workflow places its runs on the members', async () => {
    const err = await createBackend({ kind: 'pool', members: ['a', 'b'], maxQueueWait: '1m' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RepriseError);
    expect((err as RepriseError).kind).toBe(ErrorKind.badInput);
    expect((err as RepriseError).message).toBe('a pool backend does not run jobs itself: the workflow places each run on one of its members (resolvePool)');
  });
});
