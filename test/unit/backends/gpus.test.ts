import type Docker from 'dockerode';
import { describe, expect, it } from 'vitest';
import { DockerBackend } from '../../../src/backends/docker/docker-backend.js';
import { kindDefinition } from '../../../src/backends/kinds.js';
import { gpuNodeSelector, jobManifest } from '../../../src/backends/kubernetes/job-manifest.js';
import { fitsAllocatable, nodeFits } from '../../../src/backends/kubernetes/quantity.js';
import { batchScript, gpuDirective, grantedTres, jobStatusFrom } from '../../../src/backends/slurm/scheduler.js';
import type { JobSpec } from '../../../src/backends/types.js';
import { settingsFromFlags } from '../../../src/cli/backend-settings.js';
import { resolveResources } from '../../../src/cli/run-flags.js';
import { formatGpus, parseGpus, resourcesFromYaml, resourcesSchema } from '../../../src/config/resources.js';
import { keyPartsOf, runKey } from '../../../src/project/run-key.js';
import type { ProjectSpec } from '../../../src/project/schema.js';

const project = (resources?: ProjectSpec['resources']): ProjectSpec => ({ name: 'p', id: 'p1', ...(resources ? { resources } : {}) }) as ProjectSpec;

describe('--gpus N and --gpus TYPE:N', () => {
  it('parses a count, or a type and a count', () => {
    expect(parseGpus('2')).toEqual({ gpus: 2 });
    expect(parseGpus('0')).toEqual({ gpus: 0 });
    expect(parseGpus('a100:2')).toEqual({ gpus: 2, gpuType: 'a100' });
    expect(parseGpus('rtx-6000.ada_1:1')).toEqual({ gpus: 1, gpuType: 'rtx-6000.ada_1' });
    expect(formatGpus({ gpus: 2, gpuType: 'a100' })).toBe('a100:2');
    expect(formatGpus({ gpus: 3 })).toBe('3');
  });

  it.each([
    ['a100:0', 'invalid gpus "a100:0": a GPU type needs at least 1 GPU, e.g. a100:1'],
    [':2', 'invalid gpus ":2": name the type before ":", e.g. a100:2'],
    ['A100:x', 'invalid gpus "A100:x": the type "A100" must be a lowercase name (letters, digits, ".", "_", "-"), e.g. a100:2'],
    ['a100:x', 'invalid gpus "a100:x": give a whole number of GPUs, at most 64, as N or TYPE:N (e.g. 2 or a100:2)'],
    ['-1', 'invalid gpus "-1": give a whole number of GPUs, at most 64, as N or TYPE:N (e.g. 2 or a100:2)'],
    ['65', 'invalid gpus "65": give a whole number of GPUs, at most 64, as N or TYPE:N (e.g. 2 or a100:2)'],
    ['a100:1:2', 'invalid gpus "a100:1:2": give a whole number of GPUs, at most 64, as N or TYPE:N (e.g. 2 or a100:2)'],
  ])('refuses %s in one line', (text, message) => {
    expect(() => parseGpus(text)).toThrow(message);
    expect(message).not.toContain('\n');
  });

  it('the flag is checked at the edge (exit 2) and overrides the project default, type and all', () => {
    expect(resolveResources({ gpus: 'a100:2' }, project())).toMatchObject({ gpus: 2, gpuType: 'a100' });
    expect(resolveResources({}, project({ gpus: 'h100:1' }))).toMatchObject({ gpus: 1, gpuType: 'h100' });
    expect(resolveResources({ gpus: '2' }, project({ gpus: 'h100:1' })).gpuType).toBeUndefined();
    expect(resolveResources({}, project({ gpus: 1 }))).toMatchObject({ gpus: 1 });
    expect(() => resolveResources({ gpus: 'a100:0' }, project())).toThrow(expect.objectContaining({ kind: 'BadInput', message: '--gpus: invalid gpus "a100:0": a GPU type needs at least 1 GPU, e.g. a100:1' }));
  });

  it('project.yaml takes a number (as before) or "TYPE:N", and names a bad one', () => {
    expect(resourcesFromYaml(resourcesSchema.parse({ gpus: 2 }))).toMatchObject({ gpus: 2 });
    expect(resourcesFromYaml(resourcesSchema.parse({ gpus: 'a100:2' }))).toMatchObject({ gpus: 2, gpuType: 'a100' });
    const bad = resourcesSchema.safeParse({ gpus: 'A100:2' });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues[0]).toMatchObject({ path: ['gpus'], message: expect.stringMatching(/^invalid gpus "A100:2": the type "A100" must be a lowercase name/) });
  });

  it('the run key holds the type; a count alone keys as it always did', () => {
    const subject = { source: 's', imageDigest: 'sha256:1', command: ['x'], resources: { gpus: 2 }, backend: 'b', dataInputs: [] };
    const settings = { resources: ['gpus' as const] };
    const plain = keyPartsOf(subject, settings);
    expect(plain.resources).toEqual({ gpus: 2 });
    // The key of a count alone is the key runs recorded before types had (a number, no new member).
    expect(runKey(plain)).toBe(runKey({ ...plain, resources: { gpus: 2 } }));
    const a100 = keyPartsOf({ ...subject, resources: { gpus: 2, gpuType: 'a100' } }, settings);
    const h100 = keyPartsOf({ ...subject, resources: { gpus: 2, gpuType: 'h100' } }, settings);
    expect(a100.resources).toEqual({ gpus: 'a100:2' });
    expect(new Set([runKey(plain), runKey(a100), runKey(h100)]).size).toBe(3);
  });
});

describe('SLURM: GPUs as #SBATCH lines, and what sacct says was granted', () => {
  it('--gres=gpu:TYPE:N by default, --gpus=TYPE:N when the backend says gpuFlag: gpus', () => {
    expect(gpuDirective({ gpus: 2, gpuType: 'a100' })).toBe('#SBATCH --gres=gpu:a100:2');
    expect(gpuDirective({ gpus: 2 })).toBe('#SBATCH --gres=gpu:2');
    expect(gpuDirective({ gpus: 2, gpuType: 'a100' }, 'gpus')).toBe('#SBATCH --gpus=a100:2');
    expect(gpuDirective({ gpus: 1 }, 'gpus')).toBe('#SBATCH --gpus=1');
    expect(gpuDirective({})).toBeUndefined();
    expect(gpuDirective({ gpus: 0, gpuType: 'a100' })).toBeUndefined();
    const script = batchScript({ jobName: 'j', runDir: '/r', resources: { gpus: 1, gpuType: 'a100' }, gpuFlag: 'gpus', env: {}, command: 'true' });
    expect(script.split('\n')).toContain('#SBATCH --gpus=a100:1');
  });

  it('reads the granted TRES from sacct (AllocTRES) or scontrol (TRES) when the job ended', () => {
    expect(grantedTres('billing=1,cpu=1,gres/gpu:a100=1,gres/gpu=1,mem=1G,node=1')).toEqual({ billing: '1', cpu: '1', 'gres/gpu:a100': '1', 'gres/gpu': '1', mem: '1G', node: '1' });
    expect(grantedTres('')).toBeUndefined();
    expect(grantedTres(undefined)).toBeUndefined();
    const fromSacct = jobStatusFrom({ tz: '+0000', squeue: '', sacct: '7|COMPLETED|0:0|2026-01-01T00:00:00|2026-01-01T00:00:01|cpu=1,gres/gpu:a100=1,gres/gpu=1', exit_code: '0' }, '7', null);
    expect(fromSacct).toMatchObject({ phase: 'exited', exitCode: 0, granted: { cpu: '1', 'gres/gpu:a100': '1', 'gres/gpu': '1' } });
    const fromScontrol = jobStatusFrom({ tz: '+0000', squeue: '', scontrol: 'JobId=8 JobState=COMPLETED ExitCode=0:0 TRES=cpu=1,mem=1G,gres/gpu=2', exit_code: '0' }, '8', null);
    expect(fromScontrol).toMatchObject({ phase: 'exited', granted: { cpu: '1', mem: '1G', 'gres/gpu': '2' } });
    // The old five columns (a status read before this change) still parse, without a grant.
    expect(jobStatusFrom({ tz: '+0000', squeue: '', sacct: '9|COMPLETED|0:0|2026-01-01T00:00:00|2026-01-01T00:00:01', exit_code: '0' }, '9', null)).not.toHaveProperty('granted');
  });

  it('gpuFlag is a backend setting (backend add --gpu-flag gres|gpus)', () => {
    const slurm = kindDefinition('slurm')!;
    expect(settingsFromFlags(slurm, { host: 'h', 'gpu-flag': 'gpus' })).toMatchObject({ config: { gpuFlag: 'gpus' } });
    expect(settingsFromFlags(slurm, { host: 'h', 'gpu-flag': 'gpu' })).toEqual({ error: expect.stringMatching(/^invalid backend settings for --kind slurm: --gpu-flag /) });
  });
});

const spec = (over: Partial<JobSpec> = {}): JobSpec => ({ runId: 'run-g', command: ['true'], env: {}, resources: {}, staged: { image: 'img', sources: '/s.tar' }, ...over });
const podOf = (job: ReturnType<typeof jobManifest>) => job.spec!.template.spec!;

describe('Kubernetes: the GPU resource and the node selector of a type', () => {
  const gpuTypes = { a100: { 'nvidia.com/gpu.product': 'A100' }, h100: { 'nvidia.com/gpu.product': 'H100', 'example.com/pool': 'big' } };

  it('requests and limits the configured resource (nvidia.com/gpu by default), and selects the type\'s nodes', () => {
    const plain = podOf(jobManifest(spec({ resources: { gpus: 2 } }), { namespace: 'ns' }));
    expect(plain.containers[0]!.resources).toEqual({ requests: { 'nvidia.com/gpu': '2' }, limits: { 'nvidia.com/gpu': '2' } });
    expect(plain.nodeSelector).toBeUndefined();
    const typed = podOf(jobManifest(spec({ resources: { gpus: 1, gpuType: 'h100' } }), { namespace: 'ns', gpuResource: 'amd.com/gpu', gpuTypes }));
    expect(typed.containers[0]!.resources).toEqual({ requests: { 'amd.com/gpu': '1' }, limits: { 'amd.com/gpu': '1' } });
    expect(typed.nodeSelector).toEqual({ 'nvidia.com/gpu.product': 'H100', 'example.com/pool': 'big' });
    // The init container asks for nothing: only the command holds the GPUs.
    expect(typed.initContainers![0]!.resources).toBeUndefined();
  });

  it('a type the backend does not map is refused in one line naming the types it has', () => {
    expect(() => gpuNodeSelector({ gpus: 1, gpuType: 'v100' }, gpuTypes)).toThrow(
      '--gpus v100:1: this Kubernetes backend maps no GPU type "v100" to nodes (its types: a100, h100); ask for one of those or add the type with `reprise backend add … --gpu-type v100=LABEL=VALUE`',
    );
    expect(() => jobManifest(spec({ resources: { gpus: 1, gpuType: 'v100' } }), { namespace: 'ns' })).toThrow(/maps no GPU type "v100" to nodes \(it has no gpuTypes\); ask for GPUs without a type \(--gpus N\)/);
  });

  it('fitsAllocatable counts extended resources; nodeFits also needs the selector\'s labels', () => {
    const node = { allocatable: { cpu: '2', memory: '8Gi', 'nvidia.com/gpu': '2' }, labels: { 'nvidia.com/gpu.product': 'A100' } };
    expect(fitsAllocatable({ 'nvidia.com/gpu': '2' }, node.allocatable)).toBe(true);
    expect(fitsAllocatable({ 'nvidia.com/gpu': '5' }, node.allocatable)).toBe(false);
    expect(fitsAllocatable({ 'amd.com/gpu': '1' }, node.allocatable)).toBe(false);
    expect(nodeFits({ requests: { 'nvidia.com/gpu': '1' }, nodeSelector: gpuTypes.a100 }, node)).toBe(true);
    expect(nodeFits({ requests: { 'nvidia.com/gpu': '1' }, nodeSelector: gpuTypes.h100 }, node)).toBe(false);
    expect(nodeFits({ requests: { 'nvidia.com/gpu': '5' }, nodeSelector: gpuTypes.a100 }, node)).toBe(false);
    expect(nodeFits({ requests: {} }, node)).toBe(true);
  });

  it('backend add --gpu-resource and repeatable --gpu-type TYPE=LABEL=VALUE fill gpuResource and gpuTypes', () => {
    const k8s = kindDefinition('kubernetes')!;
    const base = { namespace: 'ns', registry: 'r.example.com/team' };
    expect(settingsFromFlags(k8s, { ...base, 'gpu-resource': 'amd.com/gpu', 'gpu-type': ['a100=nvidia.com/gpu.product=A100', 'h100=nvidia.com/gpu.product=H100', 'h100=example.com/pool=big'] })).toMatchObject({
      config: { gpuResource: 'amd.com/gpu', gpuTypes: { a100: { 'nvidia.com/gpu.product': 'A100' }, h100: { 'nvidia.com/gpu.product': 'H100', 'example.com/pool': 'big' } } },
    });
    expect(settingsFromFlags(k8s, { ...base, 'gpu-type': ['a100'] })).toEqual({ error: 'invalid backend settings for --kind kubernetes: --gpu-type "a100" must be TYPE=LABEL=VALUE, e.g. a100=nvidia.com/gpu.product=A100' });
    expect(settingsFromFlags(k8s, { ...base, 'gpu-type': ['A100=x=y'] })).toEqual({ error: expect.stringMatching(/^invalid backend settings for --kind kubernetes: --gpu-type GPU type names are lowercase/) });
    expect(settingsFromFlags(k8s, { ...base, 'gpu-resource': 'gpu' })).toEqual({ error: expect.stringMatching(/--gpu-resource must be an extended resource name such as nvidia.com\/gpu/) });
    // The config file's own form is the map.
    expect(k8s.schema.safeParse({ kind: 'kubernetes', ...base, gpuTypes: { a100: { 'nvidia.com/gpu.product': 'A100' } } }).success).toBe(true);
  });
});

describe('Docker: GPUs need the engine\'s NVIDIA runtime; a type cannot be chosen', () => {
  function engine(runtimes: Record<string, unknown>) {
    const created: unknown[] = [];
    const fake = {
      info: async () => ({ Runtimes: runtimes }),
      getContainer: () => ({ inspect: async () => Promise.reject(Object.assign(new Error('no such container'), { statusCode: 404 })) }),
      createContainer: async (o: unknown) => {
        created.push(o);
        throw new Error('must not be reached');
      },
      modem: { socketPath: '/var/run/docker.sock' },
    };
    return { docker: fake as unknown as Docker, created };
  }

  it('refuses --gpus N before creating anything when no NVIDIA runtime is configured', async () => {
    const { docker, created } = engine({ runc: { path: 'runc' }, 'io.containerd.runc.v2': { path: 'runc' } });
    await expect(new DockerBackend(docker).submit(spec({ resources: { gpus: 1 } }))).rejects.toThrow(
      /^--gpus 1: the Docker engine at .+ has no NVIDIA runtime \(its runtimes: runc, io\.containerd\.runc\.v2\); install the NVIDIA Container Toolkit and run `nvidia-ctk runtime configure --runtime=docker` there, or run elsewhere \(--on\)$/,
    );
    expect(created).toEqual([]);
  });

  it('refuses a GPU type, whatever the runtimes', async () => {
    const { docker, created } = engine({ nvidia: { path: 'nvidia-container-runtime' } });
    await expect(new DockerBackend(docker).submit(spec({ resources: { gpus: 2, gpuType: 'a100' } }))).rejects.toThrow(
      '--gpus a100:2: the Docker backend cannot choose GPUs by type (the engine gives any 2 of its GPUs); ask for --gpus 2, or run on a SLURM or Kubernetes backend that maps GPU types (--on)',
    );
    expect(created).toEqual([]);
  });
});
