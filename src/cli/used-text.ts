import type { ResourcesUsed } from '../project/run-record.js';

/** Seconds as "2.4s", "3m05s", "1h02m". */
function seconds(s: number): string {
  if (s < 60) return `${Number(s.toFixed(1))}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** Hours to 3 significant digits: a short job's 0.000583 core-h stays readable and non-zero. */
const hours = (h: number) => (h >= 100 ? h.toFixed(0) : String(Number(h.toPrecision(3))));

/** Bytes in binary units ("12.3 MiB"). */
function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  for (; n >= 1024 && i < units.length - 1; i++) n /= 1024;
  return `${i ? Number(n.toFixed(1)) : n} ${units[i]}`;
}

/** One line for `reprise show`: "wall 2.4s · cpu 2.1s · 0.000583 core-h · peak 12.3 MiB (docker stats)". */
export function usedText(u: ResourcesUsed): string {
  return [
    `wall ${seconds(u.wallSeconds)}`,
    u.cpuSeconds !== undefined && `cpu ${seconds(u.cpuSeconds)}`,
    u.coreHours !== undefined && `${hours(u.coreHours)} core-h`,
    u.gpuHours !== undefined && `${hours(u.gpuHours)} GPU-h`,
    u.peakMemoryBytes !== undefined && `peak ${bytes(u.peakMemoryBytes)}`,
  ]
    .filter(Boolean)
    .join(' · ')
    .concat(` (${u.source})`);
}
