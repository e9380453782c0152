import { beforeAll, describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunRecord } from '../../../src/project/run-record.js';
import { useCliProject } from '../../helpers/cli-project.js';
import { kubernetesAddArgs } from './kubernetes-backend-env.js';

// What a Kubernetes run used on the real test cluster: the pod's requests × the command's running
// time (the API server measures no CPU time or memory without a metrics server).
describe('the built CLI on Kubernetes: what a run used, from the pod\'s requests × time', { timeout: 300_000 }, () => {
  const p = useCliProject('usage', () => kubernetesAddArgs('k8s', 'reprise-usage'));

  beforeAll(async () => {
    await writeFile(join(p.root, 'code/burn.sh'), 's=$(date +%s); while [ $(( $(date +%s) - s )) -lt 3 ]; do :; done; echo burnt\n');
  });

  it('a run asking 0.5 cpus records 0.5 × its running time as core-hours; no GPU-hours, no CPU time; show prints them', async () => {
    const r = await p.cli.run(['run', '--on', 'k8s', '--cpus', '0.5', '--memory', '64M', '--', 'sh', 'code/burn.sh'], p.root);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('burnt\n');
    const runId = (await p.cli.json<{ runId: string }[]>(['log'], p.root))[0]!.runId;
    const record = await p.cli.json<RunRecord>(['show', runId], p.root);
    expect(record.resources).toEqual({ cpus: 0.5, memoryBytes: 64 * 2 ** 20 });
    const used = record.used!;
    expect(used.source).toBe('pod requests');
    // The kubelet's times are whole seconds: a 2-3 s burn shows as 2 to 4 s (plus the container's start).
    expect(used.wallSeconds).toBeGreaterThanOrEqual(2);
    expect(used.wallSeconds).toBeLessThan(60);
    expect(Number.isInteger(used.wallSeconds)).toBe(true);
    expect(used.coreHours).toBeCloseTo((0.5 * used.wallSeconds) / 3600, 6);
    expect(used.gpuHours).toBeUndefined();
    expect(used.cpuSeconds).toBeUndefined();
    expect(used.peakMemoryBytes).toBeUndefined();
    // The command's end, not the pod's: the container waits on for collection after the command.
    expect(used.wallSeconds).toBeLessThanOrEqual((Date.parse(record.finishedAt) - Date.parse(record.startedAt)) / 1000 + 1);
    const shown = await p.cli.run(['show', runId], p.root);
    expect(shown.stdout).toMatch(/^used {7}wall \d+s · [\d.e-]+ core-h \(pod requests\)$/m);
    console.log(`kubernetes usage: ${JSON.stringify(used)} (record ${record.startedAt} → ${record.finishedAt})`);
  });
});
