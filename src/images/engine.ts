import Docker from 'dockerode';
import { backendUnavailable } from '../errors.js';

/** A Docker Engine API client: the configured socket, else DOCKER_HOST, else the local socket. */
export function dockerClient(socketPath?: string): Docker {
  return socketPath ? new Docker({ socketPath }) : new Docker();
}

export function describeEndpoint(docker: Docker): string {
  const m = docker.modem as unknown as { socketPath?: unknown; host?: string; port?: number };
  if (typeof m.socketPath === 'string') return m.socketPath;
  if (m.host) return `${m.host}:${m.port}`;
  return process.env.DOCKER_HOST ?? '/var/run/docker.sock'; // the modem resolves its default lazily

}

export function statusCode(err: unknown): number | undefined {
  return (err as { statusCode?: number }).statusCode;
}

/** True for errors that mean "the engine is not there" rather than "the request was bad". */
export function isConnectionError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return ['ECONNREFUSED', 'ENOENT', 'EACCES', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'EPIPE'].includes(code ?? '');
}

export async function pingEngine(docker: Docker): Promise<string> {
  try {
    const v = await docker.version();
    return v.Version;
  } catch (err) {
    throw backendUnavailable(
      `Docker engine unreachable at ${describeEndpoint(docker)} (${(err as Error).message.split('\n')[0]}); start Docker or set DOCKER_HOST`,
      err,
    );
  }
}
