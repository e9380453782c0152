import { request } from 'node:http';
import type { EnvironmentSpec } from '../project/schema.js';

/**
 * The kernels a running lab offers, and the one line that tells a user who put R in the
 * environment why the launcher has no R: R is asked for by the environment (there is no flag to
 * pick a language; JupyterLab's launcher shows every kernel the image has).
 */

export interface KernelInfo {
  name: string;
  displayName: string;
  language: string;
}

const bare = (pkg: string) => pkg.replace(/(?:==|>=|<=|~=|=).*$/, '').toLowerCase();

/** The environment names R: Debian's r-base* / r-cran-* or conda's r-base / r-* packages. */
export function environmentWantsR(spec: EnvironmentSpec): boolean {
  const apt = spec.packages.apt.map(bare);
  const conda = spec.packages.conda.map(bare);
  return apt.some((p) => p === 'r-base' || p.startsWith('r-base-') || p.startsWith('r-cran-')) || conda.some((p) => p === 'r' || p.startsWith('r-'));
}

/** One line when the environment asks for R but the lab has no R kernel; nothing otherwise. */
export function missingRKernel(spec: EnvironmentSpec, kernels: KernelInfo[]): string | undefined {
  if (!environmentWantsR(spec) || kernels.some((k) => k.language.toLowerCase() === 'r')) return undefined;
  const how = spec.packages.conda.length > 0 ? 'reprise env add conda r-irkernel' : 'reprise env add apt r-cran-irkernel';
  return `this lab has no R kernel although the environment names R packages (IRkernel is missing); add it with: ${how}`;
}

/** The kernelspecs Jupyter serves through the tunnel (empty when it does not answer). */
export function labKernels(port: number, token: string): Promise<KernelInfo[]> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/api/kernelspecs', headers: { Authorization: `token ${token}` }, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        try {
          const specs = (JSON.parse(body) as { kernelspecs?: Record<string, { spec?: { display_name?: string; language?: string } }> }).kernelspecs ?? {};
          resolve(
            Object.entries(specs)
              .map(([name, k]) => ({ name, displayName: k.spec?.display_name ?? name, language: k.spec?.language ?? '' }))
              .sort((a, b) => a.name.localeCompare(b.name)),
          );
        } catch {
          resolve([]);
        }
      });
    });
    req.on('error', () => resolve([]));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}
