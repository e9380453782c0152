// Shared by the kubernetes-backend tests: the real test cluster's settings and small helpers.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KubernetesConfig } from '../../../src/backends/kubernetes/kubernetes-backend.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const envFile = join(repoRoot, 'test/infra/.state/kubernetes.env');

export interface ClusterEnv {
  K8S_CONTEXT: string;
  K8S_NAMESPACE: string;
  K8S_REGISTRY: string;
  KUBECONFIG: string;
}

/** The cluster `test/infra/kubernetes up` started; fails loudly (never skips) when it is not there. */
export function loadClusterEnv(): ClusterEnv {
  if (!existsSync(envFile)) throw new Error(`${envFile} is missing: start the test cluster first with \`test/infra/kubernetes up\``);
  const vars: Record<string, string> = {};
  for (const line of readFileSync(envFile, 'utf8').split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m?.[1] !== undefined) vars[m[1]] = m[2] ?? '';
  }
  for (const key of ['K8S_CONTEXT', 'K8S_NAMESPACE', 'K8S_REGISTRY', 'KUBECONFIG']) {
    if (!vars[key]) throw new Error(`${envFile} lacks ${key}: rerun \`test/infra/kubernetes up\``);
  }
  const env = vars as unknown as ClusterEnv;
  if (!existsSync(env.KUBECONFIG)) throw new Error(`${env.KUBECONFIG} is missing: rerun \`test/infra/kubernetes up\``);
  return env;
}

export function backendConfig(env: ClusterEnv, over: Partial<KubernetesConfig> = {}): KubernetesConfig {
  return { kind: 'kubernetes', kubeconfig: env.KUBECONFIG, context: env.K8S_CONTEXT, namespace: env.K8S_NAMESPACE, registry: `${env.K8S_REGISTRY}/reprise-it`, ...over };
}

/** Build a small local image `FROM local/busybox:latest`; returns its id (sha256:…). */
export function buildTestImage(tag: string, extraLines = ''): string {
  try {
    execFileSync('docker', ['image', 'inspect', 'local/busybox:latest'], { stdio: 'ignore' });
  } catch {
    throw new Error('local/busybox:latest is missing: run bash scripts/docker-up.sh first');
  }
  const ctx = mkdtempSync(join(tmpdir(), 'reprise-k8s-img-'));
  try {
    writeFileSync(join(ctx, 'Dockerfile'), `FROM local/busybox:latest\n${extraLines}\n`);
    execFileSync('docker', ['build', '-q', '-t', tag, ctx], { stdio: ['ignore', 'pipe', 'pipe'] });
    return execFileSync('docker', ['image', 'inspect', '-f', '{{.Id}}', tag], { encoding: 'utf8' }).trim();
  } finally {
    rmSync(ctx, { recursive: true, force: true });
  }
}
