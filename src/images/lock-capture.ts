import type Docker from 'dockerode';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { paths } from '../config/env.js';
import { inspectImage } from './build.js';
import { UNKNOWN_BASE, lockManagers, renderLock, type LockManager } from './lock.js';

/** What the lock says beside the image's own contents. */
export interface LockContext {
  /** The base image as the spec names it. */
  base: string;
  /** specHash of the spec the image was built for. */
  environment: string;
  /** Lines for the [build] section, written verbatim (see buildTrustNotes). */
  buildNotes?: string[];
}

/**
 * Lists each manager's packages under a marker line. A tool the image lacks lists nothing, so
 * busybox-like images give empty sections. Python without pip: importlib.metadata gives the
 * same names and versions as pip freeze.
 */
const CAPTURE_SCRIPT = [
  'echo "@apt"',
  "command -v dpkg-query >/dev/null 2>&1 && dpkg-query -W -f '${db:Status-Abbrev} ${binary:Package}=${Version}\\n'",
  'echo "@pip"',
  'if command -v python3 >/dev/null 2>&1; then',
  '  python3 -m pip freeze --all 2>/dev/null || python3 -c "import importlib.metadata as m',
  "for d in m.distributions(): print(d.metadata['Name'] + '==' + d.version)\" 2>/dev/null",
  'fi',
  'echo "@conda"',
  'command -v conda >/dev/null 2>&1 && conda list --export',
  'exit 0',
].join('\n');

/**
 * The lock of a local image: read from the per-image cache, else captured from the image and
 * cached. The cache is what keeps a reused image from starting a container on every run; the
 * first capture (right after the build) is also the one that knows the build's notes.
 */
export async function imageLock(docker: Docker, home: string, imageId: string, context: LockContext): Promise<string> {
  const file = paths.imageLock(home, imageId);
  const cached = await readFile(file, 'utf8').catch(() => undefined);
  if (cached !== undefined) return cached;
  const text = await captureLock(docker, imageId, context);
  await mkdir(dirname(file), { recursive: true });
  // Write then rename, so a concurrent reader never sees half a lock (a unique name: a worker captures concurrently).
  const partial = `${file}.${process.pid}-${Math.random().toString(36).slice(2)}.tmp`;
  await writeFile(partial, text);
  await rename(partial, file);
  return text;
}

/** Capture a lock by running the image once (no network), then removing the container. */
export async function captureLock(docker: Docker, imageId: string, context: LockContext): Promise<string> {
  const [image, base] = await Promise.all([docker.getImage(imageId).inspect(), inspectImage(docker, context.base)]);
  const output = await runCapture(docker, imageId);
  const sections: Record<LockManager, string[]> = { apt: [], pip: [], conda: [] };
  let current: LockManager | undefined;
  for (const line of output.split('\n').map((l) => l.trimEnd())) {
    const marker = /^@([a-z]+)$/.exec(line)?.[1];
    if (marker && (lockManagers as readonly string[]).includes(marker)) current = marker as LockManager;
    else if (current === 'apt') {
      // "<want><status><error> name=version": keep installed packages only (status i), not removed ones with config left.
      const m = /^.(.). (\S+=\S+)$/.exec(line);
      if (m?.[1] === 'i') sections.apt.push(m[2]!);
    } else if (current && line.trim() && !line.startsWith('#')) sections[current].push(line.trim());
  }
  return renderLock({
    base: context.base,
    baseDigest: baseDigest(image, base),
    environment: context.environment,
    ...sections,
    build: context.buildNotes ?? [],
  });
}

/**
 * The base's digest when the base tag still names the image's base (its layers start the
 * image's layers): the registry digest when it has one, else its local id.
 */
function baseDigest(image: Docker.ImageInspectInfo, base: Docker.ImageInspectInfo | undefined): string {
  const layers = image.RootFS?.Layers ?? [];
  const baseLayers = base?.RootFS?.Layers ?? [];
  if (!base || !baseLayers.every((layer, i) => layers[i] === layer)) return UNKNOWN_BASE;
  return base.RepoDigests?.[0] ?? base.Id;
}


async function runCapture(docker: Docker, imageId: string): Promise<string> {
  const container = await docker.createContainer({
    Image: imageId,
    Entrypoint: ['sh', '-c', CAPTURE_SCRIPT],
    Cmd: [],
    Labels: { 'org.reprise.lock-capture': 'true' },
    HostConfig: { NetworkMode: 'none' },
  });
  try {
    try {
      await container.start();
    } catch (err) {
      // An image without a shell (scratch, distroless) has none of the package tools either.
      if (/executable file not found|no such file or directory/i.test((err as Error).message)) return '';
      throw err;
    }
    await container.wait();
    return stdoutOf(await container.logs({ stdout: true, stderr: false, follow: false }));
  } finally {
    await container.remove({ force: true }).catch(() => undefined);
  }
}

/** Docker's multiplexed log stream (8-byte frame headers, no TTY) → stdout text. */
function stdoutOf(buf: Buffer): string {
  const parts: Buffer[] = [];
  for (let at = 0; at + 8 <= buf.length; ) {
    const size = buf.readUInt32BE(at + 4);
    if (buf[at] === 1) parts.push(buf.subarray(at + 8, at + 8 + size));
    at += 8 + size;
  }
  return Buffer.concat(parts).toString('utf8');
}
