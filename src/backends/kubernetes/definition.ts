import { dataStagingFlags, defineBackend, runnableFlags } from '../definition.js';
import { DEFAULT_GPU_RESOURCE, kubernetesSchema } from './config.js';

export const kubernetesDefinition = defineBackend({
  kind: 'kubernetes',
  schema: kubernetesSchema,
  flags: {
    ...runnableFlags,
    kubeconfig: { key: 'kubeconfig', type: 'string', description: 'kubeconfig file (default: KUBECONFIG or ~/.kube/config)' },
    context: { key: 'context', type: 'string', description: "kubeconfig context (default: the kubeconfig's current one)" },
    namespace: { key: 'namespace', type: 'string', description: 'namespace the run Jobs go to' },
    registry: { key: 'registry', type: 'string', description: 'registry images are pushed to and the nodes pull from' },
    'gpu-resource': { key: 'gpuResource', type: 'string', description: `the resource a GPU is on the nodes (default ${DEFAULT_GPU_RESOURCE})` },
    'gpu-type': { key: 'gpuTypes', type: 'string', multiple: true, description: 'a GPU type --gpus TYPE:N may ask for and the node label that selects it: TYPE=LABEL=VALUE (repeatable)' },
    ...dataStagingFlags,
    'data-cache-claim': { key: 'dataCacheClaim', type: 'string', description: 'PersistentVolumeClaim where pods keep fetched data objects across runs (default: none, each run fetches its own)' },
  },
  describe: (config) =>
    `${config.context ?? 'current context'}/${config.namespace}, registry ${config.registry}${config.gpuTypes ? `, GPU types ${Object.keys(config.gpuTypes).join(' ')}` : ''}`,
  create: async (config, hooks) => {
    const [{ KubernetesBackend }, { dockerClient }] = await Promise.all([import('./kubernetes-backend.js'), import('../../images/engine.js')]);
    return new KubernetesBackend(config, dockerClient(), hooks);
  },
});

