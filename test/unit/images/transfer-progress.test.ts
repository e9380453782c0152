import { describe, expect, it } from 'vitest';
import { lastTransfer, layerProgress, transferLine, type TransferProgress } from '../../../src/images/transfer-progress.js';

describe('image transfer progress', () => {
  it('sums the per-layer events of a push; a finished layer counts whole', () => {
    const seen: TransferProgress[] = [];
    const on = layerProgress('pushing r/p', (p) => seen.push(p));
    on({ id: 'a', status: 'Pushing', progressDetail: { current: 10, total: 100 } });
    on({ id: 'b', status: 'Pushing', progressDetail: { current: 5, total: 50 } });
    on({ id: 'a', status: 'Pushed' });
    on({ id: 'c', status: 'Layer already exists' }); // nothing to move: counts nothing
    on({ status: 'latest: digest: sha256:… size: 1' }); // not a layer
    expect(seen.map((p) => [p.current, p.total])).toEqual([[10, 100], [15, 150], [105, 150], [105, 150]]);
  });

  it('round-trips through the transfer log, last line wins', () => {
    const log = transferLine({ what: 'pulling r/p@sha256:abc', current: 1, total: 9 }) + transferLine({ what: 'pulling r/p@sha256:abc', current: 9, total: 9 });
    expect(lastTransfer(log)).toEqual({ what: 'pulling r/p@sha256:abc', current: 9, total: 9 });
    expect(lastTransfer('')).toBeUndefined();
  });
});
