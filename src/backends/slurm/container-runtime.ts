import { SECRETS_MOUNT } from '../../config/project-secrets.js';
import { PROJECT_MOUNT } from '../types.js';
import { shellCommand, shellQuote } from '../../shell-quote.js';

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
  /**
   * Shell command pulling `reference` (repo@sha256:…) from its registry on the cluster into the
   * image at `dest`, with `scratch` for the runtime's own storage, failing unless the image pulled
   * has the recorded id `configHex` (the sha256 of its config, as Docker names images). With
   * `auth`, the credentials are in the environment as REGISTRY_USERNAME / REGISTRY_PASSWORD.
   */
  pullCommand(reference: string, dest: string, scratch: string, auth: boolean, configHex: string): string;
  /**
   * Shell command running argv in `cwd` in the image, with the run's project directory at
   * /project; `envNames` are the variables the batch script exported for the job; `secretsDir`
   * (the run's secrets on the cluster) is bound at /run/secrets, read-only where the runtime can.
   */
  runCommand(image: string, projectDir: string, argv: string[], gpus: number, cwd?: string, envNames?: string[], secretsDir?: string, readOnly?: ReadOnlyBind[]): string;
}

/** A cluster path the job sees read-only at `target` in the container (a tracked folder's tree at its project path). */
export interface ReadOnlyBind {
  source: string;
  target: string;
}

/** In a fresh mount namespace: each path before `--` bound onto itself read-only, then the arguments after it run. */
const READ_ONLY_BINDS = 'while [ "$1" != -- ]; do mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" || exit 1; shift; done; shift; exec "$@"';

/** Beside `<images>/<digest>`: the same image with the node's NVIDIA libraries injected, for GPU jobs. */
export const NVIDIA_SUFFIX = '-nvidia';

/**
 * Makes `$1-nvidia` (from the directory image $1) unless it exists, on the compute node: the
 * site's NVIDIA libraries are there, not on the login node. A copy under a unique temporary name
 * gets `ch-fromhost --nvidia` (which asks `nvidia-container-cli list` what to inject and runs the
 * image's /sbin/ldconfig), then is renamed into place in one step; a job that lost the race drops
 * its copy and uses the winner's. Any failure exits 125 (Docker's "the runtime could not start the
 * container") with one line saying what failed and the fix, and leaves no copy behind.
 */
const WITH_NVIDIA = `dst="$1${NVIDIA_SUFFIX}"
[ -d "$dst" ] && exit 0
tmp=
drop() { [ -z "$tmp" ] || { chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"; }; }
fail() { echo "reprise: $1; or use runtime apptainer, which passes --nv" >&2; drop; exit 125; }
trap 'drop; exit 143' TERM INT HUP
node=$(hostname -s 2>/dev/null || hostname)
nvidia-container-cli list --binaries --libraries >/dev/null 2>&1 || fail "node $node lacks the NVIDIA container libraries ('nvidia-container-cli list' failed): install libnvidia-container on the GPU nodes"
tmp=$(mktemp -d "$dst.tmp-XXXXXX") || fail "cannot make a copy of $1 for the GPU libraries beside it"
out=$(cp -a "$1/." "$tmp" 2>&1) || fail "cannot copy $1 to inject the GPU libraries: $(printf '%s' "$out" | tail -n 1)"
out=$(ch-fromhost --nvidia "$tmp" 2>&1) || fail "ch-fromhost --nvidia failed on node $node ($(printf '%s' "$out" | tail -n 1)): the image needs /sbin/ldconfig (a glibc image such as Debian's) and the node working NVIDIA container libraries"
mv -T "$tmp" "$dst" 2>/dev/null && exit 0
drop
[ -d "$dst" ] || fail "cannot rename the GPU copy of $1 into place"`;

/**
 * Charliecloud: an unpacked directory image, run unprivileged by `ch-run`. Proven on the test
 * cluster; GPU jobs (WITH_NVIDIA) against fake NVIDIA container libraries only (test/infra/slurm):
 * not proven with real NVIDIA libraries, nor CUDA in the container.
 */
export const charliecloud: ContainerRuntime = {
  name: 'charliecloud',
  versionCommand: ['ch-run', '--version'],
  exportFormat: 'filesystem',
  imagePath: (imagesDir, digestHex) => `${imagesDir}/${digestHex}`,
  // ch-run binds onto existing directories only: make the mount point in the image.
  convertCommand: (tar, dest) => `ch-convert -i tar -o dir ${shellQuote(tar)} ${shellQuote(dest)} && mkdir -p ${shellQuote(dest + PROJECT_MOUNT)}`,
  // ch-image pulls (HTTPS only; --no-cache: its git build cache is for builds) into its own storage;
  // ch-convert unpacks it as a directory image
  // (ch/environment included) and the storage copy is dropped: the converted image is the cache.
  // ch-image keeps the config it downloaded as dlcache/<its sha256>.json: that file, hashed again, is the image's id.
  pullCommand: (reference, dest, scratch, auth, configHex) => {
    const store = `CH_IMAGE_STORAGE=${shellQuote(scratch)}`;
    const creds = auth ? 'CH_IMAGE_USERNAME="$REGISTRY_USERNAME" CH_IMAGE_PASSWORD="$REGISTRY_PASSWORD" ' : '';
    const ref = shellQuote(reference);
    const verify = isPulled(`${scratch}/dlcache/${configHex}.json`, reference, configHex);
    return (
      `${creds}${store} ch-image --no-cache pull ${auth ? '--auth ' : ''}${ref} && ${verify} && ${store} ch-convert -i ch-image -o dir ${ref} ${shellQuote(dest)}` +
      ` && mkdir -p ${shellQuote(dest + PROJECT_MOUNT)}; rc=$?; rm -rf ${shellQuote(scratch)}; exit $rc`
    );
  },
  // --set-env (no argument) applies the image's ENV from ch/environment. A GPU job runs the
  // image's `-nvidia` variant instead (WITH_NVIDIA: the node's NVIDIA libraries injected by
  // ch-fromhost, made on the node since the login node lacks them, once per digest).
  // Charliecloud 0.31 binds read-write (and onto existing directories only: the mount point is
  // made in the image; images converted before secrets existed lack it). The secrets are made
  // read-only by the kernel instead: ch-run starts in a user and mount namespace of its own
  // (`unshare -rm`, which Charliecloud's own unprivileged user namespaces already need) where the
  // secrets folder is bound onto itself read-only; ch-run's bind of it is then read-only too, and
  // locked so (a mount inherited into a less privileged user namespace cannot be remounted
  // read-write), so neither a write nor a chmod of /run/secrets/NAME can succeed, whatever the
  // file modes (0400 in a 0500 folder, slurm-backend.ts). `--uid`/`--gid` keep the job's ids
  // (it would be root in the outer namespace otherwise; its files stay the user's on the host).
  // A tracked folder's tree is made read-only the same way; its mount point is in the project
  // directory (made when it was staged), bound after the project so it lands inside it.
  runCommand: (plainImage, projectDir, argv, gpus, cwd = PROJECT_MOUNT, _envNames, secretsDir, readOnly = []) => {
    const image = gpus > 0 ? `${plainImage}${NVIDIA_SUFFIX}` : plainImage;
    const prepare = gpus > 0 ? `${shellCommand(['sh', '-c', WITH_NVIDIA, 'reprise-nvidia', plainImage])} && ` : '';
    const binds = [...(secretsDir ? ['-b', `${secretsDir}:${SECRETS_MOUNT}`] : []), ...readOnly.flatMap((b) => ['-b', `${b.source}:${b.target}`])];
    const run = ['--set-env', '-b', `${projectDir}:${PROJECT_MOUNT}`, ...binds, '-c', cwd, image, '--', ...viaShell(argv)];
    const sources = [...(secretsDir ? [secretsDir] : []), ...readOnly.map((b) => b.source)];
    if (!sources.length) return prepare + shellCommand(['ch-run', ...run]);
    return (
      prepare +
      (secretsDir ? `mkdir -p ${shellQuote(image + SECRETS_MOUNT)} && ` : '') +
      `${shellCommand(['unshare', '-rm', 'sh', '-c', READ_ONLY_BINDS, 'reprise-read-only', ...sources, '--'])} ch-run --uid "$(id -u)" --gid "$(id -g)" ${shellCommand(run)}`
    );
  },
};

/**
 * Apptainer (formerly Singularity): a SIF file built from `docker save`'s archive.
 * Proven on the test cluster with Apptainer 1.4.1 built from source, unprivileged
 * (test/infra/apptainer-install.sh, test/integration/slurm/apptainer.test.ts): build from
 * `docker save`'s archive, exec with the bind and --pwd, exit 127 for a missing command, and the
 * registry pull (`docker://`, HTTPS with the site CA from the login node's system trust store):
 * the recorded image cached, another image refused. Not proven: `--nv`.
 */
export const apptainer: ContainerRuntime = {
  name: 'apptainer',
  versionCommand: ['apptainer', '--version'],
  exportFormat: 'docker-archive',
  imagePath: (imagesDir, digestHex) => `${imagesDir}/${digestHex}.sif`,
  convertCommand: (tar, dest) => shellCommand(['apptainer', 'build', dest, `docker-archive:${tar}`]),
  // Apptainer's OCI blob cache holds the config it pulled under its sha256 (proven on the test cluster, 1.4.1).
  pullCommand: (reference, dest, scratch, auth, configHex) =>
    `${auth ? 'APPTAINER_DOCKER_USERNAME="$REGISTRY_USERNAME" APPTAINER_DOCKER_PASSWORD="$REGISTRY_PASSWORD" ' : ''}APPTAINER_CACHEDIR=${shellQuote(scratch)} ` +
    `${shellCommand(['apptainer', 'build', dest, `docker://${reference}`])} && ${isPulled(`${scratch}/cache/blob/blobs/sha256/${configHex}`, reference, configHex)}` +
    `; rc=$?; rm -rf ${shellQuote(scratch)}; exit $rc`,
  // Contained: --containall gives an empty private home, /tmp and /dev, its own PID and IPC
  // namespaces and a clean environment (only the job's variables, passed as APPTAINERENV_*), and
  // nothing of the host is bound but the run's own project directory (and its secrets, read-only).
  runCommand: (image, projectDir, argv, gpus, cwd = PROJECT_MOUNT, envNames = [], secretsDir, readOnly = []) =>
    envNames.map((name) => `APPTAINERENV_${name}="$${name}" `).join('') +
    shellCommand([
      'apptainer', 'exec',
      '--containall',
      '--bind', `${projectDir}:${PROJECT_MOUNT}`,
      ...(secretsDir ? ['--bind', `${secretsDir}:${SECRETS_MOUNT}:ro`] : []),
      ...readOnly.flatMap((b) => ['--bind', `${b.source}:${b.target}:ro`]),
      '--pwd', cwd,
      ...(gpus > 0 ? ['--nv'] : []),
      image, ...viaShell(argv),
    ]),
};

/**
 * Shell test: `config` (the runtime's copy of the pulled image's config) exists and hashes to
 * `configHex`, else a one-line reason on stderr. A reference naming another image than the
 * record's is never installed under the record's digest.
 */
const isPulled = (config: string, reference: string, configHex: string) =>
  `{ test "$(sha256sum < ${shellQuote(config)} 2>/dev/null | cut -c1-64)" = ${shellQuote(configHex)} || { echo ${shellQuote(`reprise: ${reference} is not the recorded image sha256:${configHex}`)} >&2; false; }; }`;

/**
 * The user's argv behind `sh -c 'exec "$@"'` (never pasted into the script): a command the
 * image lacks exits 127 and one it cannot execute 126, as on Docker and Kubernetes, instead of
 * the runtime's own exit code 1.
 */
const viaShell = (argv: string[]) => ['sh', '-c', 'exec "$@"', 'reprise-run', ...argv];

export const containerRuntimes = { charliecloud, apptainer } as const;
