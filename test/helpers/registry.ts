// A real image registry (Debian's docker-registry, distribution v2) on a free loopback port, with
// htpasswd credentials, for the image tests. dockerd talks plain HTTP to 127.0.0.0/8.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './cli.js';
import { tempDir } from './project.js';

export interface TestRegistry {
  url: string;
  user: string;
  password: string;
  /** A DOCKER_CONFIG directory whose config.json logs in to this registry (as `docker login` would). */
  dockerConfig: string;
  stop(): Promise<void>;
  /** Stop, and start again on the same port with empty storage (every image gone). */
  wipe(): Promise<void>;
}

export async function startRegistry(): Promise<TestRegistry> {
  for (const tool of ['docker-registry', 'htpasswd']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      throw new Error(`${tool} is missing: apt-get install docker-registry apache2-utils (scripts/test-all.sh does)`);
    }
  }
  const dir = await tempDir('reprise-registry-');
  const port = await freePort();
  const url = `127.0.0.1:${port}`;
  const user = 'alice';
  const password = 'registry-secret';
  writeFileSync(join(dir, 'htpasswd'), execFileSync('htpasswd', ['-Bbn', user, password]));
  const dockerConfig = join(dir, 'docker-config');
  mkdirSync(dockerConfig);
  writeFileSync(join(dockerConfig, 'config.json'), JSON.stringify({ auths: { [url]: { auth: Buffer.from(`${user}:${password}`).toString('base64') } } }));

  let child: ChildProcess;
  let generation = 0;
  const start = async () => {
    const storage = join(dir, `data-${generation++}`);
    mkdirSync(storage);
    const config = join(dir, 'config.yml');
    writeFileSync(
      config,
      [
        'version: 0.1',
        'log: {level: warn}',
        `storage: {filesystem: {rootdirectory: ${storage}}, delete: {enabled: true}}`,
        `http: {addr: "${url}"}`,
        `auth: {htpasswd: {realm: reprise-test, path: ${join(dir, 'htpasswd')}}}`,
        '',
      ].join('\n'),
    );
    child = spawn('docker-registry', ['serve', config], { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      const status = await fetch(`http://${url}/v2/`).then((r) => r.status, () => 0);
      if (status === 401) return; // up, and asking for credentials
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`the test registry did not start on ${url}`);
  };
  const stop = async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  };
  await start();
  return { url, user, password, dockerConfig, stop, wipe: async () => (await stop(), await start()) };
}
