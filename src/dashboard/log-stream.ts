import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import { followRun } from '../client/follow.js';
import type { RunClient } from '../client/runs.js';
import { errorMessage } from '../errors.js';
import { findRun, readRecord } from '../project/history.js';
import type { Project } from '../project/layout.js';

/** Bytes of log a slow reader may have queued before newer output is dropped (with a marker saying how much). */
export const MAX_QUEUED = 1 << 20;
const CHUNK = 64 * 1024;

let followers = 0;
/** How many live runs' logs are being followed for readers now (each reader that leaves stops its follower). */
export const liveLogFollowers = () => followers;

/**
 * A run's log as server-sent events: `log` events (JSON strings) with the same text
 * `reprise logs --follow` prints (the same follower), then one `end` event with the run's state.
 * Memory stays bounded per reader: at most MAX_QUEUED bytes wait for a slow connection.
 */
export function streamRunLog(c: Context, project: Project, client: RunClient, runId: string): Response {
  return streamSSE(c, async (stream) => {
    const recorded = await findRun(project.root, runId).catch(() => undefined);
    if (recorded) {
      const { log } = await readRecord(project.root, recorded);
      for (let i = 0; i < log.length && !stream.aborted; i += CHUNK) await stream.writeSSE({ event: 'log', data: JSON.stringify(log.slice(i, i + CHUNK)) });
      await stream.writeSSE({ event: 'end', data: JSON.stringify({ state: recorded.state }) });
      return;
    }
    let queued = 0;
    let dropped = 0;
    let chain = Promise.resolve();
    const send = (event: string, data: string) => {
      queued += data.length;
      chain = chain.then(() => stream.writeSSE({ event, data })).finally(() => (queued -= data.length));
    };
    const write = (text: string | Buffer) => {
      const s = text.toString();
      if (stream.aborted) return;
      if (queued + s.length > MAX_QUEUED) {
        dropped += Buffer.byteLength(s);
        return;
      }
      if (dropped) {
        send('log', JSON.stringify(`[… ${dropped} bytes not shown while following; the whole log is in the record …]\n`));
        dropped = 0;
      }
      send('log', JSON.stringify(s));
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
    await chain;
    await stream.writeSSE({ event: 'end', data: JSON.stringify(end) });
  });
}
