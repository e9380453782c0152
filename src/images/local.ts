import type Docker from 'dockerode';
import { notFound } from '../errors.js';
import { imageExists } from './build.js';
import { describeEndpoint } from './engine.js';
import { pullImage } from './registry.js';
import type { OnTransfer } from './transfer-progress.js';
import type { ImageRef } from './types.js';

/**
 * Make sure `docker` holds the image: present already, else pulled by its registry digest (the
 * pulled image must carry the recorded id: a registry copy replaced since is refused), else a
 * clear error saying how to bring it. Backends that run or ship from an engine call this at stage.
 */
export async function ensureLocalImage(docker: Docker, image: ImageRef, onProgress?: OnTransfer): Promise<'present' | 'pulled'> {
  if (await imageExists(docker, image.digest)) return 'present';
  if (!image.reference) {
    throw notFound(
      `image ${image.digest} is not in the Docker engine at ${describeEndpoint(docker)} and was never pushed to a registry; rebuild it (reprise env build) or bring it with: reprise image import FILE (made by reprise image export where it is)`,
    );
  }
  await pullImage(docker, image.reference, onProgress);
  if (!(await imageExists(docker, image.digest))) {
    throw notFound(`${image.reference} was pulled but is not image ${image.digest}: the registry's copy was replaced since it was recorded`);
  }
  return 'pulled';
}
