import type Docker from 'dockerode';
import { execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { notFound } from '../errors.js';
import { inspectImage } from './build.js';
import type { ImageRef } from './types.js';

const run = promisify(execFile);

/**
 * The image as a tar the cluster's runtime can convert, written to `tarPath` from the local
 * Docker engine. 'filesystem': a created container's flattened filesystem (`docker export`)
 * plus `ch/environment` with the image's ENV lines, exactly what `ch-convert -i docker` makes;
 * 'docker-archive': `docker save`'s layered archive (what `apptainer build docker-archive:` reads).
 */
export async function exportImage(docker: Docker, image: ImageRef, format: 'filesystem' | 'docker-archive', tarPath: string): Promise<void> {
  const info = await inspectImage(docker, image.digest);
  if (!info) throw notFound(`image ${image.digest} is not in the local Docker engine; rebuild it with: reprise env build`);
  if (format === 'docker-archive') {
    const archive = (await docker.getImage(image.tag ?? image.digest).get()) as unknown as Readable;
    await pipeline(archive, createWriteStream(tarPath));
    return;
  }
  // Never started: a command is only needed because the engine refuses to create without one.
  const container = await docker.createContainer({ Image: image.digest, Entrypoint: ['/bin/true'], Cmd: [], Labels: { 'org.reprise.export': image.digest } });
  try {
    await pipeline((await container.export()) as unknown as Readable, createWriteStream(tarPath));
  } finally {
    await container.remove({ force: true }).catch(() => undefined);
  }
  const extra = join(tarPath + '.d');
  await mkdir(join(extra, 'ch'), { recursive: true });
  await writeFile(join(extra, 'ch', 'environment'), (info.Config.Env ?? []).map((line) => `${line}\n`).join(''));
  await run('tar', ['-rf', tarPath, '-C', extra, 'ch/environment']);
}
