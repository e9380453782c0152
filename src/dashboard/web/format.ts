export const short = (id: string) => id.replace(/^(run|sweep|lab)-/, '').slice(0, 8);
export const commandText = (argv: readonly string[]) => argv.join(' ');
export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}
export const when = (iso: string | undefined) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC') : '');
export const ext = (path: string) => path.split('.').pop()!.toLowerCase();
