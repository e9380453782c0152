import { redactUrl, type Notifier } from '../config/notifiers.js';
import { formatDuration } from '../notify/notice.js';

/** A notifier as `notify list` and `add` show it: a webhook by scheme and host only (its path holds the token). */
export interface NotifierView {
  name: string;
  kind: Notifier['kind'];
  format?: string;
  target: string;
  on: string[];
  minDurationSeconds?: number;
  backend?: string;
  /** The filters in words. */
  filters: string;
}

export function describeNotifier(name: string, n: Notifier): NotifierView {
  const filters = [
    n.on.length === 3 ? 'every end' : n.on.join(' or '),
    ...(n.minDurationSeconds !== undefined ? [`at least ${formatDuration(n.minDurationSeconds)}`] : []),
    ...(n.backend ? [`on ${n.backend}`] : []),
  ].join(', ');
  return {
    name,
    kind: n.kind,
    ...(n.kind === 'webhook' ? { format: n.format, target: redactUrl(n.url) } : { target: n.to }),
    on: n.on,
    ...(n.minDurationSeconds !== undefined ? { minDurationSeconds: n.minDurationSeconds } : {}),
    ...(n.backend ? { backend: n.backend } : {}),
    filters,
  };
}
