/**
 * Where a run's time goes, from its Temporal history: every event's offset from the workflow's
 * start, with activity types, and for local activities (recorded as markers) the time each one
 * completed on the worker. Used to explain the misses of the benchmark table (bench/README.md).
 *
 *   REPRISE_TEMPORAL_PORT=17433 node --import tsx bench/run-timeline.ts RUN_ID [RUN_ID…] [--json]
 *
 * Connects to 127.0.0.1:$REPRISE_TEMPORAL_PORT (or $TEMPORAL_ADDRESS), namespace
 * $TEMPORAL_NAMESPACE or `default`. Prints one block per run; with several runs also the median
 * offset of each step over them.
 */
import { Connection, WorkflowClient } from '@temporalio/client';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';

type Event = { eventTime?: { seconds?: unknown; nanos?: number | null } | null; eventType?: number | null; [k: string]: unknown };

/** Wall-clock start (epoch seconds) of each workflow timeline() read. */
export const startTimes = new Map<string, number>();

const seconds = (t: Event['eventTime']) => Number(t?.seconds ?? 0) + (t?.nanos ?? 0) / 1e9;
const ms = (x: number) => `${(x * 1000).toFixed(0).padStart(6)} ms`;

// Event type numbers of temporal.api.enums.v1.EventType that matter here.
const NAMES: Record<number, string> = {
  1: 'WorkflowExecutionStarted',
  2: 'WorkflowExecutionCompleted',
  3: 'WorkflowExecutionFailed',
  5: 'WorkflowTaskScheduled',
  6: 'WorkflowTaskStarted',
  7: 'WorkflowTaskCompleted',
  10: 'ActivityTaskScheduled',
  11: 'ActivityTaskStarted',
  12: 'ActivityTaskCompleted',
  13: 'ActivityTaskFailed',
  25: 'MarkerRecorded',
  40: 'UpsertWorkflowSearchAttributes',
};

export interface Step {
  at: number;
  what: string;
}

/** Local activity markers carry their completion time in the marker's `data` payload. */
function markerDetail(e: Event): { type?: string; completed?: number } {
  const attrs = e.markerRecordedEventAttributes as { details?: Record<string, { payloads?: { data?: Uint8Array }[] }> } | undefined;
  const data = attrs?.details?.data?.payloads?.[0]?.data;
  if (!data) return {};
  try {
    const d = JSON.parse(Buffer.from(data).toString('utf8')) as { activityType?: string; activity_type?: string; completeTime?: unknown; complete_time?: unknown };
    const ct = (d.completeTime ?? d.complete_time) as { seconds?: number | string; nanos?: number } | string | undefined;
    const completed = typeof ct === 'string' ? Date.parse(ct) / 1000 : ct ? Number(ct.seconds ?? 0) + (ct.nanos ?? 0) / 1e9 : undefined;
    return { type: d.activityType ?? d.activity_type, completed };
  } catch {
    return {};
  }
}

/** The run's history as steps, offsets in seconds from the workflow's start; `start` is its wall-clock time. */
export async function timeline(client: WorkflowClient, runId: string): Promise<Step[]> {
  const history = await client.getHandle(runId).fetchHistory();
  const events = (history.events ?? []) as Event[];
  const t0 = seconds(events[0]?.eventTime);
  startTimes.set(runId, t0);
  const scheduled = new Map<string, string>();
  const steps: Step[] = [];
  for (const e of events) {
    const at = seconds(e.eventTime) - t0;
    const name = NAMES[e.eventType ?? 0] ?? `event ${e.eventType}`;
    let what = name;
    const id = String((e as { eventId?: unknown }).eventId ?? '');
    if (e.activityTaskScheduledEventAttributes) {
      const type = (e.activityTaskScheduledEventAttributes as { activityType?: { name?: string } }).activityType?.name ?? '?';
      scheduled.set(id, type);
      what = `${name} ${type}`;
    } else if (e.activityTaskStartedEventAttributes || e.activityTaskCompletedEventAttributes || e.activityTaskFailedEventAttributes) {
      const a = (e.activityTaskStartedEventAttributes ?? e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes) as { scheduledEventId?: unknown };
      what = `${name} ${scheduled.get(String(a.scheduledEventId)) ?? '?'}`;
    } else if (e.markerRecordedEventAttributes) {
      const m = markerDetail(e);
      what = m.type ? `local activity ${m.type}` : `marker ${(e.markerRecordedEventAttributes as { markerName?: string }).markerName ?? '?'}`;
      if (m.completed) {
        steps.push({ at: m.completed - t0, what: `${what} completed (worker clock)` });
        continue;
      }
    }
    steps.push({ at, what });
  }
  return steps.sort((a, b) => a.at - b.at);
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { json: { type: 'boolean', default: false } } });
  if (positionals.length === 0) {
    process.stderr.write('usage: node --import tsx bench/run-timeline.ts RUN_ID [RUN_ID…] [--json]\n');
    return 2;
  }
  const address = process.env.TEMPORAL_ADDRESS || `127.0.0.1:${process.env.REPRISE_TEMPORAL_PORT ?? '7233'}`;
  const connection = await Connection.connect({ address });
  try {
    const client = new WorkflowClient({ connection, namespace: process.env.TEMPORAL_NAMESPACE || 'default' });
    const all: Record<string, Step[]> = {};
    for (const id of positionals) all[id] = await timeline(client, id);
    if (values.json) {
      process.stdout.write(JSON.stringify(all, null, 2) + '\n');
      return 0;
    }
    for (const [id, steps] of Object.entries(all)) {
      process.stdout.write(`${id}\n`);
      let prev = 0;
      for (const s of steps) {
        process.stdout.write(`  ${ms(s.at)}  (+${ms(s.at - prev).trim()})  ${s.what}\n`);
        prev = s.at;
      }
    }
    if (positionals.length > 1) {
      // Median offset of each step (by its position and name) over the runs that have it.
      const keys = new Map<string, number[]>();
      for (const steps of Object.values(all)) {
        const seen = new Map<string, number>();
        for (const s of steps) {
          const n = (seen.get(s.what) ?? 0) + 1;
          seen.set(s.what, n);
          const k = `${s.what}#${n}`;
          keys.set(k, [...(keys.get(k) ?? []), s.at]);
        }
      }
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
      process.stdout.write(`\nmedian offsets over ${positionals.length} runs\n`);
      const rows = [...keys.entries()].map(([k, xs]) => ({ k, m: median(xs), n: xs.length })).sort((a, b) => a.m - b.m);
      let prev = 0;
      for (const r of rows) {
        process.stdout.write(`  ${ms(r.m)}  (+${ms(r.m - prev).trim()})  ${r.k.replace(/#1$/, '')}${r.n < positionals.length ? ` [${r.n} runs]` : ''}\n`);
        prev = r.m;
      }
    }
    return 0;
  } finally {
    await connection.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) process.exitCode = await main();
