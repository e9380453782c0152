import { useEffect, useState } from 'preact/hooks';
import { getJson, type BackendCheckView, type BackendList, type BackendView } from './api.js';
import { commandText, when } from './format.js';
import { usePolled } from './hooks.js';

type Check = { state: 'checking' } | { state: 'done'; result: BackendCheckView } | { state: 'error'; message: string };

/** Each backend's check, asked for all at once: a slow one (SSH) holds back only its own cell. */
function useChecks(names: string[], round: number): Record<string, Check> {
  const [checks, setChecks] = useState<Record<string, Check>>({});
  const key = names.join('\n');
  useEffect(() => {
    let stopped = false;
    setChecks(Object.fromEntries(names.map((n) => [n, { state: 'checking' }])));
    for (const name of names) {
      getJson<BackendCheckView>(`/api/backends/${encodeURIComponent(name)}/check`).then(
        (result) => !stopped && setChecks((c) => ({ ...c, [name]: { state: 'done', result } })),
        (err: Error) => !stopped && setChecks((c) => ({ ...c, [name]: { state: 'error', message: err.message } })),
      );
    }
    return () => void (stopped = true);
  }, [key, round]);
  return checks;
}

function CheckCell({ check }: { check?: Check }) {
  if (!check || check.state === 'checking') return <span class="muted">checking…</span>;
  if (check.state === 'error') return <span class="error">{check.message}</span>;
  const r = check.result;
  if ('members' in r) return <span class={r.ok ? 'state succeeded' : 'error'}>{r.ok ? 'ok: every member answers' : `${r.members.filter((m) => !m.ok).length} of ${r.members.length} members unreachable`}</span>;
  if (!r.ok) return <span class="error">unreachable: {r.error}</span>;
  return (
    <span>
      <span class="state succeeded">ok</span>, version <span class="version">{r.version}</span>
      {Object.keys(r.details).length > 0 && <span class="muted">; {Object.entries(r.details).map(([k, v]) => `${k} ${v}`).join(', ')}</span>}
    </span>
  );
}

function Queue({ b }: { b: BackendView }) {
  if (b.running.length + b.pending.length === 0) return <p class="muted">No run of this project is running or pending here.</p>;
  return (
    <ul class="queue">
      {b.running.map((r) => (
        <li key={r.runId}>
          <a href={`#/runs/${encodeURIComponent(r.runId)}`}>{r.runId}</a> <span class={`state ${r.state}`}>{r.state}</span> <code>{commandText(r.command)}</code> <span class="muted">since {when(r.startTime)}</span>
        </li>
      ))}
      {b.pending.map((r) => (
        <li key={r.runId}>
          <a href={`#/runs/${encodeURIComponent(r.runId)}`}>{r.runId}</a> <span class="state pending">{r.waiting ? `pending: ${r.waiting}` : `pending (${r.state})`}</span> <code>{commandText(r.command)}</code>
        </li>
      ))}
    </ul>
  );
}

/** Every configured backend: its check (asked for concurrently, each bounded), queue, slots and pool members. */
export function BackendsPage() {
  const list = usePolled(() => getJson<BackendList>('/api/backends'), 'backends', 5000);
  const [round, setRound] = useState(0);
  const names = (list.data?.backends ?? []).map((b) => b.name);
  const checks = useChecks(names, round);
  return (
    <>
      <h1>Backends</h1>
      <p>
        <button type="button" id="recheck" onClick={() => setRound((n) => n + 1)}>Check again</button>
      </p>
      {list.error && <p role="alert" class="error">{list.error}</p>}
      {list.data?.configError && <p role="alert" class="error">config.yaml: {list.data.configError}</p>}
      {!list.data && !list.error && <p>Loading…</p>}
      {list.data?.backends.map((b) => (
        <section class="backend" id={`backend-${b.name}`} key={b.name} aria-labelledby={`backend-h-${b.name}`}>
          <h2 id={`backend-h-${b.name}`}>{b.name} <span class="muted">({b.kind})</span></h2>
          <dl class="facts">
            <dt>Check</dt>
            <dd class="check" aria-live="polite"><CheckCell check={checks[b.name]} /></dd>
            <dt>Settings</dt>
            <dd>{b.settings || '—'}</dd>
            {b.slots && (
              <>
                <dt>Slots</dt>
                <dd class="slots">{b.slots.inUse} of {b.slots.limit} in use{b.slots.waiting ? `, ${b.slots.waiting} waiting` : ''} <span class="muted">({b.slots.scope})</span></dd>
              </>
            )}
            {b.members && (
              <>
                <dt>Members</dt>
                <dd class="members">
                  {b.members.map((m, i) => {
                    const check = checks[b.name];
                    const member = check?.state === 'done' && 'members' in check.result ? check.result.members.find((x) => x.name === m) : undefined;
                    return (
                      <span key={m}>
                        {i > 0 && ' → '}
                        <a href={`#/backends?b=${encodeURIComponent(m)}`} onClick={(e) => (e.preventDefault(), document.getElementById(`backend-h-${m}`)?.scrollIntoView())}>{m}</a>
                        {member && (member.ok ? ' (ok)' : ` (unreachable: ${member.error})`)}
                      </span>
                    );
                  })}
                </dd>
              </>
            )}
            {b.poolsOf.length > 0 && (
              <>
                <dt>In pools</dt>
                <dd>{b.poolsOf.join(', ')}</dd>
              </>
            )}
          </dl>
          <h3 class="queue-h">Queue</h3>
          <Queue b={b} />
        </section>
      ))}
    </>
  );
}
