import type Docker from 'dockerode';
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { badInput, notFound } from '../errors.js';
import { inspectImage } from './build.js';
import { pingEngine } from './engine.js';
import type { ImageRef } from './types.js';

/**
 * An image as a file (`docker save` format), for machines with no registry in common. Written
 * to a temporary name and renamed, so a failed export never leaves a truncated archive.
 */
export async function exportImageArchive(docker: Docker, image: ImageRef, file: string): Promise<{ bytes: number }> {
  await pingEngine(docker);
  const info = await inspectImage(docker, image.digest);
  if (!info) throw notFound(`image ${image.digest} is not in the local Docker engine; pull it (reprise rerun pulls recorded images from the registry) or rebuild it`);
  // Saved by tag when the engine still has it, so the name travels too; else by id.
  const name = image.tag && info.RepoTags?.includes(image.tag) ? image.tag : image.digest;
  const tmp = `${file}.${process.pid}.partial`;
  try {
    await pipeline((await docker.getImage(name).get()) as unknown as Readable, createWriteStream(tmp));
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'EACCES') {
      throw badInput(`cannot write ${file}: ${(err as Error).message}`);
    }
    throw err;
  }
  return { bytes: (await stat(file)).size };
}

/**
 * Load an archive made by exportImageArchive (or `docker save`); returns the image ids it held.
 * The images come by id only (runs name them by digest): a tag in the archive, such as a built
 * environment's `reprise/<project>:<hash>` whose label nothing here verified, is never kept.
 */
export async function importImageArchive(docker: Docker, file: string): Promise<string[]> {
  await pingEngine(docker);
  try {
    await stat(file);
  } catch {
    throw badInput(`no such file: ${file}`);
  }
  const tagsBefore = await tagsOf(docker);
  const ids = await loadArchive(docker, file);
  await undoPlantedTags(docker, tagsBefore, new Set(ids));
  return ids;
}

/** Name of the inert tag that keeps an imported image in the engine once its own tags are undone. */
export const importedTag = (id: string) => ({ repo: 'reprise-imported', tag: id.replace(/^sha256:/, '').slice(0, 12) });

async function tagsOf(docker: Docker): Promise<Map<string, string>> {
  const tags = new Map<string, string>();
  for (const image of await docker.listImages()) {
    for (const tag of image.RepoTags ?? []) if (tag !== '<none>:<none>') tags.set(tag, image.Id);
  }
  return tags;
}

/** Every tag the load made or moved onto an imported image goes back where it was, or away. */
async function undoPlantedTags(docker: Docker, before: Map<string, string>, imported: Set<string>): Promise<void> {
  for (const [tag, id] of await tagsOf(docker)) {
    if (!imported.has(id) || before.get(tag) === id) continue;
    await docker.getImage(id).tag(importedTag(id));
    const previous = before.get(tag);
    const colon = tag.lastIndexOf(':');
    if (previous) await docker.getImage(previous).tag({ repo: tag.slice(0, colon), tag: tag.slice(colon + 1) });
    else await docker.getImage(tag).remove({ noprune: true });
  }
}

async function loadArchive(docker: Docker, file: string): Promise<string[]> {
  let output = '';
  let failure: string | undefined;
  try {
    const response = (await docker.loadImage(createReadStream(file), { quiet: true })) as unknown as Readable;
    for await (const chunk of response) output += String(chunk);
  } catch (err) {
    failure = (err as Error).message;
  }
  const lines = output.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { stream?: string; error?: string });
  failure ??= lines.find((l) => l.error)?.error;
  if (failure) throw badInput(`${file} is not an image archive the engine can load (${failure.split('\n')[0]!.slice(0, 160)}); make one with: reprise image export RUN FILE`);
  const ids: string[] = [];
  for (const { stream } of lines) {
    const m = /Loaded image(?: ID)?: (\S+)/.exec(stream ?? '');
    if (m) ids.push(m[1]!.startsWith('sha256:') ? m[1]! : (await docker.getImage(m[1]!).inspect()).Id);
  }
  return ids;
}
