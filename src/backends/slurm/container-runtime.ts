import { PROJECT_MOUNT } from '../types.js';
import { shellCommand, shellQuote } from './shell-quote.js';

/**
 * What runs the image on the compute node (Nextflow's container builders): how the image is
 * shipped and converted once per digest, and the command line that runs a job in it.
 */
export interface ContainerRuntime {
  readonly name: 'charliecloud' | 'apptainer';
  /** argv printing the runtime's version on the cluster. */
  readonly versionCommand: string[];
  /** What the local Docker engine must produce: a flattened filesystem or `docker save`'s archive. */
  readonly exportFormat: 'filesystem' | 'docker-archive';
  /** Where the converted image lives in `<workdir>/images/`. */
  imagePath(imagesDir: string, digestHex: string): string;
  /** Shell command turning the uploaded tar into the image at `dest` (a fresh temporary path). */
  convertCommand(tar: string, dest: string): string;
  /** Shell command running argv in `cwd` in the image, with the run's project directory at /project. */
  runCommand(image: string, projectDir: string, argv: string[], gpus: number, cwd?: string): string;
}

/** Charliecloud: an unpacked directory image, run unprivileged by `ch-run`. Proven on the test cluster. */
export const charliecloud: ContainerRuntime = {
  name: 'charliecloud',
  versionCommand: ['ch-run', '--version'],
  exportFormat: 'filesystem',
  imagePath: (imagesDir, digestHex) => `${imagesDir}/${digestHex}`,
  // ch-run binds onto existing directories only: make the mount point in the image.
  convertCommand: (tar, dest) => `ch-convert -i tar -o dir ${shellQuote(tar)} ${shellQuote(dest)} && mkdir -p ${shellQuote(dest + PROJECT_MOUNT)}`,
  // --set-env (no argument) applies the image's ENV from ch/environment; GPUs need no flag
  // (ch-fromhost --nvidia is an image-preparation step a site does, not a run option).
  runCommand: (image, projectDir, argv, _gpus, cwd = PROJECT_MOUNT) =>
    shellCommand(['ch-run', '--set-env', '-b', `${projectDir}:${PROJECT_MOUNT}`, '-c', cwd, image, '--', ...viaShell(argv)]),
};

/**
 * Apptainer (formerly Singularity): a SIF file built from `docker save`'s archive.
 * NOT TESTED HERE: Apptainer cannot be installed on the machines this project is tested on;
 * this follows its documented CLI (`apptainer build X.sif docker-archive:IMG.tar`,
 * `apptainer exec --bind SRC:DST --pwd DIR [--nv] X.sif CMD`).
 */
export const apptainer: ContainerRuntime = {
  name: 'apptainer',
  versionCommand: ['apptainer', '--version'],
  exportFormat: 'docker-archive',
  imagePath: (imagesDir, digestHex) => `${imagesDir}/${digestHex}.sif`,
  convertCommand: (tar, dest) => shellCommand(['apptainer', 'build', dest, `docker-archive:${tar}`]),
  runCommand: (image, projectDir, argv, gpus, cwd = PROJECT_MOUNT) =>
    shellCommand([
      'apptainer', 'exec',
      '--bind', `${projectDir}:${PROJECT_MOUNT}`,
      '--pwd', cwd,
      ...(gpus > 0 ? ['--nv'] : []),
      image, ...viaShell(argv),
    ]),
};

/**
 * The user's argv behind `sh -c 'exec "$@"'` (never pasted into the script): a command the
 * image lacks exits 127 and one it cannot execute 126, as on Docker and Kubernetes, instead of
 * the runtime's own exit code 1.
 */
const viaShell = (argv: string[]) => ['sh', '-c', 'exec "$@"', 'reprise-run', ...argv];

export const containerRuntimes = { charliecloud, apptainer } as const;
