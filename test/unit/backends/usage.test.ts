import { describe, expect, it } from 'vitest';
import { gpuCount, secondsBetween, usageFrom } from '../../../src/backends/usage.js';
import { sacctUsage, slurmBytes, slurmSeconds } from '../../../src/backends/slurm/accounting.js';
import { usedText } from '../../../src/cli/used-text.js';

describe('usageFrom', () => {
  it('counts cores held × wall time where cores are reserved, GPUs likewise', () => {
    expect(usageFrom({ wallSeconds: 1800, cores: 4, gpus: 2, cpuSeconds: 100, source: 'sacct' })).toEqual({
      wallSeconds: 1800,
      cpuSeconds: 100,
      coreHours: 2,
      gpuHours: 1,
      source: 'sacct',
    });
  });

  it('counts CPU time used where nothing is reserved, to 6 decimals, and leaves out what is unknown', () => {
    expect(usageFrom({ wallSeconds: 2.5004, cpuSeconds: 2.1, peakMemoryBytes: 1234.4, source: 'docker stats' })).toEqual({
      wallSeconds: 2.5,
      cpuSeconds: 2.1,
      coreHours: 0.000583,
      peakMemoryBytes: 1234,
      source: 'docker stats',
    });
    expect(usageFrom({ wallSeconds: 10, gpus: 0, source: 'docker inspect' })).toEqual({ wallSeconds: 10, source: 'docker inspect' });
    expect(usageFrom({ wallSeconds: -1, cores: 0.5, source: 'pod requests' })).toEqual({ wallSeconds: 0, coreHours: 0, source: 'pod requests' });
  });

  it('measures between two valid times in order only', () => {
    expect(secondsBetween('2026-01-01T00:00:00Z', '2026-01-01T00:00:02.500Z')).toBe(2.5);
    expect(secondsBetween('2026-01-01T00:00:02Z', '2026-01-01T00:00:00Z')).toBeUndefined();
    expect(secondsBetween(undefined, '2026-01-01T00:00:00Z')).toBeUndefined();
  });

  it('finds GPUs in SLURM TRES and pod resources without counting a type twice', () => {
    expect(gpuCount({ cpu: '2', 'gres/gpu': '2', 'gres/gpu:a100': '2' })).toBe(2);
    expect(gpuCount({ 'gres/gpu:a100': '1' })).toBe(1);
    expect(gpuCount({ cpu: '500m', 'nvidia.com/gpu': '1' })).toBe(1);
    expect(gpuCount({ cpu: '1' })).toBe(0);
    expect(gpuCount(undefined)).toBe(0);
  });
});

describe('sacct figures', () => {
  it('reads durations and memory as sacct prints them', () => {
    expect(slurmSeconds('00:02.345')).toBeCloseTo(2.345);
    expect(slurmSeconds('01:02:03')).toBe(3723);
    expect(slurmSeconds('1-00:00:01')).toBe(86401);
    expect(slurmSeconds('')).toBeUndefined();
    expect(slurmBytes('1024K')).toBe(1024 * 1024);
    expect(slurmBytes('1.5G')).toBe(1.5 * 2 ** 30);
    expect(slurmBytes('0')).toBe(0);
    expect(slurmBytes('')).toBeUndefined();
  });

  const rows = [
    '42|COMPLETED|3600|00:30:00||billing=2,cpu=2,gres/gpu=1,gres/gpu:a100=1,mem=1G,node=1',
    '42.batch|COMPLETED|3600|00:29:59|2048K|cpu=2,gres/gpu=1,mem=1G,node=1',
    '42.extern|COMPLETED|3600|00:00:01|512K|billing=2,cpu=2,mem=1G,node=1',
  ].join('\n');

  it('takes the allocation for wall, cores and GPUs, and the highest step for peak memory', () => {
    expect(sacctUsage(rows, '42')).toEqual({
      usage: { wallSeconds: 3600, cpuSeconds: 1800, coreHours: 2, gpuHours: 1, peakMemoryBytes: 2 * 2 ** 20, source: 'sacct' },
      complete: true,
    });
  });

  it('says the accounting lags while steps are unmeasured or the job is still finishing, and knows no other job', () => {
    expect(sacctUsage('42|COMPLETED|5|00:00:00||cpu=1,mem=1G,node=1', '42')).toEqual({ usage: { wallSeconds: 5, coreHours: 0.001389, source: 'sacct' }, complete: false });
    // A step too short to be sampled has CPU time and no memory: complete all the same.
    expect(sacctUsage('42|COMPLETED|0|00:00.017||cpu=1\n42.batch|COMPLETED|0|00:00.017||cpu=1', '42')).toEqual({ usage: { wallSeconds: 0, cpuSeconds: 0.017, coreHours: 0, source: 'sacct' }, complete: true });
    expect(sacctUsage('42|COMPLETING|5|00:01.000||cpu=1\n42.batch|COMPLETING|5|00:01.000|100K|cpu=1', '42')?.complete).toBe(false);
    expect(sacctUsage(rows, '43')).toBeUndefined();
    expect(sacctUsage('42|CANCELLED by 1000|0|00:00:00||billing=1,cpu=1,mem=1G,node=1', '42')?.complete).toBe(true);
    expect(sacctUsage('7_1|COMPLETED|4|00:03.000||cpu=1\n7_1.batch|COMPLETED|4|00:03.000|10M|cpu=1', '7_1')?.usage).toMatchObject({ wallSeconds: 4, cpuSeconds: 3, peakMemoryBytes: 10 * 2 ** 20 });
  });
});

describe('usedText', () => {
  it('prints what is known, on one line, with its source', () => {
    expect(usedText({ wallSeconds: 2.51, cpuSeconds: 2.1, coreHours: 0.000583, peakMemoryBytes: 12.3 * 2 ** 20, source: 'docker stats' })).toBe('wall 2.5s · cpu 2.1s · 0.000583 core-h · peak 12.3 MiB (docker stats)');
    expect(usedText({ wallSeconds: 3723, coreHours: 2.0683, gpuHours: 1.03, source: 'sacct' })).toBe('wall 1h02m · 2.07 core-h · 1.03 GPU-h (sacct)');
  });
});
