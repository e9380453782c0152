import type Docker from 'dockerode';
import { badInput } from '../errors.js';
import { buildEnvironmentImage, inspectImage, type BuildProgress } from '../images/build.js';
import type { BuildTrust } from '../images/build-trust.js';
import { pingEngine } from '../images/engine.js';
import type { ImageRef } from '../images/types.js';
import { labApp } from './apps/index.js';
import { LAB_LABEL } from './apps/jupyterlab/index.js';
import type { LabAppName } from './apps/types.js';

/**
 * The lab image: the lab's app (JupyterLab, VS Code, …: src/lab/apps/) on top of a project
 * image. It is an image of its own, derived FROM the project image's id, so the project image
 * and its environment hash never change; it is named after that id and what it adds, and
 * reused when present.
 */

export { JUPYTERLAB_VERSION, LAB_ASSETS, LAB_ASSETS_DIR, LAB_LABEL, LAB_START, R_KERNELSPEC_SH, labDockerfile, labHash, readLabAssets } from './apps/jupyterlab/index.js';

export interface LabImageOptions {
  /** The app to install (default: JupyterLab). */
  app?: LabAppName;
  trust?: BuildTrust;
  onProgress?: (p: BuildProgress) => void;
  onOutput?: (line: string) => void;
}

export function labImageTag(baseId: string, hash: string): string {
  return `reprise-lab/${baseId.replace(/^sha256:/, '').slice(0, 12)}:${hash.slice(0, 12)}`;
}

/**
 * Build (or reuse) the lab image of an app for a project image. A project image that lacks
 * what the app needs (python3, pip, RStudio Server) is refused in one line before anything is built.
 */
export async function buildLabImage(docker: Docker, base: ImageRef, options: LabImageOptions = {}): Promise<ImageRef> {
  await pingEngine(docker);
  const app = labApp(options.app ?? 'jupyterlab');
  const info = await inspectImage(docker, base.digest);
  if (!info) throw badInput(`the project image ${base.tag ?? base.digest} is not on this Docker engine; build it first with: reprise env build`);
  const recipe = await app.recipe(info.Config?.User ?? '');
  const tag = labImageTag(info.Id, recipe.hash);

  const present = await inspectImage(docker, tag);
  if (present?.Config?.Labels?.[LAB_LABEL] === recipe.hash) return { digest: present.Id, tag };

  await app.check(docker, info.Id, base.tag ?? base.digest);
  const built = await buildEnvironmentImage(docker, {
    tag,
    dockerfile: recipe.dockerfile(info.Id),
    base: info.Id,
    envHash: recipe.hash,
    label: LAB_LABEL,
    files: recipe.files,
    trust: options.trust,
    onProgress: options.onProgress,
    onOutput: options.onOutput,
    failureHint: recipe.failureHint,
  });
  return { digest: built.digest, tag: built.tag };
}
