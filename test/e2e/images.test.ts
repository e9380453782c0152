import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Cli, cliEnv, freePort } from '../helpers/cli.js';
import { git, repoState, tempDir } from '../helpers/project.js';
import { BUSYBOX, requireDocker } from '../helpers/docker.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { buildTestImage } from '../helpers/infra.js';

// Images that travel: pushed to a real registry (htpasswd credentials from a Docker config) and
// recorded by digest, pulled back by a rerun on an engine that lost them, or moved as a file.
let cli: Cli;
let registry: TestRegistry;
let other: TestRegistry;
let work: string;

beforeAll(async () => {
  requireDocker();
  registry = await startRegistry();
  other = await startRegistry(); // its credentials are not in the Docker config below
  const home = await tempDir('reprise-img-home-');
  work = await tempDir('reprise-img-');
  cli = new Cli({ ...(await cliEnv(home)), DOCKER_CONFIG: registry.dockerConfig });
});

afterAll(async () => {
  if (cli) await cli.run(['agent', 'stop'], work);
  await registry?.stop();
  await other?.stop();
});

interface Record { runId: string; state: string; image: { digest: string; reference?: string }; outputs: { path: string; sha256: string }[] }

async function newProject(name: string): Promise<string> {
  expect((await cli.run(['init', name, '--name', name, '--base', BUSYBOX], work)).code).toBe(0);
  const root = join(work, name);
  // A layer of its own, so removing the image from the engine really removes something.
  await writeFile(join(root, '.reprise/environment.yaml'), `base: ${BUSYBOX}\ndockerfile:\n  - RUN echo ${name} > /etc/flavour\n`);
  await writeFile(join(root, 'code/job.sh'), 'cat /etc/flavour > output/flavour.txt; echo done\n');
  git(root, 'add', '-A');
  git(root, 'commit', '-qm', 'job');
  return root;
}

const removeImage = (id: string) => execFileSync('docker', ['rmi', '-f', id], { stdio: 'ignore' });
const hasImage = (id: string) => {
  try {
    execFileSync('docker', ['image', 'inspect', id], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

async function lastRecord(root: string): Promise<Record> {
  const [entry] = await cli.json<{ runId: string }[]>(['log', '-n', '1'], root);
  return cli.json<Record>(['show', entry!.runId], root);
}

describe('images by registry digest', () => {
  it('a run records the pushed digest; a rerun and verify on an engine without the image pull it by that digest', async () => {
    expect((await cli.run(['registry', 'set', registry.url], work)).code).toBe(0);
    expect(await cli.json<{ registry: string }>(['registry', 'show'], work)).toEqual({ registry: registry.url });
    const root = await newProject('pushed');
    const r = await cli.run(['run', '--', 'sh', 'code/job.sh'], root);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`pushing ${registry.url.replace('.', '\\.')}/pushed: [\\d.]+ MiB\\n`)); // progress of the push
    const first = await lastRecord(root);
    expect(first.image.reference).toMatch(new RegExp(`^${registry.url.replace('.', '\\.')}/pushed@sha256:[0-9a-f]{64}$`));
    expect(git(root, 'log', '-1', '--format=%(trailers:key=Reprise-Image-Ref,valueonly)').trim()).toBe(first.image.reference);

    removeImage(first.image.digest);
    expect(hasImage(first.image.digest)).toBe(false);
    const again = await cli.run(['rerun', first.runId], root);
    expect(again.code, again.stderr).toBe(0);
    expect(hasImage(first.image.digest)).toBe(true); // pulled: same image id as recorded
    expect(again.stderr).toMatch(/pulling .*\/pushed@sha256:[0-9a-f]{12}…: [\d.]+ MiB\n/);

    removeImage(first.image.digest);
    const verify = await cli.run(['verify', first.runId], root);
    expect(verify.code, verify.stderr + verify.stdout).toBe(0);
    const rerun = await lastRecord(root);
    expect(rerun.image.digest).toBe(first.image.digest);
    expect(rerun.outputs).toEqual(first.outputs);
  });

  it('refusals: credentials refused, registry unreachable, digest gone; each with its exit code, the project untouched', async () => {
    const root = await newProject('refused');
    const before = repoState(root);

    expect((await cli.run(['registry', 'set', other.url], work)).code).toBe(0);
    const denied = await cli.run(['run', '--', 'sh', 'code/job.sh'], root);
    expect(denied.code, denied.stderr).toBe(2);
    expect(denied.stderr).toMatch(new RegExp(`refused the credentials .*; run: docker login ${other.url.replace('.', '\\.')}`));

    const closed = `127.0.0.1:${await freePort()}`;
    expect((await cli.run(['registry', 'set', closed], work)).code).toBe(0);
    const unreachable = await cli.run(['run', '--', 'sh', 'code/job.sh'], root);
    expect(unreachable.code).toBe(3);
    expect(unreachable.stderr).toMatch(/check that the registry 127\.0\.0\.1:\d+ is reachable/);
    expect(repoState(root)).toEqual(before);

    const bad = await cli.run(['registry', 'set', 'https://registry.example.com'], work);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^Error: invalid registry "https:\/\/registry.example.com": .*no scheme/);

    expect((await cli.run(['registry', 'set', registry.url], work)).code).toBe(0);
    expect((await cli.run(['run', '--', 'sh', 'code/job.sh'], root)).code).toBe(0);
    const recorded = await lastRecord(root);
    const afterRun = repoState(root);
    await registry.wipe();
    removeImage(recorded.image.digest);
    const gone = await cli.run(['rerun', recorded.runId], root);
    expect(gone.code).toBe(2);
    expect(gone.stderr).toMatch(/the registry has no such image/);
    expect(repoState(root)).toEqual(afterRun);
  });
});

describe('images as files', () => {
  it('image export / import moves a recorded image; a corrupt archive is refused', async () => {
    expect((await cli.run(['registry', 'unset'], work)).code).toBe(0);
    const root = await newProject('carried');
    expect((await cli.run(['run', '--', 'sh', 'code/job.sh'], root)).code).toBe(0);
    const record = await lastRecord(root);
    expect(record.image.reference).toBeUndefined();
    const file = join(await tempDir('reprise-img-file-'), 'image.tar');
    const exported = await cli.json<{ bytes: number }>(['image', 'export', record.runId, file], root);
    expect(exported.bytes).toBeGreaterThan(0);

    removeImage(record.image.digest);
    const missing = await cli.run(['rerun', record.runId], root);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/never pushed to a registry; .*bring it with: reprise image import FILE/);

    expect(await cli.json<{ images: string[] }>(['image', 'import', file], root)).toEqual({ images: [record.image.digest] });
    const again = await cli.run(['rerun', record.runId], root);
    expect(again.code, again.stderr).toBe(0);
    expect(await readFile(join(root, 'output/flavour.txt'), 'utf8')).toBe('carried\n');

    const corrupt = join(await tempDir('reprise-img-file-'), 'corrupt.tar');
    await writeFile(corrupt, (await readFile(file)).subarray(0, 3000));
    const refused = await cli.run(['image', 'import', corrupt], root);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^Error: .*corrupt\.tar is not an image archive the engine can load/);
  });

  it('an imported archive cannot plant the tag of a built environment that later runs would reuse', async () => {
    const name = `planted${Date.now().toString(36)}`;
    const root = await newProject(name);
    const env = await cli.json<{ hash: string; image: string }>(['env', 'show'], root);
    // What an attacker hands over: the environment's tag and label on content of their own.
    const forged = buildTestImage(env.image, ['RUN echo forged > /etc/flavour', `LABEL org.reprise.environment=${env.hash}`]);
    const file = join(await tempDir('reprise-img-forged-'), 'forged.tar');
    execFileSync('docker', ['save', '-o', file, env.image]);
    removeImage(env.image);
    try {
      expect(await cli.json<{ images: string[] }>(['image', 'import', file], root)).toEqual({ images: [forged] });
      expect(hasImage(forged)).toBe(true); // there by id, for reruns that name it
      expect(hasImage(env.image)).toBe(false);
      const ran = await cli.run(['run', '--', 'sh', 'code/job.sh'], root);
      expect(ran.code, ran.stderr).toBe(0);
      expect(await readFile(join(root, 'output/flavour.txt'), 'utf8')).toBe(`${name}\n`);
      expect((await lastRecord(root)).image.digest).not.toBe(forged);
    } finally {
      removeImage(forged);
    }
  });

  it('export --image carries the history and a run\'s image in one file; import opens both; a hostile archive is refused', async () => {
    const root = await newProject('moved');
    expect((await cli.run(['run', '--', 'sh', 'code/job.sh'], root)).code).toBe(0);
    const record = await lastRecord(root);
    const dir = await tempDir('reprise-img-move-');
    const file = join(dir, 'moved.tar');
    const exported = await cli.json<{ images: { runId: string; digest: string }[] }>(['export', file, '--image', record.runId.slice(4, 10)], root);
    expect(exported.images).toEqual([{ runId: record.runId, digest: record.image.digest, file: `images/${record.image.digest.slice(7)}.tar` }]);

    removeImage(record.image.digest);
    const imported = await cli.json<{ root: string; images: string[] }>(['import', file, 'elsewhere'], dir);
    expect(imported).toMatchObject({ root: join(dir, 'elsewhere'), images: [record.image.digest] });
    const again = await cli.run(['rerun', record.runId], join(dir, 'elsewhere'));
    expect(again.code, again.stderr).toBe(0);
    expect(await readFile(join(dir, 'elsewhere/output/flavour.txt'), 'utf8')).toBe('moved\n');

    // A member that would land outside the scratch directory: refused from its header, nothing written.
    execFileSync('sh', ['-c', 'mkdir -p in && echo x > in/project.bundle && ln -s /etc in/images && tar -cf evil.tar -C in project.bundle images'], { cwd: dir });
    const refused = await cli.run(['import', join(dir, 'evil.tar'), 'evil-project'], dir);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/is not a valid Reprise export \(unexpected member "images" \(symlink\)\); nothing was imported/);
    expect(() => execFileSync('test', ['-e', join(dir, 'evil-project')])).toThrow();
  });
});

