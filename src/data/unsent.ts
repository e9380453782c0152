import type { UnsentOutputs } from '../project/run-record.js';

/** The one line for outputs the data store could not take when their run ended: where they are, and what sends them. */
export function unsentLine(u: UnsentOutputs): string {
  return `${u.paths.length} large output(s) stayed in the local cache, not sent to the data store: ${u.reason.replace(/[.;\s]+$/, '')}; reprise sync or reprise data push sends them`;
}
