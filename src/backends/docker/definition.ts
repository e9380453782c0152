import { z } from 'zod';
import { defineBackend, runnableFlags, runnableShape } from '../definition.js';
import { DEFAULT_PIDS_LIMIT } from './hardening.js';

const dockerSchema = z
  .object({
    kind: z.literal('docker'),
    /** Docker Engine API endpoint; default: DOCKER_HOST or the local socket. */
    socketPath: z.string().optional(),
    /** Processes and threads one run's container may hold at once (a fork bomb stops there). */
    pidsLimit: z
      .number({ invalid_type_error: 'must be a whole number of processes, 16 to 4194304' })
      .int('must be a whole number of processes, 16 to 4194304')
      .min(16, 'must be a whole number of processes, 16 to 4194304')
      .max(4194304, 'must be a whole number of processes, 16 to 4194304')
      .optional(),
    ...runnableShape,
  })
  .strict();
export type DockerConfig = z.output<typeof dockerSchema>;

export const dockerDefinition = defineBackend({
  kind: 'docker',
  schema: dockerSchema,
  flags: {
    ...runnableFlags,
    socket: { key: 'socketPath', type: 'string', description: 'Docker Engine API socket (default: DOCKER_HOST or /var/run/docker.sock)' },
    'pids-limit': { key: 'pidsLimit', type: 'integer', min: 16, max: 4194304, description: `processes a run's container may hold at once (default ${DEFAULT_PIDS_LIMIT})` },
  },
  describe: (config) => config.socketPath ?? 'DOCKER_HOST or the local socket',
  create: async (config) => {
    const [{ DockerBackend }, { dockerClient }] = await Promise.all([import('./docker-backend.js'), import('../../images/engine.js')]);
    return new DockerBackend(dockerClient(config.socketPath), { pidsLimit: config.pidsLimit });
  },
});

