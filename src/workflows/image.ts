import { patched } from '@temporalio/workflow';
import type { PreparedImage, RunInput } from '../activities/types.js';
import { build, prep } from './stubs.js';

/**
 * The image of a new run or sweep: found on the local engine or built, then pushed when the user
 * has a registry, so any machine can pull it by digest. Without a registry nothing is scheduled
 * for the push (a server round trip on the warm path of every run).
 */
export async function newRunImage(input: RunInput, sourceCommit: string): Promise<PreparedImage> {
  const image = (await prep.findImage(input, sourceCommit)) ?? (await build.buildImage(input, sourceCommit));
  // Histories from before the flag scheduled the push always (it returned at once without a registry).
  if (patched('push-only-with-registry-v1') && !image.unpublished) return image;
  return build.publishImage(input, image);
}
