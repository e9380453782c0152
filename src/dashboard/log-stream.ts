import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import { followRun } from '../client/follow.js';
import type { RunClient } from '../client/runs.js';
import { errorMessage } from '../errors.js';
import { findRun, recordedLogChunks } from '../project/history.js';
import type { Project } from '../project/layout.js';

/** Characters of log a slow reader may have waiting; past them the oldest waiting text is dropped (with a marker saying how much). */
export const MAX_QUEUED = 1 << 20;
const CHUNK = 64 * 1024;

let followers = 0;
/** How many live runs' logs are being followed for readers now (each reader that leaves stops its follower). */
export const liveLogFollowers = () => followers;

/**
 * A run's log as server-sent events: `log` events (JSON strings) with the same text
 * `reprise logs --follow` prints (the same follower), then one `end` event with the run's state.
 * Memory stays bounded per reader: at most MAX_QUEUED characters wait for a slow connection.
 */
export function streamRunLog(c: Context, project: Project, client: RunClient, runId: string): Response {
  return streamSSE(c, async (stream) => {
    const recorded = await findRun(project.root, runId).catch(() => undefined);
    if (recorded) {
      // Read from git as it is sent, one chunk waiting at a time: a large log is never whole in
      // the server's memory, however many readers it has. A run recorded without a log has none.
      const left = new AbortController();
      stream.onAbort(() => left.abort());
      try {
        for await (const text of recordedLogChunks(project.root, recorded, left.signal)) {
          if (stream.aborted) break;
          await stream.writeSSE({ event: 'log', data: JSON.stringify(text) });
        }
      } catch {
        /* no log in the record */
      }
      if (!stream.aborted) await stream.writeSSE({ event: 'end', data: JSON.stringify({ state: recorded.state }) });
      return;
    }
    // Text not yet handed to the connection, at most MAX_QUEUED characters: when a reader falls
    // behind, the oldest waiting text goes (the page keeps the end), so the last line always arrives.
    let pending = '';
    let dropped = 0;
    let pumping = false;
    let atLineStart = true;
    let drained = Promise.resolve();
    const pump = async () => {
      pumping = true;
      try {
        while (pending && !stream.aborted) {
          let text = pending.slice(0, CHUNK);
          pending = pending.slice(CHUNK);
          // The marker takes a line of its own, after the (cut) line the reader has.
          if (dropped) text = `${atLineStart ? '' : '\n'}[… ${dropped} bytes not shown while following; the whole log is in the record …]\n${text}`;
          dropped = 0;
          atLineStart = text.endsWith('\n');
          await stream.writeSSE({ event: 'log', data: JSON.stringify(text) });
        }
      } finally {
        // Cleared in the same turn as the last check of `pending`: a write in between starts a new pump.
        pumping = false;
      }
    };
    const write = (text: string | Buffer) => {
      if (stream.aborted) return;
      pending += text.toString();
      if (pending.length > MAX_QUEUED) {
        const over = pending.length - MAX_QUEUED;
        const lineStart = pending.indexOf('\n', over - 1) + 1;
        const cut = lineStart > 0 ? lineStart : over;
        dropped += Buffer.byteLength(pending.slice(0, cut));
        pending = pending.slice(cut);
      }
      if (!pumping) drained = pump().catch(() => undefined);
    };
    // The browser leaving (tab closed, page changed) aborts the stream: the follower stops with it.
    const left = new AbortController();
    stream.onAbort(() => left.abort());
    if (stream.aborted) left.abort();
    followers++;
    const end = await followRun(client, runId, { write, projectRoot: project.root, signal: left.signal })
      .then(
        (result) => result && { state: result.state, exitCode: result.exitCode },
        (err: unknown) => ({ state: 'failed', error: errorMessage(err) }),
      )
      .finally(() => followers--);
    if (!end) return;
    await drained;
    await stream.writeSSE({ event: 'end', data: JSON.stringify(end) });
  });
}
