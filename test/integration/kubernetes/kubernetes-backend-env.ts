// Shared by the kubernetes-backend tests: the real test cluster's settings and small helpers.
import { BatchV1Api, CoreV1Api, KubeConfig, RbacAuthorizationV1Api, type V1PolicyRule } from '@kubernetes/client-node';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import type { KubernetesConfig } from '../../../src/backends/kubernetes/config.js';
import { takeDueStep } from '../../../src/backends/due-step.js';
import type { Backend, JobHandle, JobStatus } from '../../../src/backends/types.js';
import { buildTestImage as buildImage, readInfraEnv } from '../../helpers/infra.js';

export interface ClusterEnv {
  K8S_CONTEXT: string;
  K8S_NAMESPACE: string;
  K8S_REGISTRY: string;
  KUBECONFIG: string;
}

/** The cluster `test/infra/kubernetes up` started; fails loudly (never skips) when it is not there. */
export function loadClusterEnv(): ClusterEnv {
  return readInfraEnv('kubernetes', ['K8S_CONTEXT', 'K8S_NAMESPACE', 'K8S_REGISTRY', 'KUBECONFIG'], ['KUBECONFIG']);
}

/**
 * The job's status as awaitJob polls it: status() only reads, so the step it says is due (ship
 * the pod its sources, stop the command past its time limit) is taken here, as the activity does.
 */
export async function awaitedStatus(backend: Backend, handle: JobHandle): Promise<JobStatus> {
  const status = await backend.status(handle);
  return status.due ? takeDueStep(backend, handle, status.due) : status;
}

/** API clients with the test cluster's admin kubeconfig. */
export function adminClients(env: ClusterEnv): { kc: KubeConfig; batch: BatchV1Api; core: CoreV1Api } {
  const kc = new KubeConfig();
  kc.loadFromFile(env.KUBECONFIG);
  kc.setCurrentContext(env.K8S_CONTEXT);
  return { kc, batch: kc.makeApiClient(BatchV1Api), core: kc.makeApiClient(CoreV1Api) };
}

/**
 * A data cache claim as a site's admin would make one: a hostPath PersistentVolume on the one node
 * (this machine; the cluster has no provisioner) at `hostDir`, writable by the pods' uid, bound to
 * claim `name`. Returns what removes both and the folder.
 */
export async function makeCacheClaim(env: ClusterEnv, name: string, hostDir: string): Promise<() => Promise<void>> {
  await mkdir(hostDir, { mode: 0o777 });
  await chmod(hostDir, 0o777);
  const { core } = adminClients(env);
  const storageClassName = `manual-${name}`;
  await core.createPersistentVolume({ body: { metadata: { name }, spec: { capacity: { storage: '1Gi' }, accessModes: ['ReadWriteOnce'], storageClassName, hostPath: { path: hostDir }, claimRef: { namespace: env.K8S_NAMESPACE, name } } } });
  await core.createNamespacedPersistentVolumeClaim({ namespace: env.K8S_NAMESPACE, body: { metadata: { name }, spec: { accessModes: ['ReadWriteOnce'], storageClassName, resources: { requests: { storage: '1Gi' } } } } });
  // Bound before it is used: a pod made earlier is unschedulable for a while ("unbound immediate PersistentVolumeClaims").
  for (let i = 0; i < 120 && (await core.readNamespacedPersistentVolumeClaim({ name, namespace: env.K8S_NAMESPACE })).status?.phase !== 'Bound'; i++) await new Promise((r) => setTimeout(r, 250));
  return async () => {
    await core.deleteNamespacedPersistentVolumeClaim({ name, namespace: env.K8S_NAMESPACE }).catch(() => undefined);
    await core.deletePersistentVolume({ name }).catch(() => undefined);
    await rm(hostDir, { recursive: true, force: true });
  };
}

export function backendConfig(env: ClusterEnv, over: Partial<KubernetesConfig> = {}): KubernetesConfig {
  return { kind: 'kubernetes', kubeconfig: env.KUBECONFIG, context: env.K8S_CONTEXT, namespace: env.K8S_NAMESPACE, registry: `${env.K8S_REGISTRY}/reprise-it`, ...over };
}

/** Build a small local image `FROM local/busybox:latest`; returns its id (sha256:…). */
export function buildTestImage(tag: string, extraLines = ''): string {
  return buildImage(tag, extraLines ? [extraLines] : []);
}

/** `reprise backend add` arguments for the test cluster, images under `registryPath` of its registry. */
export function kubernetesAddArgs(name: string, registryPath: string): string[] {
  const c = loadClusterEnv();
  return [name, '--kind', 'kubernetes', '--kubeconfig', c.KUBECONFIG, '--context', c.K8S_CONTEXT, '--namespace', c.K8S_NAMESPACE, '--registry', `${c.K8S_REGISTRY}/${registryPath}`];
}

/**
 * A service account `name` in `ns` bound to a Role `name` with `rules`, and a kubeconfig written
 * to `file` (0600) that authenticates as it: the rights a user's identity would have. The caller
 * removes the Role, binding and account.
 */
export async function leastPrivilegeKubeconfig(kc: KubeConfig, ns: string, name: string, rules: V1PolicyRule[], file: string): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  const rbacApi = kc.makeApiClient(RbacAuthorizationV1Api);
  await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name } } });
  await rbacApi.createNamespacedRole({ namespace: ns, body: { metadata: { name }, rules } });
  await rbacApi.createNamespacedRoleBinding({
    namespace: ns,
    body: { metadata: { name }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name }, subjects: [{ kind: 'ServiceAccount', name, namespace: ns }] },
  });
  const tokenRequest = await core.createNamespacedServiceAccountToken({ name, namespace: ns, body: { spec: { audiences: [], expirationSeconds: 600 } } });
  const cluster = kc.getCurrentCluster()!;
  await writeFile(
    file,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster: { server: cluster.server, 'certificate-authority-data': cluster.caData } }],
      users: [{ name: 'u', user: { token: tokenRequest.status!.token } }],
      contexts: [{ name: 'lp', context: { cluster: 'c', user: 'u', namespace: ns } }],
      'current-context': 'lp',
    }),
    { mode: 0o600 },
  );
}
