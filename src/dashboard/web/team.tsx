import { useRef } from 'preact/hooks';
import { getJson, type TeamView } from './api.js';
import { commandText, when } from './format.js';
import { usePolled } from './hooks.js';

/** Team mode: every person's and worker's runs, filtered by person and worker (the filters live in the URL). */
export function TeamPage({ query }: { query: URLSearchParams }) {
  const params = new URLSearchParams();
  for (const k of ['person', 'worker']) if (query.get(k)) params.set(k, query.get(k)!);
  const key = params.toString();
  const team = usePolled(() => getJson<TeamView>(`/api/team?${key}`), key, 5000, (t) => t.team);
  // A changed filter keeps the last answer shown until the new one comes: the filters stay mounted and keep the focus.
  const last = useRef<TeamView>();
  if (team.data) last.current = team.data;
  const t = team.data ?? last.current;
  const onChange = (e: Event) => {
    const form = new FormData((e.currentTarget as HTMLSelectElement).form!);
    const next = new URLSearchParams();
    for (const k of ['person', 'worker']) if (form.get(k)) next.set(k, String(form.get(k)));
    location.hash = `#/team?${next.toString()}`;
  };
  return (
    <>
      <h1>Team</h1>
      {team.error && <p role="alert" class="error">{team.error}</p>}
      {t && !t.team && <p id="team-off">{t.hint}</p>}
      {t?.team && (
        <>
          <p>Runs of this project by every person and worker, from the team's Temporal at <code>{t.temporalAddress}</code> and the recorded history.</p>
          <form class="filters" role="search" aria-label="Filter the team's runs" onSubmit={(e) => e.preventDefault()}>
            <label>
              Person{' '}
              <select name="person" id="team-person" value={query.get('person') ?? ''} onChange={onChange}>
                <option value="">everyone</option>
                {t.people.map((p) => <option value={p} key={p}>{p}</option>)}
              </select>
            </label>
            <label>
              Worker{' '}
              <select name="worker" id="team-worker" value={query.get('worker') ?? ''} onChange={onChange}>
                <option value="">any</option>
                {t.workers.map((w) => <option value={w} key={w}>{w}</option>)}
              </select>
            </label>
          </form>
          {t.runs.length === 0 ? (
            <p>No run matches.</p>
          ) : (
            <div class="scroll">
              <table id="team-runs">
                <caption class="sr">The team's runs, live ones first</caption>
                <thead><tr><th scope="col">Run</th><th scope="col">Person</th><th scope="col">Worker</th><th scope="col">State</th><th scope="col">Backend</th><th scope="col">Started</th><th scope="col">Command</th></tr></thead>
                <tbody>
                  {t.runs.map((r) => (
                    <tr key={r.runId}>
                      <td><a href={`#/runs/${encodeURIComponent(r.runId)}`}>{r.runId}</a></td>
                      <td>{r.person ?? '—'}</td>
                      <td>{r.worker ?? '—'}</td>
                      <td class={`state ${r.state}`}>{r.state}{r.waiting ? ` (${r.waiting})` : ''}</td>
                      <td>{r.backend}</td>
                      <td>{when(r.at)}</td>
                      <td><code>{commandText(r.command)}</code></td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </>
      )}
    </>
  );
}
