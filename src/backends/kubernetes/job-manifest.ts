import type { V1Job, V1ResourceRequirements } from '@kubernetes/client-node';
import { createHash } from 'node:crypto';
import { SECRETS_MOUNT } from '../../config/project-secrets.js';
import type { Resources } from '../../config/resources.js';
import { badInput } from '../../errors.js';
import { jobWorkdir, PROJECT_MOUNT, type DataMount, type JobSpec } from '../types.js';
import { DEFAULT_GPU_RESOURCE } from './config.js';

export const MANAGED_BY = 'reprise';
export const RUN_ID_LABEL = 'reprise.run/id';
export const INIT_CONTAINER = 'sources';
export const MAIN_CONTAINER = 'run';
export const PROJECT_DIR = PROJECT_MOUNT;
/** Files the pod and the backend use to hand over: sources arrived, command ended, outputs taken. */
export const READY_FILE = `${PROJECT_DIR}/.reprise-ready`;
export const EXIT_FILE = `${PROJECT_DIR}/.reprise-exit`;
export const COLLECTED_FILE = `${PROJECT_DIR}/.reprise-collected`;
/** Why the backend stopped the command (timeout | cancel), written before it kills it. */
export const STOP_FILE = `${PROJECT_DIR}/.reprise-stop`;

/**
 * Where the data cache claim (`dataCacheClaim`) is mounted whole: in the init container only,
 * which fills it; the command's container mounts only the trees and objects it reads, read-only.
 */
export const DATA_CACHE_DIR = '/reprise-data-cache';
export const DATA_CACHE_VOLUME = 'data-cache';

/** Where small sources arrive as a ConfigMap (the init container unpacks them from there), and their key. */
export const SOURCES_CONFIG_DIR = '/reprise-sources';
export const SOURCES_KEY = 'sources.tar';
/** How long the init container waits for the sources before the pod fails. */
export const SOURCES_WAIT_SECONDS = 1800;
/** activeDeadlineSeconds = the run's time limit + this, for staging and collecting. */
export const DEADLINE_SLACK_SECONDS = 900;
/** A finished Job the worker never cleaned up (it died) is removed by the cluster after a day. */
export const FINISHED_TTL_SECONDS = 86_400;
/**
 * Images built FROM busybox or Debian run as root unless told: the pod runs as this uid instead
 * (the `restricted` Pod Security Standard), its emptyDir group-owned by the same gid (fsGroup).
 */
export const RUN_AS_ID = 1000;

/** The `restricted` Pod Security Standard, pod level: a non-root uid, the runtime's default seccomp profile. */
const POD_SECURITY = {
  runAsNonRoot: true,
  runAsUser: RUN_AS_ID,
  runAsGroup: RUN_AS_ID,
  fsGroup: RUN_AS_ID,
  seccompProfile: { type: 'RuntimeDefault' },
};
/** ...and per container: no privilege escalation, no capability. */
const CONTAINER_SECURITY = { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } };

/**
 * The init container waits for the worker's upload, which usually lands within its first seconds:
 * it looks every 0.1 s for the first 2 s, then every second. A `sleep` without fractions (POSIX
 * asks only for whole seconds) fails on 0.1 and sleeps 1 instead; one that returned at once would
 * only make those first 20 looks quick, never shorten the wait before giving up.
 */
export const WAIT_FOR_SOURCES = `i=0; while [ ! -e ${READY_FILE} ]; do i=$((i+1)); if [ "$i" -gt ${SOURCES_WAIT_SECONDS + 20} ]; then echo "reprise: the sources never arrived" >&2; exit 1; fi; if [ "$i" -le 20 ]; then sleep 0.1 2>/dev/null || sleep 1; else sleep 1; fi; done`;
/**
 * The kubelet makes a subPath that does not exist an empty directory when the command's container
 * starts: the init container ends only once every tree (a directory) and object (a file) the
 * command mounts is in the claim, else it fails the pod and the job never sees an empty input.
 */
const CHECK_DATA_MOUNTS = `for s; do case "$s" in trees/*) [ -d "${DATA_CACHE_DIR}/$s" ];; *) [ -f "${DATA_CACHE_DIR}/$s" ];; esac || { echo "reprise: the tracked input $s is not in the data cache claim" >&2; exit 1; }; done`;
/** Sources that came in the pod's ConfigMap need no waiting: unpacked at once, then marked ready as an upload would. */
const UNPACK_SOURCES = `tar -x -o -f ${SOURCES_CONFIG_DIR}/${SOURCES_KEY} -C ${PROJECT_DIR} && touch ${READY_FILE}`;
// The user's argv arrives as "$@": it is never pasted into the script.
const RUN_AND_WAIT_FOR_COLLECTION = `"$@"; rc=$?; echo $rc > ${EXIT_FILE}; while [ ! -e ${COLLECTED_FILE} ]; do sleep 1; done; exit $rc`;

/** A valid DNS-1123 label (at most 52 characters, so pod names derived from it stay valid). */
export function jobName(runId: string): string {
  const base = `reprise-${runId.toLowerCase()}`.replace(/[^a-z0-9-]+/g, '-').replace(/-+/g, '-').replace(/-$/, '');
  if (base.length <= 52 && base === `reprise-${runId}`) return base;
  // Lowercasing or replacing characters could make two run ids collide: keep them apart by hash.
  const hash = createHash('sha256').update(runId).digest('hex').slice(0, 8);
  return `${base.slice(0, 43).replace(/-$/, '')}-${hash}`;
}

/** The Secret holding a run's secrets (made by the backend beside its Job), mounted read-only at /run/secrets. */
export const secretsName = (jobName: string) => `${jobName}-secrets`;
/** The ConfigMap holding a run's sources archive when it is small (made by the backend beside its Job). */
export const sourcesConfigMapName = (jobName: string) => `${jobName}-sources`;

export interface ManifestOptions {
  namespace: string;
  /** A PersistentVolumeClaim that keeps fetched data objects across runs (the backend's `dataCacheClaim`), for a run that has tracked data. */
  dataCacheClaim?: string;
  /**
   * With the claim: tracked inputs the command reads from it in place, each a read-only subPath
   * mount at its project path (`source` relative to the claim: a folder's tree or an object).
   */
  dataMounts?: DataMount[];
  /** The sources come in this ConfigMap (key SOURCES_KEY) instead of by upload into the waiting init container. */
  sourcesConfigMap?: string;
  /** The extended resource a GPU is; default nvidia.com/gpu. */
  gpuResource?: string;
  /** GPU type → the node labels that select its nodes (the backend's `gpuTypes`). */
  gpuTypes?: Record<string, Record<string, string>>;
}

/**
 * The nodeSelector of a request for GPUs of a type: the labels the backend maps the type to.
 * A type the backend does not map is the user's to fix, said in one line before anything is made.
 */
export function gpuNodeSelector(r: Pick<Resources, 'gpus' | 'gpuType'>, gpuTypes: ManifestOptions['gpuTypes']): Record<string, string> | undefined {
  if (!r.gpus || !r.gpuType) return undefined;
  const labels = gpuTypes?.[r.gpuType];
  if (labels) return labels;
  const known = Object.keys(gpuTypes ?? {});
  throw badInput(
    `--gpus ${r.gpuType}:${r.gpus}: this Kubernetes backend maps no GPU type "${r.gpuType}" to nodes (${known.length ? `its types: ${known.join(', ')}` : 'it has no gpuTypes'}); ask for ${known.length ? 'one of those' : 'GPUs without a type (--gpus N)'} or add the type with \`reprise backend add … --gpu-type ${r.gpuType}=LABEL=VALUE\``,
  );
}

/** The batch/v1 Job that runs one JobSpec; a pure function of its input. */
export function jobManifest(job: JobSpec, options: ManifestOptions): V1Job {
  const name = jobName(job.runId);
  const labels = { 'app.kubernetes.io/managed-by': MANAGED_BY, [RUN_ID_LABEL]: name.slice('reprise-'.length) };
  const resources = resourceRequirements(job, options.gpuResource ?? DEFAULT_GPU_RESOURCE);
  const nodeSelector = gpuNodeSelector(job.resources, options.gpuTypes);
  const securityContext = CONTAINER_SECURITY;
  // HOME=/tmp: an image's own /tmp may be root's (busybox) and the pod runs as uid 1000.
  const volumeMounts = [
    { name: 'project', mountPath: PROJECT_DIR },
    { name: 'tmp', mountPath: '/tmp' },
  ];
  // Only the command's container sees the secrets; the files are group-readable by fsGroup, nobody else's.
  const secretMounts = job.secrets?.length ? [{ name: 'secrets', mountPath: SECRETS_MOUNT, readOnly: true }] : [];
  const claim = options.dataCacheClaim;
  const cacheMount = claim ? [{ name: DATA_CACHE_VOLUME, mountPath: DATA_CACHE_DIR }] : [];
  const dataMounts = claim ? (options.dataMounts ?? []) : [];
  const inputMounts = dataMounts.map((m) => ({ name: DATA_CACHE_VOLUME, mountPath: `${PROJECT_DIR}/${m.path}`, subPath: m.source, readOnly: true }));
  const timeSeconds = job.resources.timeSeconds;
  const sourcesMap = options.sourcesConfigMap;
  const getSources = sourcesMap ? UNPACK_SOURCES : WAIT_FOR_SOURCES;
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, namespace: options.namespace, labels },
    spec: {
      backoffLimit: 0,
      ttlSecondsAfterFinished: FINISHED_TTL_SECONDS,
      ...(timeSeconds ? { activeDeadlineSeconds: timeSeconds + DEADLINE_SLACK_SECONDS } : {}),
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: 'Never',
          // The pod only waits (for sources, for collection) when it is deleted: no need for 30 s.
          terminationGracePeriodSeconds: 5,
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          securityContext: POD_SECURITY,
          ...(nodeSelector ? { nodeSelector: { ...nodeSelector } } : {}),
          volumes: [
            { name: 'project', emptyDir: {} },
            { name: 'tmp', emptyDir: {} },
            ...(job.secrets?.length ? [{ name: 'secrets', secret: { secretName: secretsName(name), defaultMode: 0o440 } }] : []),
            ...(claim ? [{ name: DATA_CACHE_VOLUME, persistentVolumeClaim: { claimName: claim } }] : []),
            ...(sourcesMap ? [{ name: 'sources', configMap: { name: sourcesMap, defaultMode: 0o444 } }] : []),
          ],
          initContainers: [
            {
              name: INIT_CONTAINER,
              image: job.staged.image,
              imagePullPolicy: 'IfNotPresent',
              command: dataMounts.length ? ['sh', '-c', `${getSources} && ${CHECK_DATA_MOUNTS}`, 'sh', ...dataMounts.map((m) => m.source)] : ['sh', '-c', getSources],
              volumeMounts: [...volumeMounts, ...cacheMount, ...(sourcesMap ? [{ name: 'sources', mountPath: SOURCES_CONFIG_DIR, readOnly: true }] : [])],
              // Its last lines (tar's complaint, a missing input) become the reason the run failed.
              terminationMessagePolicy: 'FallbackToLogsOnError',
              securityContext,
            },
          ],
          containers: [
            {
              name: MAIN_CONTAINER,
              image: job.staged.image,
              imagePullPolicy: 'IfNotPresent',
              command: ['sh', '-c', RUN_AND_WAIT_FOR_COLLECTION, 'reprise-run', ...job.command],
              workingDir: jobWorkdir(job),
              env: Object.entries({ HOME: '/tmp', ...job.env, REPRISE_RUN_ID: job.runId }).map(([n, value]) => ({ name: n, value })),
              ...(resources ? { resources } : {}),
              volumeMounts: [...volumeMounts, ...inputMounts, ...secretMounts],
              securityContext,
            },
          ],
        },
      },
    },
  };
}

function resourceRequirements(job: JobSpec, gpuResource: string): V1ResourceRequirements | undefined {
  const r = job.resources;
  const amounts: Record<string, string> = {};
  if (r.cpus) amounts.cpu = `${Math.max(1, Math.round(r.cpus * 1000))}m`;
  if (r.memoryBytes) amounts.memory = String(r.memoryBytes);
  if (r.gpus) amounts[gpuResource] = String(r.gpus);
  // Requests equal limits: the run gets what it asked for, no more (GPUs cannot be overcommitted).
  return Object.keys(amounts).length ? { requests: { ...amounts }, limits: { ...amounts } } : undefined;
}
