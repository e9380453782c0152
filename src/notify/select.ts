import type { Notifier } from '../config/notifiers.js';
import type { Notice } from './notice.js';

/** Whether a notifier's filters let this notice through: its end state, its duration, its backend (or pool). */
export function wants(notifier: Notifier, notice: Notice): boolean {
  if (!notifier.on.includes(notice.endState)) return false;
  if (notifier.minDurationSeconds !== undefined && notice.durationSeconds < notifier.minDurationSeconds) return false;
  if (notifier.backend && notifier.backend !== notice.backend && notifier.backend !== notice.pool) return false;
  return true;
}
