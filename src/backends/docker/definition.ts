import { z } from 'zod';
import { defineBackend, runnableFlags, runnableShape } from '../definition.js';

const dockerSchema = z
  .object({
    kind: z.literal('docker'),
    /** Docker Engine API endpoint; default: DOCKER_HOST or the local socket. */
    socketPath: z.string().optional(),
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
  },
  describe: (config) => config.socketPath ?? 'DOCKER_HOST or the local socket',
  create: async (config) => {
    const [{ DockerBackend }, { dockerClient }] = await Promise.all([import('./docker-backend.js'), import('../../images/engine.js')]);
    return new DockerBackend(dockerClient(config.socketPath));
  },
});

