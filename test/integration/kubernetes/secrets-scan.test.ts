// The secrets scan on Kubernetes (the e2e scan has no cluster): a project with a credentialed git
// remote, a registry login, a project secret, a run and a lab on the test cluster, all through the
// built CLI. While each one's pod lives, `kubectl get pods,jobs -o yaml` of the runs namespace is
// taken; no secret value (nor its base64, as a Secret's data or a pull secret would hold it) is in
// any of them. The project secret and the lab token reach the pod as a Secret's files only.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cli, cliEnv, collect } from '../../helpers/cli.js';
import { requireDocker } from '../../helpers/docker.js';
import { bareRepository, gitHttpServer, type GitHttpServer } from '../../helpers/git-http.js';
import { makeLabProject, startLab, waitFor } from '../../helpers/lab.js';
import { tempDir } from '../../helpers/project.js';
import { kubernetesAddArgs, loadClusterEnv } from './kubernetes-backend-env.js';

const secrets: { name: string; value: string }[] = [];
const specs: { what: string; yaml: string }[] = [];
let server: GitHttpServer;
let cli: Cli;
let root: string;

const kubectl = (...args: string[]) => {
  const c = loadClusterEnv();
  return execFileSync('kubectl', ['--kubeconfig', c.KUBECONFIG, '--context', c.K8S_CONTEXT, '-n', c.K8S_NAMESPACE, ...args], { encoding: 'utf8', maxBuffer: 1 << 28 });
};

/** The pods and Jobs of the runs namespace, once a pod of `job` is running. */
async function podSpecsWhileRunning(what: string, job: string): Promise<void> {
  await waitFor(`a running pod of ${job}`, () => kubectl('get', 'pods', '-l', `batch.kubernetes.io/job-name=${job}`, '-o', 'jsonpath={.items[*].status.phase}').includes('Running') || undefined, 600_000);
  const yaml = kubectl('get', 'pods,jobs', '-o', 'yaml');
  expect(yaml).toContain(`name: ${job}`);
  // The control: the values reach this pod, as a Secret's files it names.
  expect(yaml).toContain(`secretName: ${job}-secrets`);
  specs.push({ what, yaml });
}

beforeAll(async () => {
  requireDocker();
  const gitPassword = `gitpw-${randomBytes(12).toString('hex')}`;
  server = await gitHttpServer('alice', gitPassword);
  bareRepository(server, 'fit.git');
  // A registry login the client holds (docker's config): nothing of it may reach the cluster.
  const registryPassword = `regpw-${randomBytes(12).toString('hex')}`;
  const dockerConfig = await tempDir('reprise-k8s-scan-docker-');
  const auth = Buffer.from(`scanner:${registryPassword}`).toString('base64');
  writeFileSync(join(dockerConfig, 'config.json'), JSON.stringify({ auths: { 'registry.example.org': { auth } } }));
  const home = await tempDir('reprise-k8s-scan-home-');
  cli = new Cli({ ...(await cliEnv(home)), DOCKER_CONFIG: dockerConfig });
  const added = await cli.run(['backend', 'add', ...kubernetesAddArgs('k8s', 'reprise-lab-it')], '/');
  expect(added.code, added.stderr).toBe(0);
  root = await makeLabProject(cli, await tempDir('reprise-k8s-scan-'), 'scan');
  const remote = await cli.run(['remote', 'add', 'origin', `http://alice:${gitPassword}@${server.base.slice('http://'.length)}/fit.git`], root);
  expect(remote.code, remote.stderr).toBe(0);
  const value = `project-secret-${randomBytes(12).toString('hex')}`;
  const dir = await tempDir('reprise-k8s-scan-secret-');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'api-key'), value, { mode: 0o600 });
  const secret = await cli.run(['secret', 'add', 'API_KEY', join(dir, 'api-key')], root);
  expect(secret.code, secret.stderr).toBe(0);
  secrets.push(
    { name: 'the git remote password', value: gitPassword },
    { name: 'the registry password', value: registryPassword },
    { name: "the registry's basic auth", value: auth },
    { name: 'a project secret', value },
  );
}, 900_000);

afterAll(async () => {
  await cli?.run(['agent', 'stop'], root ?? '/');
  await server?.close();
});

describe('the secrets scan on Kubernetes: pod and Job specs', () => {
  it('a run that reads the project secret: its pod and Job hold no value', async () => {
    const child = cli.spawn(['run', '--on', 'k8s', '--', 'sh', '-c', 'sha256sum /run/secrets/API_KEY > output/hash; sleep 15'], root);
    let said = '';
    child.stderr!.on('data', (d: Buffer) => (said += d));
    const running = collect(child);
    const job = await waitFor('the run to start', () => /^run (run-[a-z2-7]{12}) on /m.exec(said)?.[1], 600_000);
    await podSpecsWhileRunning('the run', `reprise-${job}`);
    const ran = await running;
    expect(ran.code, ran.stderr).toBe(0);
  }, 900_000);

  it("a lab: its pod and Job hold neither its token nor the project's secrets", async () => {
    const lab = await startLab(cli, root, ['--on', 'k8s']);
    secrets.push({ name: "the lab's token", value: lab.token });
    try {
      await podSpecsWhileRunning('the lab', `reprise-${lab.labId}`);
    } finally {
      const stopped = await cli.run(['lab', 'stop', lab.labId], root);
      expect(stopped.code, stopped.stderr).toBe(0);
      await lab.done;
    }
  }, 900_000);

  it('no secret value, plain or base64, in any pod or Job spec taken', () => {
    expect(specs.map((s) => s.what)).toEqual(['the run', 'the lab']);
    const found: string[] = [];
    for (const { what, yaml } of specs) {
      for (const s of secrets) {
        for (const form of [s.value, Buffer.from(s.value).toString('base64')]) if (yaml.includes(form)) found.push(`${s.name} in the pod specs of ${what}`);
      }
    }
    expect(found).toEqual([]);
  });
});
