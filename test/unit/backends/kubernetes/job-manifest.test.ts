import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { jobManifest, jobName, WAIT_FOR_SOURCES } from '../../../../src/backends/kubernetes/job-manifest.js';
import type { JobSpec } from '../../../../src/backends/types.js';

const spec = (over: Partial<JobSpec> = {}): JobSpec => ({
  runId: 'run-abc234',
  command: ['python', 'code/fit.py', '--name', 'a b; rm -rf / $(x)'],
  env: { SEED: '1' },
  resources: {},
  staged: { image: '127.0.0.1:5000/team/proj@sha256:0123', sources: '/home/u/.reprise/runs/run-abc234/sources.k8s.tar' },
  ...over,
});

describe('jobName', () => {
  it('is reprise-<run id> for run ids that are already valid DNS-1123 labels', () => {
    expect(jobName('run-abc234')).toBe('reprise-run-abc234');
  });

  it('lowercases, replaces invalid characters and keeps distinct ids apart by a hash', () => {
    const a = jobName('Run_ABC.1');
    const b = jobName('run-abc-1');
    expect(a).toMatch(/^reprise-run-abc-1-[0-9a-f]{8}$/);
    expect(b).toBe('reprise-run-abc-1');
    expect(a).not.toBe(b);
  });

  it('stays at most 52 characters, starting and ending with an alphanumeric', () => {
    const name = jobName(`run-${'x'.repeat(100)}`);
    expect(name.length).toBeLessThanOrEqual(52);
    expect(name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    expect(jobName('run-trailing-')).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
  });
});

describe('jobManifest', () => {
  it('builds the exact Job: labels, emptyDir, init container, argv as separate args, restricted security, resources, deadline, TTL', () => {
    const job = jobManifest(spec({ resources: { cpus: 1.5, memoryBytes: 512 * 2 ** 20, gpus: 2, timeSeconds: 3600 } }), { namespace: 'reprise-runs' });
    const labels = { 'app.kubernetes.io/managed-by': 'reprise', 'reprise.run/id': 'run-abc234' };
    const securityContext = { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } };
    const volumeMounts = [
      { name: 'project', mountPath: '/project' },
      { name: 'tmp', mountPath: '/tmp' },
    ];
    const amounts = { cpu: '1500m', memory: String(512 * 2 ** 20), 'nvidia.com/gpu': '2' };
    expect(job).toEqual({
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'reprise-run-abc234', namespace: 'reprise-runs', labels },
      spec: {
        backoffLimit: 0,
        ttlSecondsAfterFinished: 86_400,
        activeDeadlineSeconds: 3600 + 900,
        template: {
          metadata: { labels },
          spec: {
            restartPolicy: 'Never',
            terminationGracePeriodSeconds: 5,
            automountServiceAccountToken: false,
            enableServiceLinks: false,
            // The `restricted` Pod Security Standard: an image that runs as root by default runs as 1000.
            securityContext: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } },
            volumes: [
              { name: 'project', emptyDir: {} },
              { name: 'tmp', emptyDir: {} },
            ],
            initContainers: [
              {
                name: 'sources',
                image: '127.0.0.1:5000/team/proj@sha256:0123',
                imagePullPolicy: 'IfNotPresent',
                command: [
                  'sh',
                  '-c',
                  'i=0; while [ ! -e /project/.reprise-ready ]; do i=$((i+1)); if [ "$i" -gt 1820 ]; then echo "reprise: the sources never arrived" >&2; exit 1; fi; if [ "$i" -le 20 ]; then sleep 0.1 2>/dev/null || sleep 1; else sleep 1; fi; done',
                ],
                volumeMounts,
                terminationMessagePolicy: 'FallbackToLogsOnError',
                securityContext,
              },
            ],
            containers: [
              {
                name: 'run',
                image: '127.0.0.1:5000/team/proj@sha256:0123',
                imagePullPolicy: 'IfNotPresent',
                command: [
                  'sh',
                  '-c',
                  '"$@"; rc=$?; echo $rc > /project/.reprise-exit; while [ ! -e /project/.reprise-collected ]; do sleep 1; done; exit $rc',
                  'reprise-run',
                  'python',
                  'code/fit.py',
                  '--name',
                  'a b; rm -rf / $(x)',
                ],
                workingDir: '/project',
                env: [
                  { name: 'HOME', value: '/tmp' },
                  { name: 'SEED', value: '1' },
                  { name: 'REPRISE_RUN_ID', value: 'run-abc234' },
                ],
                resources: { requests: amounts, limits: amounts },
                volumeMounts,
                securityContext,
              },
            ],
          },
        },
      },
    });
  });

  it('with sources in a ConfigMap: the init container alone mounts it read-only, unpacks it into /project and marks them ready, without waiting', () => {
    const job = jobManifest(spec(), { namespace: 'ns', sourcesConfigMap: 'reprise-run-abc234-sources' });
    const pod = job.spec!.template.spec!;
    expect(pod.volumes).toContainEqual({ name: 'sources', configMap: { name: 'reprise-run-abc234-sources', defaultMode: 0o444 } });
    expect(pod.initContainers![0]!.volumeMounts).toContainEqual({ name: 'sources', mountPath: '/reprise-sources', readOnly: true });
    expect(pod.containers[0]!.volumeMounts!.map((m) => m.name)).not.toContain('sources');
    expect(pod.initContainers![0]!.command).toEqual(['sh', '-c', 'tar -x -o -f /reprise-sources/sources.tar -C /project && touch /project/.reprise-ready']);
    // Without one, the init container waits for the upload as before.
    expect(jobManifest(spec(), { namespace: 'ns' }).spec!.template.spec!.initContainers![0]!.command![2]).toBe(WAIT_FOR_SOURCES);
  });

  it('asks for no resources and sets no deadline when the run has none', () => {
    const job = jobManifest(spec(), { namespace: 'ns' });
    expect(job.spec).not.toHaveProperty('activeDeadlineSeconds');
    expect(job.spec!.template.spec!.containers[0]).not.toHaveProperty('resources');
  });

  it('starts the command in the run\'s working directory under /project', () => {
    const job = jobManifest(spec({ workdir: 'code/models' }), { namespace: 'ns' });
    expect(job.spec!.template.spec!.containers[0]!.workingDir).toBe('/project/code/models');
  });

  it('rounds fractional cpus to millicores (at least 1m)', () => {
    const cpu = (cpus: number) => jobManifest(spec({ resources: { cpus } }), { namespace: 'ns' }).spec!.template.spec!.containers[0]!.resources!.limits!.cpu;
    expect(cpu(0.25)).toBe('250m');
    expect(cpu(0.0001)).toBe('1m');
  });

  it('mounts a run\'s secrets read-only from its own Secret in the command\'s container only, never as values', () => {
    const job = jobManifest(spec({ secrets: [{ name: 'API_KEY', content: Buffer.from('hush-123') }] }), { namespace: 'ns' });
    const pod = job.spec!.template.spec!;
    expect(pod.volumes).toContainEqual({ name: 'secrets', secret: { secretName: 'reprise-run-abc234-secrets', defaultMode: 0o440 } });
    expect(pod.containers[0]!.volumeMounts).toContainEqual({ name: 'secrets', mountPath: '/run/secrets', readOnly: true });
    expect(pod.initContainers![0]!.volumeMounts!.map((m) => m.name)).not.toContain('secrets');
    expect(JSON.stringify(job)).not.toContain('hush-123');
    expect(JSON.stringify(job)).not.toContain(Buffer.from('hush-123').toString('base64'));
    expect(jobManifest(spec(), { namespace: 'ns' }).spec!.template.spec!.volumes!.map((v) => v.name)).toEqual(['project', 'tmp']);
  });
});

describe('the init container waiting for the sources (WAIT_FOR_SOURCES, run by a real sh)', () => {
  const dirs: string[] = [];
  const tempDir = () => (dirs.push(mkdtempSync(join(tmpdir(), 'reprise-wait-'))), dirs.at(-1)!);
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  /** Runs the script with the ready file at `ready` and `sleep` from `sleepDir` first on PATH, if given; resolves with its exit code and time. */
  async function wait(ready: string, sleepDir?: string): Promise<{ code: number | null; ms: number }> {
    const script = WAIT_FOR_SOURCES.replaceAll('/project/.reprise-ready', ready);
    const t0 = Date.now();
    const child = spawn('sh', ['-c', script], { env: { ...process.env, PATH: sleepDir ? `${sleepDir}:${process.env.PATH}` : process.env.PATH } });
    const code = await new Promise<number | null>((res) => child.on('exit', res));
    return { code, ms: Date.now() - t0 };
  }

  it('sees sources that arrive in its first seconds within a tenth of a second', async () => {
    const dir = tempDir();
    setTimeout(() => writeFileSync(join(dir, 'ready'), ''), 300);
    const { code, ms } = await wait(join(dir, 'ready'));
    expect(code).toBe(0);
    expect(ms).toBeLessThan(800); // `sleep 1` steps would end it at ~1,000 ms
  });

  it('falls back to whole seconds under a sleep that refuses fractions, and still ends', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'sleep'), '#!/bin/sh\ncase "$1" in *.*) echo "sleep: invalid number" >&2; exit 1;; esac\nexec /bin/sleep "$1"\n', { mode: 0o755 });
    setTimeout(() => writeFileSync(join(dir, 'ready'), ''), 300);
    const { code, ms } = await wait(join(dir, 'ready'), dir);
    expect(code).toBe(0);
    expect(ms).toBeGreaterThanOrEqual(900);
  });
});
