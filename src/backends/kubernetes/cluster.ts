import { Exec, KubeConfig, PortForward, type V1Status } from '@kubernetes/client-node';
import { expandHome } from '../../config/env.js';
import { Duplex, PassThrough, Writable, type Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { backendUnavailable } from '../../errors.js';

export interface ClusterOptions {
  kubeconfig?: string;
  context?: string;
}

/** The configured kubeconfig (and context), else KUBECONFIG / ~/.kube/config as kubectl reads them. */
export function loadKubeConfig(options: ClusterOptions): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (options.kubeconfig) kc.loadFromFile(expandHome(options.kubeconfig));
    else kc.loadFromDefault();
  } catch (err) {
    throw backendUnavailable(`cannot read the kubeconfig ${options.kubeconfig ?? '(KUBECONFIG or ~/.kube/config)'}: ${(err as Error).message}`, err);
  }
  if (options.context) {
    if (!kc.getContexts().some((c) => c.name === options.context)) {
      throw backendUnavailable(`the kubeconfig has no context "${options.context}"; known contexts: ${kc.getContexts().map((c) => c.name).join(', ') || 'none'}`);
    }
    kc.setCurrentContext(options.context);
  }
  if (!kc.getCurrentCluster()) throw backendUnavailable('the kubeconfig has no current cluster; set "context" in the backend configuration');
  return kc;
}

/** The HTTP status of a failed API call (client-node's ApiException or a refused WebSocket upgrade). */
export function apiStatus(err: unknown): number | undefined {
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'number') return code;
  const m = /Unexpected server response: (\d{3})/.exec(String((err as { message?: unknown }).message ?? ''));
  return m ? Number(m[1]) : undefined;
}

/**
 * True when an exec failed because its container is no longer there to run it (it just ended:
 * the pod status we acted on was a moment old), rather than for a reason worth reporting.
 */
export function containerGone(err: unknown): boolean {
  return /container not found|cannot exec in a stopped (state|container)|task [0-9a-f]+ not found|not running|CONTAINER_EXITED|unable to start container process/i.test(String((err as Error)?.message ?? err));
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * Run a command in a container through the API server (pods/exec). Resolves with its exit code
 * once the command ended and its streams are drained; `stdout`, when given, receives the raw
 * bytes instead of the returned text. Rejects when the exec cannot start or takes longer than
 * `timeoutMs`.
 */
export async function execInPod(
  kc: KubeConfig,
  where: { namespace: string; pod: string; container: string },
  command: string[],
  options: { stdin?: Readable; stdout?: Writable; timeoutMs?: number } = {},
): Promise<ExecResult> {
  const out = options.stdout ?? new PassThrough();
  const err = new PassThrough();
  const chunks: Buffer[] = [];
  const errChunks: Buffer[] = [];
  if (!options.stdout) out.on('data', (c: Buffer) => chunks.push(c));
  err.on('data', (c: Buffer) => errChunks.push(c));
  let status: V1Status | undefined;
  const ws = await new Exec(kc).exec(where.namespace, where.pod, where.container, command, out, err, options.stdin ?? null, false, (s) => {
    status = s;
  });
  await new Promise<void>((resolve, reject) => {
    const timer = options.timeoutMs
      ? setTimeout(() => {
          ws.terminate();
          reject(new Error(`exec ${command[0]} in ${where.pod}/${where.container} took longer than ${options.timeoutMs} ms`));
        }, options.timeoutMs)
      : undefined;
    ws.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
    ws.on('error', (e: Error) => {
      clearTimeout(timer);
      reject(e);
    });
    // A stdin that fails (a file that cannot be read) ends the exec rather than leaving it waiting.
    options.stdin?.once('error', (e: Error) => {
      clearTimeout(timer);
      ws.terminate();
      reject(e);
    });
  });
  if (!status) {
    out.end();
    throw new Error(`exec ${command[0]} in ${where.pod}/${where.container} ended without a status`);
  }
  if (!out.writableFinished) await finished(out).catch(() => undefined);
  return { exitCode: exitCodeOf(status), stdout: Buffer.concat(chunks).toString('utf8'), stderr: Buffer.concat(errChunks).toString('utf8') };
}

function exitCodeOf(status: V1Status): number {
  if (status.status === 'Success') return 0;
  const cause = status.details?.causes?.find((c) => c.reason === 'ExitCode');
  if (status.reason === 'NonZeroExitCode' && cause?.message) return Number(cause.message);
  throw new Error(`exec failed: ${status.message ?? status.reason ?? 'unknown error'}`);
}

/**
 * A TCP stream to `port` of a pod through the API server (pods/portforward over a WebSocket).
 * Resolves once the API server accepted the forward; what goes wrong after that (nothing
 * listens on the port, the pod goes away) is an 'error' on the stream, and the pod's side
 * closing the connection ends it. The channel protocol (v4) has no half-close, so ending the
 * writable side keeps the connection open for the answer; destroy() closes it.
 */
export async function portForward(kc: KubeConfig, where: { namespace: string; pod: string }, port: number): Promise<Duplex> {
  const input = new PassThrough();
  const problems: Buffer[] = [];
  let closed = false;
  const open: { socket?: { close(): void } } = {};
  const stream = new Duplex({
    read() {
      // Data is pushed as it arrives: the WebSocket has no way to pause the pod's side.
    },
    write(chunk: Buffer, _enc, done) {
      if (closed) return done(new Error(`the port-forward to ${where.pod}:${port} is closed`));
      input.write(chunk);
      done();
    },
    final(done) {
      done();
    },
    destroy(err, done) {
      closed = true;
      open.socket?.close();
      done(err);
    },
  });
  const output = new Writable({
    write(chunk: Buffer, _enc, done) {
      if (chunk.length) stream.push(chunk);
      done();
    },
  });
  const errors = new Writable({
    write(chunk: Buffer, _enc, done) {
      problems.push(chunk);
      done();
    },
  });
  const opened = await new PortForward(kc).portForward(where.namespace, where.pod, [port], output, errors, input);
  const ws = typeof opened === 'function' ? opened() : opened;
  if (!ws) throw new Error(`the port-forward to ${where.pod}:${port} did not open`);
  open.socket = ws;
  const end = (err?: Error) => {
    if (closed) return;
    closed = true;
    const problem = Buffer.concat(problems).toString('utf8').trim();
    if (err || problem) stream.destroy(new Error(`port-forward to port ${port} of pod ${where.pod} failed: ${problem || err!.message}`));
    else stream.push(null);
  };
  ws.on('error', (err: Error) => end(err));
  ws.on('close', () => end());
  return stream;
}
