import { describe, expect, it } from 'vitest';
import { environmentWantsR, missingRKernel, type KernelInfo } from '../../../src/lab/kernels.js';
import type { EnvironmentSpec } from '../../../src/project/schema.js';

const env = (apt: string[], conda: string[] = []): EnvironmentSpec => ({ base: 'debian:bookworm', packages: { apt, pip: [], conda }, dockerfile: [] });
const python: KernelInfo = { name: 'python3', displayName: 'Python 3 (ipykernel)', language: 'python' };
const r: KernelInfo = { name: 'ir', displayName: 'R', language: 'R' };

describe('the R kernel hint', () => {
  it('knows when the environment names R', () => {
    expect(environmentWantsR(env(['python3-pip']))).toBe(false);
    expect(environmentWantsR(env(['python3-pip', 'r-base-core']))).toBe(true);
    expect(environmentWantsR(env(['r-base==4.2.2.20221110-2']))).toBe(true);
    expect(environmentWantsR(env(['r-cran-ggplot2']))).toBe(true);
    expect(environmentWantsR(env([], ['r-base']))).toBe(true);
    expect(environmentWantsR(env([], ['r-irkernel=1.3']))).toBe(true);
    expect(environmentWantsR(env(['rsync', 'ruby']))).toBe(false);
  });

  it('says in one line what to add when R is asked for and the lab has no R kernel', () => {
    expect(missingRKernel(env(['r-base-core']), [python])).toBe(
      'this lab has no R kernel although the environment names R packages (IRkernel is missing); add it with: reprise env add apt r-cran-irkernel',
    );
    expect(missingRKernel(env([], ['r-base']), [python])).toMatch(/add it with: reprise env add conda r-irkernel$/);
    expect(missingRKernel(env(['r-base-core', 'r-cran-irkernel']), [python, r])).toBeUndefined();
    expect(missingRKernel(env(['python3-pip']), [python])).toBeUndefined();
  });
});
