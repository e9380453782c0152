import { useState } from 'preact/hooks';
import { act, getJson, type Session, type SweepView } from './api.js';
import { commandText } from './format.js';
import { usePolled } from './hooks.js';

/** A sweep's grid: one row per point, its parameters, state and exit code, each linking to its run. */
export function SweepPage({ sweepId, session }: { sweepId: string; session?: Session }) {
  const [metricForm, setMetricForm] = useState({ file: '', key: '' });
  const [metric, setMetric] = useState({ file: '', key: '' });
  const [sort, setSort] = useState<'asc' | 'desc' | undefined>();
  const query = metric.file ? `?metric=${encodeURIComponent(metric.file)}&key=${encodeURIComponent(metric.key)}` : '';
  const sweep = usePolled(() => getJson<SweepView>(`/api/sweeps/${encodeURIComponent(sweepId)}${query}`), `${sweepId}${query}`, 2000, (s) => !s.recorded);
  const [message, setMessage] = useState('');
  const [backend, setBackend] = useState('');
  const s = sweep.data;
  const names = Object.keys(s?.params ?? {});
  const order = (a: unknown, b: unknown) => (a === b ? 0 : a === null || a === undefined ? 1 : b === null || b === undefined ? -1 : (a < b ? -1 : 1) * (sort === 'desc' ? -1 : 1));
  const points = s ? (sort && metric.file ? [...s.points].sort((a, b) => order(a.metric, b.metric)) : s.points) : [];
  const metricName = metric.key ? `${metric.file} ${metric.key}` : metric.file;
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
          <form class="filters" onSubmit={(e) => (e.preventDefault(), setMetric(metricForm))}>
            <label>Metric file <input id="metric-file" value={metricForm.file} placeholder="output/result.json" onInput={(e) => setMetricForm({ ...metricForm, file: (e.currentTarget as HTMLInputElement).value })} /></label>
            <label>Key path <input id="metric-key" value={metricForm.key} placeholder="scores.f1" onInput={(e) => setMetricForm({ ...metricForm, key: (e.currentTarget as HTMLInputElement).value })} /></label>
            <button type="submit" id="metric-show">Show metric</button>
          </form>
          <div class="scroll">
            <table id="grid">
              <caption class="sr">Points of the sweep</caption>
              <thead>
                <tr>
                  <th scope="col">#</th>
                  {names.map((n) => <th scope="col" key={n}>{n}</th>)}
                  <th scope="col">State</th>
                  <th scope="col">Exit</th>
                  {metric.file && (
                    <th scope="col" aria-sort={sort === 'asc' ? 'ascending' : sort === 'desc' ? 'descending' : 'none'}>
                      <button type="button" id="metric-sort" onClick={() => setSort(sort === 'asc' ? 'desc' : 'asc')}>{metricName}{sort === 'asc' ? ' ▲' : sort === 'desc' ? ' ▼' : ''}</button>
                    </th>
                  )}
                  <th scope="col">Run</th>
                </tr>
              </thead>
              <tbody>
                {points.map((p) => (
                  <tr key={p.index}>
                    <td>{p.index}</td>
                    {names.map((n) => <td key={n}>{p.params[n]}</td>)}
                    <td class={`state ${p.state}`}>{p.state}</td>
                    <td>{p.exitCode ?? ''}</td>
                    {metric.file && <td class="metric">{p.metric === undefined || p.metric === null ? '—' : String(p.metric)}</td>}
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
