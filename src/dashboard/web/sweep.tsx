import { useState } from 'preact/hooks';
import { act, getJson, type Session, type SweepView } from './api.js';
import { commandText } from './format.js';
import { usePolled } from './hooks.js';

/** A sweep's grid: one row per point, its parameters, state and exit code, each linking to its run. */
export function SweepPage({ sweepId, session }: { sweepId: string; session?: Session }) {
  const sweep = usePolled(() => getJson<SweepView>(`/api/sweeps/${encodeURIComponent(sweepId)}`), sweepId, 2000, (s) => !s.recorded);
  const [message, setMessage] = useState('');
  const [backend, setBackend] = useState('');
  const s = sweep.data;
  const names = Object.keys(s?.params ?? {});
  return (
    <>
      <h1>Sweep {sweepId}</h1>
      {sweep.error && <p role="alert" class="error">{sweep.error}</p>}
      {s && (
        <>
          <dl class="facts">
            <dt>State</dt><dd class={`state ${s.state}`}>{s.state}</dd>
            <dt>Command</dt><dd><code>{commandText(s.template)}</code></dd>
            <dt>Points</dt><dd>{s.points.length}</dd>
          </dl>
          {session?.loggedIn && !s.recorded && (
            <p>
              <button type="button" onClick={() => act(`/api/sweeps/${encodeURIComponent(sweepId)}/cancel`).then((r) => setMessage(`${r.id}: ${r.state}`), (e: Error) => setMessage(e.message))}>Cancel sweep</button>{' '}
              <span role="status">{message}</span>
            </p>
          )}
          {session?.loggedIn && s.recorded && s.points.some((p) => p.state !== 'succeeded') && (
            <form
              onSubmit={(e) => {
                e.preventDefault();
                setMessage('working…');
                act(`/api/sweeps/${encodeURIComponent(sweepId)}/retry`, backend ? { backend } : {}).then((r) => (location.hash = `#/sweeps/${r.id}`), (err: Error) => setMessage(err.message));
              }}
            >
              <label>Backend <input id="retry-backend" value={backend} onInput={(e) => setBackend((e.currentTarget as HTMLInputElement).value)} size={12} /></label>{' '}
              <button type="submit" id="retry">Retry the points that did not succeed</button>{' '}
              <span role="status">{message}</span>
            </form>
          )}
          <div class="scroll">
            <table id="grid">
              <caption class="sr">Points of the sweep</caption>
              <thead>
                <tr>
                  <th scope="col">#</th>
                  {names.map((n) => <th scope="col" key={n}>{n}</th>)}
                  <th scope="col">State</th>
                  <th scope="col">Exit</th>
                  <th scope="col">Run</th>
                </tr>
              </thead>
              <tbody>
                {s.points.map((p) => (
                  <tr key={p.index}>
                    <td>{p.index}</td>
                    {names.map((n) => <td key={n}>{p.params[n]}</td>)}
                    <td class={`state ${p.state}`}>{p.state}</td>
                    <td>{p.exitCode ?? ''}</td>
                    <td>{p.state === 'not-started' ? p.runId : <a href={`#/runs/${p.runId}`}>{p.runId}</a>}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </>
  );
}
