// The kubernetes backend against the REAL test cluster (`test/infra/kubernetes up`): real API
// server, real kubelet on containerd, images pushed to the real registry on 127.0.0.1:5000.
import { BatchV1Api, CoreV1Api, KubeConfig, RbacAuthorizationV1Api, type V1PolicyRule } from '@kubernetes/client-node';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { text } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { dockerClient } from '../../../src/images/engine.js';
import { KubernetesBackend } from '../../../src/backends/kubernetes/kubernetes-backend.js';
import type { KubernetesConfig } from '../../../src/backends/kubernetes/config.js';
import { jobManifest, jobName } from '../../../src/backends/kubernetes/job-manifest.js';
import type { JobHandle, JobSpec, JobStatus, StagedJob } from '../../../src/backends/types.js';
import { waitFor } from '../../helpers/lab.js';
import { adminClients, awaitedStatus, backendConfig, buildTestImage, leastPrivilegeKubeconfig, loadClusterEnv, type ClusterEnv } from './kubernetes-backend-env.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const token = randomBytes(4).toString('hex');
const localTag = `reprise/k8s-it-${token}:latest`;

let env: ClusterEnv;
let kc: KubeConfig;
let batch: BatchV1Api;
let core: CoreV1Api;
let backend: KubernetesBackend;
let imageId: string;
let staged: StagedJob;
let work: string;
const handles: JobHandle[] = [];

beforeAll(async () => {
  env = loadClusterEnv();
  ({ kc, batch, core } = adminClients(env));
  backend = new KubernetesBackend(backendConfig(env), dockerClient());
  imageId = buildTestImage(localTag, `RUN echo "from-image-${token}" > /marker.txt`);
  work = await mkdtemp(join(tmpdir(), 'reprise-k8s-it-'));
});

afterAll(async () => {
  for (const h of handles) await backend?.cleanup(h).catch(() => undefined);
  if (work) await rm(work, { recursive: true, force: true });
  // The local tag and the registry tag stage() added (the registry keeps its copy).
  const pushed = execFileSync('docker', ['image', 'ls', '--format', '{{.Repository}}:{{.Tag}}', `${env.K8S_REGISTRY}/reprise-it/k8s-it-${token}`], { encoding: 'utf8' });
  execFileSync('docker', ['image', 'rm', '-f', localTag, ...pushed.split('\n').filter(Boolean)], { stdio: 'ignore' });
});

const runId = (what: string) => `run-it${token}${what}${randomBytes(3).toString('hex')}`;

/** A sources directory as the activities make it: the project's files and an empty output/. */
async function sources(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(work, 'run-'));
  const src = join(dir, 'src');
  await mkdir(join(src, 'output'), { recursive: true });
  for (const [path, body] of Object.entries(files)) {
    await mkdir(dirname(join(src, path)), { recursive: true });
    await writeFile(join(src, path), body);
  }
  return src;
}

async function submitted(b: KubernetesBackend, command: string[], files: Record<string, string> = {}, over: Partial<JobSpec> = {}): Promise<JobHandle> {
  const id = over.runId ?? runId('x');
  const st = await b.stage({ runId: id, image: { digest: imageId, tag: localTag }, sourcesDir: await sources(files) });
  const handle = await b.submit({ runId: id, command, env: {}, resources: {}, staged: st, ...over });
  handles.push(handle);
  return handle;
}

async function waitEnd(b: KubernetesBackend, handle: JobHandle, ms = 90_000): Promise<JobStatus> {
  for (const until = Date.now() + ms; Date.now() < until; ) {
    const s = await awaitedStatus(b, handle);
    if (s.phase === 'exited' || s.phase === 'lost') return s;
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`job ${handle.jobId} did not end within ${ms} ms`);
}

/** status() read until `done` holds (it only reads: nothing moves the job meanwhile). */
const statusWhen = (b: KubernetesBackend, h: JobHandle, what: string, done: (s: JobStatus) => boolean, ms: number) =>
  waitFor(what, async () => {
    const s = await b.status(h);
    return done(s) ? s : undefined;
  }, ms);

async function podsOf(jobName: string) {
  return (await core.listNamespacedPod({ namespace: env.K8S_NAMESPACE, labelSelector: `batch.kubernetes.io/job-name=${jobName}` })).items;
}

async function jobsNamed(jobName: string) {
  return (await batch.listNamespacedJob({ namespace: env.K8S_NAMESPACE, fieldSelector: `metadata.name=${jobName}` })).items;
}

/** Everything in a directory, as relative path → content. */
/** What collect() brings back of the run's output/, as path → content. */
async function collected(b: KubernetesBackend, h: JobHandle): Promise<Record<string, string>> {
  const dest = join(work, `out-${h.runId}`);
  await b.collect(h, dest);
  return tree(dest);
}

async function tree(dir: string, prefix = ''): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.isDirectory()) Object.assign(out, await tree(join(dir, e.name), `${prefix}${e.name}/`));
    else out[`${prefix}${e.name}`] = await readFile(join(dir, e.name), 'utf8');
  }
  return out;
}

describe('kubernetes backend on the real test cluster', () => {
  it('check() reports the API server version and the namespace', async () => {
    const c = await backend.check();
    expect(c.kind).toBe('kubernetes');
    expect(c.version).toMatch(/^v1\.\d+/);
    expect(c.details.namespace).toBe(env.K8S_NAMESPACE);
  });

  it('stage() pushes the image to the registry at 127.0.0.1:5000, pinned by digest, and archives the sources', async () => {
    staged = await backend.stage({ runId: runId('s'), image: { digest: imageId, tag: localTag }, sourcesDir: await sources({ 'code/a.txt': 'a' }) });
    const repo = `reprise-it/k8s-it-${token}`;
    expect(staged.image).toMatch(new RegExp(`^${env.K8S_REGISTRY.replace(/\./g, '\\.')}/${repo}@sha256:[0-9a-f]{64}$`));
    const tags = (await (await fetch(`http://${env.K8S_REGISTRY}/v2/${repo}/tags/list`)).json()) as { tags: string[] };
    expect(tags.tags).toContain(imageId.replace('sha256:', '').slice(0, 12));
    const manifest = await fetch(`http://${env.K8S_REGISTRY}/v2/${repo}/manifests/${staged.image.split('@')[1]}`, {
      method: 'HEAD',
      headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json' },
    });
    expect(manifest.status).toBe(200);
    expect(execFileSync('tar', ['-tf', staged.sources], { encoding: 'utf8' })).toContain('./code/a.txt');
    // A second stage of the same digest pushes nothing new and names the same image.
    const again = await backend.stage({ runId: runId('s'), image: { digest: imageId, tag: localTag }, sourcesDir: await sources({}) });
    expect(again.image).toBe(staged.image);
  });

  it('runs a job that reads a source file and writes output/: exit 0, its log, its outputs; submit twice makes one Job', async () => {
    const id = runId('ok');
    const cmd = ['sh', '-c', 'cat code/in.txt; cat /marker.txt; echo "to stderr" >&2; mkdir -p output/sub; tr a-z A-Z < code/in.txt > output/sub/upper.txt; echo "$REPRISE_RUN_ID" > output/id.txt'];
    const first = await submitted(backend, cmd, { 'code/in.txt': `hello ${token}\n` }, { runId: id });
    const second = await backend.submit({ runId: id, command: cmd, env: {}, resources: {}, staged: { image: staged.image, sources: first.sources as string } });
    expect(second).toEqual(first);
    expect(await jobsNamed(first.jobId)).toHaveLength(1);
    expect(await podsOf(first.jobId)).toHaveLength(1);

    const log = backend.logs(first).then(text);
    const status = await waitEnd(backend, first);
    expect(status).toMatchObject({ phase: 'exited', exitCode: 0 });
    expect(status.startedAt).toBeTruthy();
    const logText = await log;
    expect(logText).toContain(`hello ${token}\n`);
    expect(logText).toContain(`from-image-${token}\n`);
    expect(logText).toContain('to stderr\n');

    const dest = join(work, `out-${id}`);
    await backend.collect(first, dest);
    expect(await tree(dest)).toEqual({ 'sub/upper.txt': `HELLO ${token.toUpperCase()}\n`, 'id.txt': `${id}\n` });
    // Collected: the pod is let go and ends with the command's exit code.
    for (let i = 0; i < 40; i++) {
      const [pod] = await podsOf(first.jobId);
      if (pod?.status?.phase === 'Succeeded') break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect((await podsOf(first.jobId))[0]?.status?.phase).toBe('Succeeded');
  }, 120_000);

  it('small sources go in a ConfigMap owned by the Job (nothing uploaded); larger ones are uploaded; cleanup removes the ConfigMap', async () => {
    const small = await submitted(backend, ['sh', '-c', 'md5sum code/a.txt'], { 'code/a.txt': `small ${token}\n` });
    expect(small.sourcesIn).toBe('configmap');
    const map = await core.readNamespacedConfigMap({ name: `${small.jobId}-sources`, namespace: env.K8S_NAMESPACE });
    const [job] = await jobsNamed(small.jobId);
    expect(map.metadata?.ownerReferences).toEqual([expect.objectContaining({ kind: 'Job', name: small.jobId, uid: job!.metadata!.uid })]);
    expect(map.immutable).toBe(true);
    // The pod never waits for an upload: no status asks for one.
    for (let s = await backend.status(small); s.phase !== 'exited'; s = await backend.status(small)) {
      expect(s.due).not.toBe('sources');
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(await backend.logs(small).then(text)).toContain(createHash('md5').update(`small ${token}\n`).digest('hex'));

    const bulk = randomBytes(300 * 1024).toString('hex'); // 600 KiB: over the ConfigMap limit
    const big = await submitted(backend, ['sh', '-c', 'md5sum code/big.txt'], { 'code/big.txt': bulk });
    expect(big.sourcesIn).toBe('upload');
    await expect(core.readNamespacedConfigMap({ name: `${big.jobId}-sources`, namespace: env.K8S_NAMESPACE })).rejects.toMatchObject({ code: 404 });
    expect(await waitEnd(backend, big)).toMatchObject({ phase: 'exited', exitCode: 0 });
    expect(await backend.logs(big).then(text)).toContain(createHash('md5').update(bulk).digest('hex'));

    await backend.cleanup(small);
    await expect(core.readNamespacedConfigMap({ name: `${small.jobId}-sources`, namespace: env.K8S_NAMESPACE })).rejects.toMatchObject({ code: 404 });
  }, 180_000);

  it('propagates a non-zero exit code (3); the log arrives whole, once', async () => {
    const h = await submitted(backend, ['sh', '-c', 'seq 1 3000; sleep 1; seq 3001 6000; exit 3']);
    const log = backend.logs(h).then(text);
    expect(await waitEnd(backend, h)).toMatchObject({ phase: 'exited', exitCode: 3 });
    expect(await log).toBe(Array.from({ length: 6000 }, (_, i) => `${i + 1}\n`).join(''));
  }, 120_000);

  it('collect() leaves out outputs that are links and names them; plain files are collected', async () => {
    const h = await submitted(backend, ['sh', '-c', 'echo ok > output/fine.txt; ln -s /etc/passwd output/evil']);
    expect(await waitEnd(backend, h)).toMatchObject({ phase: 'exited', exitCode: 0 });
    const dest = join(work, `out-${h.runId}`);
    expect(await backend.collect(h, dest)).toEqual({ skipped: [{ path: 'output/evil', why: 'a symlink; only files and directories are collected' }] });
    expect(await tree(dest)).toEqual({ 'fine.txt': 'ok\n' });
  }, 120_000);

  it('a submit whose sources cannot be shipped fails and leaves no Job behind', async () => {
    const id = runId('unshippable');
    const st = await backend.stage({ runId: id, image: { digest: imageId, tag: localTag }, sourcesDir: await sources({ 'code/a.txt': 'a\n' }) });
    await rm(st.sources, { force: true }); // the archive is gone: the upload cannot happen
    await expect(backend.submit({ runId: id, command: ['true'], env: {}, resources: {}, staged: st })).rejects.toThrow(/^the run's staged sources .* are gone \(ENOENT/);
    expect(await jobsNamed(jobName(id))).toEqual([]);
  }, 120_000);

  it('an image the node cannot pull fails the run with the kubelet\'s reason', async () => {
    const id = runId('nopull');
    const st = await backend.stage({ runId: id, image: { digest: imageId, tag: localTag }, sourcesDir: await sources({}) });
    const missing = `${env.K8S_REGISTRY}/reprise/not-pushed@sha256:${'0'.repeat(64)}`;
    const h = await backend.submit({ runId: id, command: ['true'], env: {}, resources: {}, staged: { ...st, image: missing } });
    handles.push(h);
    const status = await waitEnd(backend, h);
    expect(status).toMatchObject({ phase: 'exited', exitCode: 1 });
    expect(status.reason).toMatch(/^the pod cannot start: (ErrImagePull|ImagePullBackOff): /);
    await backend.cleanup(h);
    expect(await jobsNamed(jobName(id))).toEqual([]);
  }, 120_000);

  it('a command the image lacks exits 127, as on Docker and SLURM', async () => {
    const h = await submitted(backend, ['nosuchcommand', '--flag']);
    const log = backend.logs(h).then(text);
    expect(await waitEnd(backend, h)).toMatchObject({ phase: 'exited', exitCode: 127 });
    expect(await log).toMatch(/nosuchcommand: not found/);
  }, 120_000);

  it("starts the command in the run's working directory", async () => {
    const h = await submitted(backend, ['sh', '-c', 'pwd > /project/output/pwd.txt'], { 'code/models/m.txt': 'm\n' }, { workdir: 'code/models' });
    expect(await waitEnd(backend, h)).toMatchObject({ phase: 'exited', exitCode: 0 });
    expect(await collected(backend, h)).toEqual({ 'pwd.txt': '/project/code/models\n' });
  }, 120_000);

  it('passes argv as separate arguments: no shell interpretation of user input', async () => {
    const h = await submitted(backend, ['sh', '-c', 'printf "%s|" "$@" > output/args.txt', 'argv0', 'a b', '$(touch /project/output/pwned)', "'q'"]);
    expect(await waitEnd(backend, h)).toMatchObject({ phase: 'exited', exitCode: 0 });
    expect(await collected(backend, h)).toEqual({ 'args.txt': "a b|$(touch /project/output/pwned)|'q'|" });
  }, 120_000);

  it('kills a job past its time limit: exit code 124 and the reason, outputs still collected', async () => {
    const h = await submitted(backend, ['sh', '-c', 'echo started > output/partial.txt; sleep 60'], {}, { resources: { timeSeconds: 2 } });
    const job = (await jobsNamed(h.jobId))[0]!;
    expect(job.spec?.activeDeadlineSeconds).toBeGreaterThan(2);
    // status() only reads: past the limit it says the stop is due, and the command still runs.
    // (Until the init container has exited, the sources submit shipped read as still due.)
    const status = await statusWhen(backend, h, 'the time-limit step due', (s) => s.due === 'time-limit', 60_000);
    expect(status).toMatchObject({ phase: 'running', due: 'time-limit' });
    await new Promise((r) => setTimeout(r, 1000));
    expect(await backend.status(h)).toMatchObject({ phase: 'running', due: 'time-limit' });
    await backend.enforceTimeLimit(h);
    expect(await waitEnd(backend, h)).toMatchObject({ phase: 'exited', exitCode: 124, reason: 'time limit 0:00:02 exceeded' });
    expect(await collected(backend, h)).toEqual({ 'partial.txt': 'started\n' });
  }, 120_000);

  it('waitForEnd wakes as the command ends though its container waits to be collected, and the log follow ends with it; at the time limit; when aborted', async () => {
    const h = await submitted(backend, ['sh', '-c', 'sleep 3; echo done']);
    await statusWhen(backend, h, 'the command running', (s) => s.phase === 'running', 60_000);
    const log = backend.logs(h).then(text);
    let t0 = Date.now();
    await backend.waitForEnd(h, { timeoutMs: 60_000 });
    expect(Date.now() - t0, 'woke at the end, not at the timeout').toBeLessThan(30_000);
    expect(await backend.status(h)).toMatchObject({ phase: 'exited', exitCode: 0 });
    expect(await log).toBe('done\n');

    const limited = await submitted(backend, ['sleep', '60'], {}, { resources: { timeSeconds: 3 } });
    await statusWhen(backend, limited, 'the command running', (s) => s.phase === 'running', 60_000);
    await backend.waitForEnd(limited, { timeoutMs: 60_000 });
    expect(await backend.status(limited)).toMatchObject({ phase: 'running', due: 'time-limit' });

    const long = await submitted(backend, ['sleep', '60']);
    await statusWhen(backend, long, 'the command running', (s) => s.phase === 'running', 60_000);
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 500);
    t0 = Date.now();
    await backend.waitForEnd(long, { timeoutMs: 60_000, signal: abort.signal });
    expect(Date.now() - t0, 'woke on abort').toBeLessThan(30_000);
    expect(await backend.status(long)).toMatchObject({ phase: 'running' });
    await backend.cancel(limited);
    await backend.cancel(long);
  }, 240_000);

  it('a retried submit keeps the way the Job it finds takes its sources: an upload Job gets its upload, a ConfigMap Job its missing ConfigMap', async () => {
    for (const [way, sourcesConfigMap] of [['upload', undefined], ['configmap', 'x']] as const) {
      // The Job an earlier submit made before its worker died (small sources: this submit alone would choose the ConfigMap).
      const id = runId(way.slice(0, 4));
      const st = await backend.stage({ runId: id, image: { digest: imageId, tag: localTag }, sourcesDir: await sources({ 'code/in.txt': `${way}\n` }) });
      const spec: JobSpec = { runId: id, command: ['sh', '-c', 'cat code/in.txt'], env: {}, resources: {}, staged: st };
      const name = jobName(id);
      await batch.createNamespacedJob({ namespace: env.K8S_NAMESPACE, body: jobManifest(spec, { namespace: env.K8S_NAMESPACE, sourcesConfigMap: sourcesConfigMap && `${name}-sources` }) });
      const h = await backend.submit(spec);
      handles.push(h);
      expect(h.sourcesIn).toBe(way);
      const log = backend.logs(h).then(text);
      expect(await waitEnd(backend, h)).toMatchObject({ phase: 'exited', exitCode: 0 });
      expect(await log).toBe(`${way}\n`);
    }
  }, 180_000);

  it("sources the init container cannot unpack fail the run with tar's own words as the reason", async () => {
    // The Job as submit makes it for ConfigMap sources, but the ConfigMap holds no tar.
    const id = runId('badtar');
    const st = await backend.stage({ runId: id, image: { digest: imageId, tag: localTag }, sourcesDir: await sources({}) });
    const spec: JobSpec = { runId: id, command: ['true'], env: {}, resources: {}, staged: st };
    const name = jobName(id);
    await batch.createNamespacedJob({ namespace: env.K8S_NAMESPACE, body: jobManifest(spec, { namespace: env.K8S_NAMESPACE, sourcesConfigMap: `${name}-sources` }) });
    await core.createNamespacedConfigMap({
      namespace: env.K8S_NAMESPACE,
      body: { metadata: { name: `${name}-sources` }, binaryData: { 'sources.tar': Buffer.from('not a tar archive\n'.repeat(64)).toString('base64') } },
    });
    const h: JobHandle = { kind: 'kubernetes', runId: id, jobId: name, namespace: env.K8S_NAMESPACE, sources: st.sources, timeSeconds: null, sourcesIn: 'configmap' };
    handles.push(h);
    const status = await waitEnd(backend, h);
    expect(status).toMatchObject({ phase: 'exited', exitCode: 1 });
    expect(status.reason).toMatch(/^the sources or tracked inputs never arrived in the pod \(init container exited \d+: tar: .+\)$/);
    await backend.cleanup(h);
    await expect(core.readNamespacedConfigMap({ name: `${name}-sources`, namespace: env.K8S_NAMESPACE })).rejects.toMatchObject({ code: 404 });
  }, 120_000);

  it('a pod that starts after submit returned waits for its sources until shipSources() sends them', async () => {
    // The Job made as submit makes it, but without submit's wait: as when the pod starts late (a busy cluster).
    const id = runId('late');
    const st = await backend.stage({ runId: id, image: { digest: imageId, tag: localTag }, sourcesDir: await sources({ 'code/in.txt': 'shipped\n' }) });
    const spec: JobSpec = { runId: id, command: ['sh', '-c', 'cp code/in.txt output/out.txt'], env: {}, resources: {}, staged: st };
    await batch.createNamespacedJob({ namespace: env.K8S_NAMESPACE, body: jobManifest(spec, { namespace: env.K8S_NAMESPACE }) });
    const h: JobHandle = { kind: 'kubernetes', runId: id, jobId: jobName(id), namespace: env.K8S_NAMESPACE, sources: st.sources, timeSeconds: null };
    handles.push(h);
    const status = await statusWhen(backend, h, 'a step due', (s) => Boolean(s.due), 120_000);
    expect(status).toEqual({ phase: 'pending', due: 'sources' });
    // Reading ships nothing: the pod still waits.
    await new Promise((r) => setTimeout(r, 2000));
    expect(await backend.status(h)).toEqual({ phase: 'pending', due: 'sources' });
    await backend.shipSources(h);
    await backend.shipSources(h); // harmless once they are there
    expect(await waitEnd(backend, h)).toMatchObject({ phase: 'exited', exitCode: 0 });
    expect(await collected(backend, h)).toEqual({ 'out.txt': 'shipped\n' });
  }, 180_000);

  it('cancel() stops a running command (and is harmless to repeat); cleanup() removes the Job and its pods', async () => {
    const h = await submitted(backend, ['sh', '-c', 'echo running; sleep 120']);
    for (let i = 0; i < 200 && (await awaitedStatus(backend, h)).phase !== 'running'; i++) await new Promise((r) => setTimeout(r, 250));
    const t0 = Date.now();
    await backend.cancel(h);
    const status = await waitEnd(backend, h, 20_000);
    expect(status.phase).toBe('exited');
    expect(status.exitCode).toBe(137);
    expect(Date.now() - t0).toBeLessThan(15_000);
    await backend.cancel(h);
    await backend.collect(h, join(work, `out-${h.runId}`));

    await backend.cleanup(h);
    await backend.cleanup(h);
    for (let i = 0; i < 120 && ((await jobsNamed(h.jobId)).length || (await podsOf(h.jobId)).length); i++) await new Promise((r) => setTimeout(r, 500));
    expect(await jobsNamed(h.jobId)).toHaveLength(0);
    expect(await podsOf(h.jobId)).toHaveLength(0);
    expect((await backend.status(h)).phase).toBe('lost');
  }, 120_000);

  it('cancel() before the command starts removes the Job', async () => {
    const h = await submitted(backend, ['true'], {}, { resources: { cpus: 1000 } }); // never schedulable
    expect((await backend.status(h)).phase).toBe('pending');
    await backend.cancel(h);
    expect((await backend.status(h)).phase).toBe('lost');
    await backend.collect(h, join(work, `out-${h.runId}`)); // nothing to collect, no error
  }, 120_000);

  it.each([
    ['exactly as deploy/kubernetes/rbac.yaml has them: small sources go by ConfigMap', 'configmap', false],
    ['of a Role from before ConfigMaps were used (no configmaps rule): the sources are uploaded', 'upload', true],
  ] as const)('runs a job with ONLY the rights %s (ServiceAccount token)', async (_what, sourcesIn, withoutConfigMaps) => {
    const ns = env.K8S_NAMESPACE;
    const name = `reprise-it-lp-${sourcesIn}-${token}`;
    const rbac = RbacAuthorizationV1Api;
    const rbacApi = kc.makeApiClient(rbac);
    const role = parseAllDocuments(await readFile(join(repoRoot, 'deploy/kubernetes/rbac.yaml'), 'utf8'))
      .map((d) => d.toJS() as { kind: string; rules?: V1PolicyRule[] })
      .find((d) => d.kind === 'Role')!;
    expect(role.rules?.length).toBeGreaterThan(0);
    expect(role.rules!.some((r) => r.resources?.includes('configmaps'))).toBe(true);
    const rules = withoutConfigMaps ? role.rules!.filter((r) => !r.resources?.includes('configmaps')) : role.rules!;
    const kubeconfig = join(work, `least-privilege-${sourcesIn}.kubeconfig`);
    try {
      await leastPrivilegeKubeconfig(kc, ns, name, rules, kubeconfig);
      const config: KubernetesConfig = backendConfig(env, { kubeconfig, context: 'lp' });
      const limited = new KubernetesBackend(config, dockerClient());
      // The identity really is limited: it may not read secrets.
      const limitedKc = new KubeConfig();
      limitedKc.loadFromFile(kubeconfig);
      await expect(limitedKc.makeApiClient(CoreV1Api).listNamespacedSecret({ namespace: ns })).rejects.toMatchObject({ code: 403 });

      // RBAC bindings take a moment to reach the authorizer.
      for (let i = 0; ; i++) {
        try {
          await limited.check();
          break;
        } catch (err) {
          if (i > 40) throw err;
          await new Promise((r) => setTimeout(r, 250));
        }
      }
      const h = await submitted(limited, ['sh', '-c', 'cat code/x.txt; cp code/x.txt output/copy.txt; exit 5'], { 'code/x.txt': 'least privilege\n' });
      expect(h.sourcesIn).toBe(sourcesIn);
      const log = limited.logs(h).then(text);
      expect(await waitEnd(limited, h)).toMatchObject({ phase: 'exited', exitCode: 5 });
      expect(await log).toBe('least privilege\n');
      expect(await collected(limited, h)).toEqual({ 'copy.txt': 'least privilege\n' });
      await limited.cleanup(h);
      expect(await jobsNamed(h.jobId)).toHaveLength(0);
      await expect(core.readNamespacedConfigMap({ name: `${h.jobId}-sources`, namespace: ns })).rejects.toMatchObject({ code: 404 });
    } finally {
      await rbacApi.deleteNamespacedRoleBinding({ name, namespace: ns }).catch(() => undefined);
      await rbacApi.deleteNamespacedRole({ name, namespace: ns }).catch(() => undefined);
      await core.deleteNamespacedServiceAccount({ name, namespace: ns }).catch(() => undefined);
    }
  }, 120_000);
});
