import { useState } from 'preact/hooks';
import { act, getJson, type LabView, type Session } from './api.js';
import { usePolled } from './hooks.js';

interface Execution {
  n: number;
  code: string;
  status: string;
  duration: number;
  images: string[];
  stdout?: string;
  stderr?: string;
  result?: string;
  error?: string;
}

/** A lab session: its file changes and executed cells with their outputs and images. */
export function LabPage({ labId, session }: { labId: string; session?: Session }) {
  const lab = usePolled(() => getJson<LabView>(`/api/labs/${encodeURIComponent(labId)}`), labId, 5000);
  const [message, setMessage] = useState('');
  const v = lab.data;
  const executions = (v?.executions ?? []) as Execution[];
  return (
    <>
      <h1>Lab {labId}</h1>
      {lab.error && <p role="alert" class="error">{lab.error}</p>}
      {v && (
        <>
          <p class={`state ${v.state}`}>{v.state}: {v.app}, {executions.length} cells, {v.files.length} file changes</p>
          {session?.loggedIn && v.state === 'running' && (
            <p>
              <button type="button" onClick={() => act(`/api/labs/${encodeURIComponent(labId)}/stop`).then((r) => setMessage(`${r.id}: ${r.state}`), (e: Error) => setMessage(e.message))}>Stop lab</button>{' '}
              <span role="status">{message}</span>
            </p>
          )}
          <h2>File changes</h2>
          <ul>{v.files.map((f) => <li key={f.path}>{f.change} <code>{f.path}</code></li>)}</ul>
          <h2>Cells</h2>
          <ol class="cells">
            {executions.map((e) => (
              <li key={e.n}>
                <p class={e.status === 'ok' ? 'state succeeded' : 'state failed'}>[{e.n}] {e.status}{e.error ? ` ${e.error}` : ''}, {e.duration.toFixed(2)} s</p>
                <pre class="cellcode" tabIndex={0} aria-label={`code of cell ${e.n}`}>{e.code}</pre>
                {[e.stdout, e.stderr, e.result].some(Boolean) && <pre class="celltext" tabIndex={0} aria-label={`output of cell ${e.n}`}>{[e.stdout, e.stderr, e.result].filter(Boolean).join('\n')}</pre>}
                {e.images.map((img) => (
                  <img key={img} class="output" alt={`cell ${e.n} image ${img}`} src={`/api/labs/${encodeURIComponent(labId)}/images/${encodeURIComponent(img.split('/').pop()!)}`} />
                ))}
              </li>
            ))}
          </ol>
        </>
      )}
    </>
  );
}
