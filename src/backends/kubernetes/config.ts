import { z } from 'zod';
import { registryUrl } from '../../config/names.js';
import { GPU_TYPE } from '../../config/resources.js';
import { dataStagingShape, runnableShape } from '../definition.js';

// A Kubernetes backend's settings in the user config. Apart from definition.ts, which loads the
// backend lazily: the backend's own files import these, and would close a circle through it.

export const DEFAULT_GPU_RESOURCE = 'nvidia.com/gpu';

/** A label key as Kubernetes takes it: [prefix/]name. */
const labelKey = z.string().regex(/^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/, 'must be a node label key such as nvidia.com/gpu.product');
const labelValue = z.string().regex(/^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/, 'must be a node label value (letters, digits, "-", "_", ".", at most 63)');

/**
 * `gpuTypes`: each GPU type a run may ask for (`--gpus a100:2`) → the node labels that pick its
 * nodes (the pod's nodeSelector), e.g. { a100: { "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB" } }.
 * `backend add` takes them as repeatable `--gpu-type TYPE=LABEL=VALUE`.
 */
const gpuTypes = z.preprocess(
  (v, ctx) => (Array.isArray(v) ? gpuTypesFromFlags(v, ctx) : v),
  z.record(
    z.string().regex(GPU_TYPE, 'GPU type names are lowercase (letters, digits, ".", "_", "-")'),
    z.record(labelKey, labelValue).refine((labels) => Object.keys(labels).length > 0, 'give at least one node label for the type'),
  ),
);

/** ["a100=nvidia.com/gpu.product=A100", …] → { a100: { "nvidia.com/gpu.product": "A100" } }. */
function gpuTypesFromFlags(entries: unknown[], ctx: z.RefinementCtx): unknown {
  const types: Record<string, Record<string, unknown>> = {};
  for (const entry of entries) {
    const m = typeof entry === 'string' ? /^([^=]+)=([^=]+)=([^=]*)$/.exec(entry) : null;
    if (!m) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `${JSON.stringify(entry)} must be TYPE=LABEL=VALUE, e.g. a100=nvidia.com/gpu.product=A100` });
      return z.NEVER;
    }
    (types[m[1]!] ??= {})[m[2]!] = m[3]!;
  }
  return types;
}

export const kubernetesSchema = z
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
    /** The extended resource a GPU is (the device plugin's name); default nvidia.com/gpu. */
    gpuResource: z
      .string()
      .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?\/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/, 'must be an extended resource name such as nvidia.com/gpu or amd.com/gpu')
      .optional(),
    gpuTypes: gpuTypes.optional(),
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

