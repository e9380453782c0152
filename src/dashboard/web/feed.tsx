import { getJson, type ActivityPage, type LiveRun } from './api.js';
import { commandText, when } from './format.js';
import { usePolled } from './hooks.js';

const STATES = ['', 'queued', 'preparing', 'submitted', 'running', 'collecting', 'succeeded', 'reused', 'failed', 'cancelled', 'stopped'];
const FILTERS = ['backend', 'state', 'branch', 'q', 'offset'] as const;
const hrefOf = (kind: string, id: string) => `#/${kind}s/${encodeURIComponent(id)}`;

function setQuery(query: URLSearchParams, change: Record<string, string>) {
  const next = new URLSearchParams(query);
  for (const [k, v] of Object.entries(change)) if (v) next.set(k, v);
  else next.delete(k);
  location.hash = `#/?${next.toString()}`;
}

/** The feed: live runs, then runs, sweeps and labs newest first, paged and filtered (the filters live in the URL). */
export function FeedView({ query }: { query: URLSearchParams }) {
  const params = new URLSearchParams();
  for (const k of FILTERS) if (query.get(k)) params.set(k, query.get(k)!);
  const key = params.toString();
  const page = usePolled(() => getJson<ActivityPage>(`/api/activity?${key}`), key, 3000);
  const live = usePolled(() => getJson<LiveRun[]>('/api/runs'), 'runs', 3000);
  const running = (live.data ?? []).filter((r) => !['succeeded', 'reused', 'failed', 'cancelled', 'completed', 'terminated'].includes(r.state));
  const onSubmit = (e: Event) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget as HTMLFormElement);
    setQuery(query, { backend: String(form.get('backend') ?? ''), state: String(form.get('state') ?? ''), branch: String(form.get('branch') ?? ''), q: String(form.get('q') ?? ''), offset: '' });
  };
  const p = page.data;
  return (
    <>
      <h1>Activity</h1>
      <section aria-labelledby="live-h">
        <h2 id="live-h">Running now</h2>
        {running.length === 0 ? (
          <p>No run is running.</p>
        ) : (
          <div class="scroll">
            <table id="runs">
              <caption class="sr">Runs in progress</caption>
              <thead><tr><th scope="col">Run</th><th scope="col">State</th><th scope="col">Backend</th><th scope="col">Started</th><th scope="col">Command</th></tr></thead>
              <tbody>
                {running.map((r) => (
                  <tr key={r.runId}>
                    <td><a href={hrefOf('run', r.runId)}>{r.runId}</a></td>
                    <td class={`state ${r.state}`}>{r.state}{r.waiting ? ` (${r.waiting})` : ''}</td>
                    <td>{r.backend}</td>
                    <td>{when(r.startTime)}</td>
                    <td><code>{commandText(r.command)}</code></td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      <section aria-labelledby="feed-h">
        <h2 id="feed-h">Recorded</h2>
        <form class="filters" onSubmit={onSubmit} role="search" aria-label="Filter the feed" key={key}>
          <label>Backend <input name="backend" defaultValue={query.get('backend') ?? ''} size={10} /></label>
          <label>
            State{' '}
            <select name="state" defaultValue={query.get('state') ?? ''}>
              {STATES.map((s) => <option value={s} key={s}>{s || 'any'}</option>)}
            </select>
          </label>
          <label>Branch <input name="branch" defaultValue={query.get('branch') ?? ''} placeholder={p?.branch} size={10} /></label>
          <label>Text <input name="q" type="search" defaultValue={query.get('q') ?? ''} size={14} /></label>
          <button type="submit">Filter</button>
        </form>
        {page.error && <p role="alert" class="error">{page.error}</p>}
        {p && (
          <>
            <div class="scroll">
              <table id="feed">
                <caption class="sr">Runs, sweeps and labs, newest first</caption>
                <thead><tr><th scope="col">What</th><th scope="col">Id</th><th scope="col">State</th><th scope="col">Exit</th><th scope="col">Backend</th><th scope="col">At</th><th scope="col">Command</th></tr></thead>
                <tbody>
                  {p.items.map((i) => (
                    <tr key={i.kind + i.id}>
                      <td>{i.kind}</td>
                      <td><a href={hrefOf(i.kind, i.id)} aria-label={`${i.kind} ${i.id}`}>{i.id}</a></td>
                      <td class={`state ${i.state}`}>{i.state}</td>
                      <td>{i.exitCode ?? ''}</td>
                      <td>{i.backend}</td>
                      <td>{when(i.at)}</td>
                      <td><code>{i.summary ?? commandText(i.command)}</code></td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <nav class="pager" aria-label="Pages">
              <button type="button" disabled={p.offset === 0} onClick={() => setQuery(query, { offset: String(Math.max(0, p.offset - p.limit)) })}>Newer</button>
              <span>{p.total === 0 ? 'nothing recorded matches' : `${p.offset + 1}–${Math.min(p.offset + p.limit, p.total)} of ${p.total}`}</span>
              <button type="button" disabled={p.offset + p.limit >= p.total} onClick={() => setQuery(query, { offset: String(p.offset + p.limit) })}>Older</button>
            </nav>
          </>
        )}
      </section>
    </>
  );
}
