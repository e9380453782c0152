import { useEffect, useRef, useState } from 'preact/hooks';

/** Characters of log the page keeps: a run printing without end cannot grow the page without end. */
const KEEP = 200_000;

/** A run's log, streamed from the server (server-sent events) while it runs; the oldest text is let go past KEEP. */
export function LogView({ runId, onEnd }: { runId: string; onEnd: () => void }) {
  const [text, setText] = useState('');
  const [status, setStatus] = useState('connecting');
  const pre = useRef<HTMLPreElement>(null);
  useEffect(() => {
    setText('');
    const source = new EventSource(`/api/runs/${encodeURIComponent(runId)}/log/stream`);
    let dropped = 0;
    source.addEventListener('open', () => setStatus('streaming'));
    source.addEventListener('log', (e) => {
      const chunk = JSON.parse((e as MessageEvent<string>).data) as string;
      setText((t) => {
        const all = t + chunk;
        if (all.length <= KEEP) return all;
        dropped += all.length - KEEP;
        return all.slice(all.length - KEEP);
      });
    });
    source.addEventListener('end', (e) => {
      const end = JSON.parse((e as MessageEvent<string>).data) as { state: string };
      setStatus(`ended: ${end.state}${dropped ? ` (the first ${dropped} characters are not kept here)` : ''}`);
      source.close();
      onEnd();
    });
    // A dropped connection is not retried: a retry would send the log again from its start.
    source.addEventListener('error', () => {
      if (source.readyState !== EventSource.CLOSED) setStatus('connection lost; reload to follow again');
      source.close();
    });
    return () => source.close();
  }, [runId]);
  useEffect(() => {
    const el = pre.current;
    if (el && el.scrollHeight - el.scrollTop - el.clientHeight < 80) el.scrollTop = el.scrollHeight;
  }, [text]);
  return (
    <section aria-labelledby="log-h">
      <h2 id="log-h">Log <small id="log-status">({status})</small></h2>
      <pre id="log" ref={pre} tabIndex={0} aria-label={`log of ${runId}`}>{text || '(no output yet)'}</pre>
    </section>
  );
}
