import { describe, expect, it } from 'vitest';
import { DATA_CACHE_DIR, INIT_CONTAINER, MAIN_CONTAINER, jobManifest } from '../../../../src/backends/kubernetes/job-manifest.js';
import type { JobSpec } from '../../../../src/backends/types.js';

const spec: JobSpec = { runId: 'run-abc', command: ['true'], env: {}, resources: {}, staged: { image: 'registry/img@sha256:x', sources: '/tmp/s.tar' } };

describe('the data cache claim in the Job', () => {
  it('is mounted in the init container, which fills it, and not in the command\'s: a job cannot change the cache other runs read', () => {
    const pod = jobManifest(spec, { namespace: 'ns', dataCacheClaim: 'reprise-data' }).spec!.template.spec!;
    expect(pod.volumes).toContainEqual({ name: 'data-cache', persistentVolumeClaim: { claimName: 'reprise-data' } });
    expect(pod.initContainers!.find((c) => c.name === INIT_CONTAINER)!.volumeMounts).toContainEqual({ name: 'data-cache', mountPath: DATA_CACHE_DIR });
    expect(pod.containers.find((c) => c.name === MAIN_CONTAINER)!.volumeMounts!.map((m) => m.name)).not.toContain('data-cache');
  });

  it('is absent without one', () => {
    const pod = jobManifest(spec, { namespace: 'ns' }).spec!.template.spec!;
    expect(pod.volumes!.map((v) => v.name)).not.toContain('data-cache');
  });
});
