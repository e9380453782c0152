// A git remote over HTTP with basic authentication, as a forge serves one: git's own
// http-backend (smart HTTP, fetch and push) behind a node server that checks the Authorization
// header of every request and answers 401 without it. Every Authorization it saw is kept, so a
// test can tell that the password reached the server (and the server alone).
import { execFileSync, spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { tempDir } from './project.js';

export interface GitHttpServer {
  /** The base URL without credentials, e.g. http://127.0.0.1:PORT */
  base: string;
  /** Where the bare repositories live (GIT_PROJECT_ROOT). */
  root: string;
  /** Requests answered, with whether they were authenticated. */
  requests: { path: string; authenticated: boolean }[];
  close(): Promise<void>;
}

/** Serve bare repositories under a fresh directory; `user`/`password` are the only accepted credentials. */
export async function gitHttpServer(user: string, password: string): Promise<GitHttpServer> {
  const root = await tempDir('reprise-git-http-');
  const expected = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  const requests: GitHttpServer['requests'] = [];
  const backend = join(execFileSync('git', ['--exec-path'], { encoding: 'utf8' }).trim(), 'git-http-backend');
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const authenticated = req.headers.authorization === expected;
    requests.push({ path: url.pathname, authenticated });
    if (!authenticated) {
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="git"' }).end('authentication required\n');
      return;
    }
    const cgi = spawn(backend, [], {
      env: {
        PATH: process.env.PATH,
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: '1',
        REMOTE_USER: user,
        REMOTE_ADDR: '127.0.0.1',
        REQUEST_METHOD: req.method ?? 'GET',
        PATH_INFO: decodeURIComponent(url.pathname),
        QUERY_STRING: url.search.slice(1),
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        ...(req.headers['content-encoding'] ? { HTTP_CONTENT_ENCODING: String(req.headers['content-encoding']) } : {}),
        ...(req.headers['git-protocol'] ? { GIT_PROTOCOL: String(req.headers['git-protocol']) } : {}),
      },
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    req.pipe(cgi.stdin);
    // CGI output: headers, a blank line, the body.
    let head = Buffer.alloc(0);
    let headersDone = false;
    cgi.stdout.on('data', (chunk: Buffer) => {
      if (headersDone) {
        res.write(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      headersDone = true;
      let status = 200;
      for (const line of head.subarray(0, end).toString().split('\r\n')) {
        const [name, ...value] = line.split(':');
        if (name!.toLowerCase() === 'status') status = Number.parseInt(value.join(':').trim(), 10);
        else res.setHeader(name!, value.join(':').trim());
      }
      res.writeHead(status);
      res.write(head.subarray(end + 4));
    });
    cgi.on('close', () => res.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    root,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** A bare repository `name` on the server (main as its default branch). */
export function bareRepository(server: GitHttpServer, name: string): string {
  const dir = join(server.root, name);
  execFileSync('git', ['init', '--quiet', '--bare', '-b', 'main', dir]);
  execFileSync('git', ['config', 'http.receivepack', 'true'], { cwd: dir });
  return dir;
}
