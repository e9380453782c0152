import { useEffect, useRef, useState } from 'preact/hooks';
import { keepTail } from './log-tail.js';

/** How often new output is drawn: a flood of events costs one layout per tick, not one per event. */
const DRAW_MS = 100;

/**
 * A run's log, streamed from the server (server-sent events) while it runs. The page keeps its
 * last lines (log-tail.ts) and says how many came before, so the tab stays small and responsive.
 */
export function LogView({ runId, onEnd }: { runId: string; onEnd: () => void }) {
  const [shown, setShown] = useState({ text: '', droppedLines: 0 });
  const [status, setStatus] = useState('connecting');
  const pre = useRef<HTMLPreElement>(null);
  useEffect(() => {
    // The tail lives outside state: events trim it as they come (a hidden tab's timers are slowed), a timer draws it.
    const tail = { text: '', droppedLines: 0 };
    let timer: number | undefined;
    const draw = () => {
      window.clearTimeout(timer);
      timer = undefined;
      setShown({ ...tail });
    };
    setShown({ ...tail });
    const source = new EventSource(`/api/runs/${encodeURIComponent(runId)}/log/stream`);
    source.addEventListener('open', () => setStatus('streaming'));
    source.addEventListener('log', (e) => {
      const next = keepTail(tail.text + (JSON.parse((e as MessageEvent<string>).data) as string));
      tail.text = next.kept;
      tail.droppedLines += next.droppedLines;
      timer ??= window.setTimeout(draw, DRAW_MS);
    });
    source.addEventListener('end', (e) => {
      const end = JSON.parse((e as MessageEvent<string>).data) as { state: string };
      draw();
      setStatus(`ended: ${end.state}`);
      source.close();
      onEnd();
    });
    // A dropped connection is not retried: a retry would send the log again from its start.
    source.addEventListener('error', () => {
      if (source.readyState !== EventSource.CLOSED) setStatus('connection lost; reload to follow again');
      draw();
      source.close();
    });
    return () => {
      window.clearTimeout(timer);
      source.close();
    };
  }, [runId]);
  useEffect(() => {
    const el = pre.current;
    if (el && el.scrollHeight - el.scrollTop - el.clientHeight < 80) el.scrollTop = el.scrollHeight;
  }, [shown]);
  return (
    <section aria-labelledby="log-h">
      <h2 id="log-h">Log <small id="log-status">({status})</small></h2>
      {shown.droppedLines > 0 && (
        <p id="log-dropped" class="muted">
          {shown.droppedLines} earlier {shown.droppedLines === 1 ? 'line is' : 'lines are'} not kept on this page; the whole log: <code>reprise logs {runId}</code>
        </p>
      )}
      <pre id="log" ref={pre} tabIndex={0} aria-label={`log of ${runId}`}>{shown.text || '(no output yet)'}</pre>
    </section>
  );
}
