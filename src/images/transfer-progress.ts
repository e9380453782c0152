/** How far an image transfer (push, pull, upload) is, in bytes: what the CLI draws as a bar. */
export interface TransferProgress {
  /** What moves, e.g. "pushing 127.0.0.1:5000/p". */
  what: string;
  current: number;
  total: number;
}

export type OnTransfer = (p: TransferProgress) => void;

interface LayerEvent {
  id?: string;
  status?: string;
  progressDetail?: { current?: number; total?: number };
}

/**
 * Sums the engine's per-layer progress events (push and pull report each layer on its own) into
 * one figure; a layer that is done counts whole, one the registry already had counts nothing.
 */
export function layerProgress(what: string, onProgress: OnTransfer | undefined): (event: LayerEvent) => void {
  const layers = new Map<string, { current: number; total: number }>();
  return (event) => {
    if (!onProgress || !event.id) return;
    const layer = layers.get(event.id) ?? { current: 0, total: 0 };
    const { current, total } = event.progressDetail ?? {};
    if (total) layer.total = total;
    if (current !== undefined) layer.current = current;
    if (/^(Pushed|Pull complete|Download complete)$/.test(event.status ?? '')) layer.current = layer.total;
    layers.set(event.id, layer);
    let sumCurrent = 0;
    let sumTotal = 0;
    for (const l of layers.values()) {
      sumCurrent += Math.min(l.current, l.total);
      sumTotal += l.total;
    }
    if (sumTotal > 0) onProgress({ what, current: sumCurrent, total: sumTotal });
  };
}

/** One line per report in a run's transfer log: `<current> <total> <what>`. */
export const transferLine = (p: TransferProgress) => `${p.current} ${p.total} ${p.what}\n`;

export function lastTransfer(log: string): TransferProgress | undefined {
  const m = /^(\d+) (\d+) (.+)$/m.exec(log.trimEnd().split('\n').at(-1) ?? '');
  return m ? { current: Number(m[1]), total: Number(m[2]), what: m[3]! } : undefined;
}
