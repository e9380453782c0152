import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, request, type Server } from 'node:http';
import { connect } from 'node:net';
import { buildEnvironmentImage, environmentBuild } from '../../../src/images/build.js';
import { buildTrustNotes, resolveBuildTrust } from '../../../src/images/build-trust.js';
import { dockerClient } from '../../../src/images/engine.js';
import { requireDocker } from '../../helpers/docker.js';

// A proxy the user's network requires reaches pip inside the build, and stays out of the image:
// a real CONNECT proxy on the Docker bridge sees pip's tunnels to PyPI.
describe('build proxies', () => {
  let proxy: Server;
  let proxyUrl: string;
  const tunnels: string[] = [];

  beforeAll(async () => {
    requireDocker();
    // docker0 has no carrier while no container runs, so Node does not list it: ask ip(8).
    const bridge = /inet (\d+\.\d+\.\d+\.\d+)/.exec(execFileSync('ip', ['-4', '-o', 'addr', 'show', 'docker0'], { encoding: 'utf8' }))?.[1];
    if (!bridge) throw new Error('no docker0 bridge address: is dockerd running with its default bridge?');
    // Plain HTTP (apt's Debian mirror) is forwarded; HTTPS (PyPI) is tunnelled with CONNECT.
    proxy = createServer((req, res) => {
      const url = new URL(req.url ?? '');
      tunnels.push(`http://${url.host}`);
      const upstream = request({ host: url.hostname, port: url.port || 80, path: url.pathname + url.search, method: req.method, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    });
    proxy.on('connect', (req, client, head) => {
      tunnels.push(req.url ?? '');
      const [host, port] = (req.url ?? '').split(':');
      const upstream = connect(Number(port), host!, () => {
        client.write('HTTP/1.1 200 Connection established\r\n\r\n');
        upstream.write(head);
        upstream.pipe(client).pipe(upstream);
      });
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, bridge, r));
    proxyUrl = `http://${bridge}:${(proxy.address() as { port: number }).port}`;
  });

  afterAll(() => proxy?.close());

  it('pip tunnels through the configured proxy; the proxy is not in the image or its history; the lock notes say it was used', async () => {
    // A base image of its own (a new id, not just a new name: the build cache keys on ids), so no
    // earlier build's cached layers spare apt and pip the network.
    const base = `reprise-proxy-base:${randomBytes(4).toString('hex')}`;
    execFileSync('docker', ['build', '-q', '-t', base, '-'], { input: `FROM local/debian-python:bookworm\nLABEL org.reprise.test=${base.split(':')[1]}\n`, stdio: ['pipe', 'ignore', 'inherit'] });
    const spec = { base, packages: { apt: ['python3-pip'], pip: ['six==1.16.0'], conda: [] }, dockerfile: [] };
    const trust = await resolveBuildTrust({ httpsProxy: proxyUrl, httpProxy: proxyUrl, noProxy: 'localhost' }, {});
    const built = await buildEnvironmentImage(dockerClient(), { ...environmentBuild('proxy-test', spec), trust });
    expect(tunnels.some((t) => t.startsWith('pypi.org:443'))).toBe(true); // pip, over HTTPS
    expect(tunnels.some((t) => t.startsWith('http://'))).toBe(true); // apt, over HTTP
    expect(execFileSync('docker', ['run', '--rm', built.digest, 'python3', '-c', 'import six; print(six.__version__)'], { encoding: 'utf8' })).toBe('1.16.0\n');
    const history = execFileSync('docker', ['history', '--no-trunc', built.digest], { encoding: 'utf8' });
    const config = execFileSync('docker', ['image', 'inspect', built.digest], { encoding: 'utf8' });
    expect(history + config).not.toContain(proxyUrl);
    expect(buildTrustNotes(trust)).toContain('proxy=http_proxy,https_proxy');
    execFileSync('docker', ['rmi', '-f', built.digest, base], { stdio: 'ignore' });
  }, 300_000);
});
