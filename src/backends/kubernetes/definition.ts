import { z } from 'zod';
import { registryUrl } from '../../config/names.js';
import { dataStagingFlags, dataStagingShape, defineBackend, runnableFlags, runnableShape } from '../definition.js';

const kubernetesSchema = z
  .object({
    kind: z.literal('kubernetes'),
    /** Default: KUBECONFIG, else ~/.kube/config. */
    kubeconfig: z.string().min(1).optional(),
    /** Default: the kubeconfig's current context. */
    context: z.string().min(1).optional(),
    namespace: z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'a Kubernetes namespace name (DNS-1123 label)'),
    /** Where images are pushed (host[:port][/path]); the cluster's nodes pull from it. */
    registry: registryUrl,
    /**
     * Fail a run no node can ever hold (default true). Set false where a cluster autoscaler may
     * add bigger nodes: the run then waits, its pending reason shown.
     */
    failUnschedulable: z.boolean().optional(),
    /**
     * A PersistentVolumeClaim in the namespace where pods keep the data objects they fetch, so a
     * second run with the same data moves none (ReadWriteMany when runs land on several nodes).
     */
    dataCacheClaim: z.string().regex(/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/, 'a PersistentVolumeClaim name (DNS-1123 subdomain)').optional(),
    ...dataStagingShape,
    ...runnableShape,
  })
  .strict();
export type KubernetesConfig = z.output<typeof kubernetesSchema>;

export const kubernetesDefinition = defineBackend({
  kind: 'kubernetes',
  schema: kubernetesSchema,
  flags: {
    ...runnableFlags,
    kubeconfig: { key: 'kubeconfig', type: 'string', description: 'kubeconfig file (default: KUBECONFIG or ~/.kube/config)' },
    context: { key: 'context', type: 'string', description: "kubeconfig context (default: the kubeconfig's current one)" },
    namespace: { key: 'namespace', type: 'string', description: 'namespace the run Jobs go to' },
    registry: { key: 'registry', type: 'string', description: 'registry images are pushed to and the nodes pull from' },
    ...dataStagingFlags,
    'data-cache-claim': { key: 'dataCacheClaim', type: 'string', description: 'PersistentVolumeClaim where pods keep fetched data objects across runs (default: none, each run fetches its own)' },
  },
  describe: (config) => `${config.context ?? 'current context'}/${config.namespace}, registry ${config.registry}`,
  create: async (config, hooks) => {
    const [{ KubernetesBackend }, { dockerClient }] = await Promise.all([import('./kubernetes-backend.js'), import('../../images/engine.js')]);
    return new KubernetesBackend(config, dockerClient(), hooks);
  },
});

