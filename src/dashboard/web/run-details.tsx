import { useState } from 'preact/hooks';
import { getJson, type EnvDiff, type RunView, type SourceDiff } from './api.js';
import { bytes, when } from './format.js';

const hours = (h: number | undefined) => (h === undefined ? 'not reported' : `${h < 0.01 ? h.toPrecision(2) : h.toFixed(2)} h`);
const duration = (s: number) => (s < 120 ? `${s.toFixed(1)} s` : s < 7200 ? `${(s / 60).toFixed(1)} min` : `${(s / 3600).toFixed(2)} h`);

/** Where a pool placed the run: each backend tried, in order, and why it moved on. */
export function Placement({ run }: { run: RunView }) {
  if (!run.placement) return null;
  return (
    <section aria-labelledby="place-h">
      <h2 id="place-h">Placement on pool {run.placement.pool}</h2>
      <ol id="placement">
        {run.placement.trail.map((t) => (
          <li key={`${t.backend}-${t.at}`}>
            {t.backend}: {t.outcome}
            {t.jobId ? `, job ${t.jobId}` : ''}
            {t.reason ? ` (${t.reason})` : ''} at {when(t.at)}
          </li>
        ))}
      </ol>
    </section>
  );
}

/** The states the run passed, with their times (runs recorded before timelines: start and finish only). */
export function Timeline({ run }: { run: RunView }) {
  if (!run.timeline) return null;
  return (
    <section aria-labelledby="time-h">
      <h2 id="time-h">Timeline</h2>
      <ol id="timeline">
        {run.timeline.entries.map((e, i) => (
          <li key={i}>
            <strong>{e.state}</strong> {when(e.at)}
            {e.reason ? `: ${e.reason}` : ''}
          </li>
        ))}
      </ol>
      {!run.timeline.complete && <p>Recorded before Reprise kept timelines: only its start and finish are known.</p>}
    </section>
  );
}

/** Resources asked and what they came to. */
export function Resources({ run }: { run: RunView }) {
  if (!run.usage) return null;
  const asked = Object.entries(run.resources ?? {}).map(([k, v]) => (k === 'memoryBytes' ? `memory ${bytes(Number(v))}` : k === 'timeSeconds' ? `time ${duration(Number(v))}` : `${k} ${v}`));
  const kind = typeof run.backend === 'object' ? run.backend.kind : 'the backend';
  return (
    <section aria-labelledby="res-h">
      <h2 id="res-h">Resources</h2>
      <dl class="facts" id="resources">
        <dt>Asked</dt><dd>{asked.join(', ') || "the backend's defaults"}</dd>
        <dt>Wall time</dt><dd id="wall">{duration(run.usage.wallSeconds)}</dd>
        <dt>Core-hours asked</dt><dd id="core-hours">{run.usage.coreHours === undefined ? 'no cpus asked' : `${hours(run.usage.coreHours)} (cpus asked × wall time)`}</dd>
        <dt>GPU-hours asked</dt><dd id="gpu-hours">{run.usage.gpuHours === undefined ? 'none asked' : `${hours(run.usage.gpuHours)} (gpus asked × wall time)`}</dd>
        {run.used ? <Used used={run.used} /> : <><dt>Measured use</dt><dd id="used">not reported (the {kind} backend did not measure this run)</dd></>}
      </dl>
    </section>
  );
}

/** What the backend measured the job using, with where the figures come from. */
function Used({ used }: { used: NonNullable<RunView['used']> }) {
  return (
    <>
      <dt>Measured by</dt><dd id="used">{used.source}</dd>
      <dt>Wall time used</dt><dd id="used-wall">{duration(used.wallSeconds)}</dd>
      {used.cpuSeconds !== undefined && <><dt>CPU time used</dt><dd id="used-cpu">{duration(used.cpuSeconds)}</dd></>}
      {used.coreHours !== undefined && <><dt>Core-hours used</dt><dd id="used-core-hours">{hours(used.coreHours)}</dd></>}
      {used.gpuHours !== undefined && <><dt>GPU-hours used</dt><dd id="used-gpu-hours">{hours(used.gpuHours)}</dd></>}
      {used.peakMemoryBytes !== undefined && <><dt>Peak memory</dt><dd id="used-memory">{bytes(used.peakMemoryBytes)}</dd></>}
    </>
  );
}

/** A diff or comparison loaded on demand against another run (default: the one recorded before). */
function useCompare<T>(path: (against: string) => string) {
  const [result, setResult] = useState<{ data?: T; error?: string }>();
  const load = (against: string) => {
    setResult({});
    getJson<T>(path(against)).then((data) => setResult({ data }), (err: Error) => setResult({ error: err.message }));
  };
  return [result, load] as const;
}

const againstQuery = (against: string) => (against ? `?against=${encodeURIComponent(against)}` : '');

/** The source commit, and what changed in the sources since the run before it (or another run). */
export function Source({ run }: { run: RunView }) {
  const id = encodeURIComponent(run.runId);
  const [diff, load] = useCompare<SourceDiff>((against) => `/api/runs/${id}/source-diff${againstQuery(against)}`);
  if (!run.sourceCommit) return null;
  return (
    <section aria-labelledby="src-h">
      <h2 id="src-h">Source</h2>
      <p>
        Commit <code>{run.sourceCommit}</code>{' '}
        {run.parentRun ? (
          <button type="button" id="source-diff" onClick={() => load('')}>Diff against parent run {run.parentRun}</button>
        ) : (
          '(no earlier run on this branch)'
        )}
      </p>
      {diff?.error && <p role="alert" class="error">{diff.error}</p>}
      {diff?.data && (
        <>
          <p>
            From <a href={`#/runs/${diff.data.against}`}>{diff.data.against}</a> (<code>{diff.data.from.slice(0, 12)}</code>) to this run (<code>{diff.data.to.slice(0, 12)}</code>)
            {diff.data.truncated ? ': cut, it is long' : ''}
          </p>
          <pre id="diff" tabIndex={0} aria-label="source diff">{diff.data.diff || '(the sources are the same)'}</pre>
        </>
      )}
    </section>
  );
}

/** The environment lock, and `reprise env diff` against another run. */
export function Environment({ run }: { run: RunView }) {
  const id = encodeURIComponent(run.runId);
  const [other, setOther] = useState('');
  const [diff, load] = useCompare<EnvDiff>((against) => `/api/runs/${id}/env-diff${againstQuery(against)}`);
  return (
    <section aria-labelledby="env-h">
      <h2 id="env-h">Environment</h2>
      <p>{run.environmentLock ? <>Lock <code>{run.environmentLock.path}</code> sha256 <code>{run.environmentLock.sha256.slice(0, 16)}</code></> : 'No environment lock (recorded before Reprise captured locks).'}</p>
      <form onSubmit={(e) => (e.preventDefault(), load(other.trim()))}>
        <label>Compare with run <input id="env-against" value={other} onInput={(e) => setOther((e.currentTarget as HTMLInputElement).value)} placeholder={run.parentRun ?? 'run-…'} size={18} /></label>{' '}
        <button type="submit" id="env-diff">Environment diff</button>
      </form>
      {diff?.error && <p role="alert" class="error">{diff.error}</p>}
      {diff?.data && (
        <div id="env-result">
          {diff.data.base && <p>Base image {diff.data.base.from} → {diff.data.base.to}</p>}
          {diff.data.packages.length === 0 ? (
            <p>No package differs between {diff.data.a} and {diff.data.b}.</p>
          ) : (
            <div class="scroll">
              <table>
                <caption class="sr">Packages that differ</caption>
                <thead><tr><th scope="col">Manager</th><th scope="col">Package</th><th scope="col">Change</th><th scope="col">{diff.data.a}</th><th scope="col">{diff.data.b}</th></tr></thead>
                <tbody>
                  {diff.data.packages.map((p) => (
                    <tr key={`${p.manager}/${p.name}`}><td>{p.manager}</td><td>{p.name}</td><td>{p.change}</td><td>{p.from ?? '-'}</td><td>{p.to ?? '-'}</td></tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </div>
      )}
    </section>
  );
}

/** Tracked data the run read and the large outputs it wrote, by digest. */
export function Data({ run }: { run: RunView }) {
  if (!run.recorded) return null;
  const groups = [['inputs', run.data?.inputs ?? []], ['outputs', run.data?.outputs ?? []]] as const;
  return (
    <section aria-labelledby="data-h">
      <h2 id="data-h">Data</h2>
      {!run.data || groups.every(([, refs]) => refs.length === 0) ? (
        <p id="data-none">No tracked data read or written.</p>
      ) : (
        groups.map(([what, refs]) =>
          refs.length === 0 ? null : (
            <div class="scroll" key={what}>
              <table id={`data-${what}`}>
                <caption>Data {what}</caption>
                <thead><tr><th scope="col">Path</th><th scope="col">Size</th><th scope="col">md5</th></tr></thead>
                <tbody>
                  {refs.map((d) => (
                    <tr key={d.path}><td>{d.path}</td><td>{bytes(d.size)}</td><td><code>{d.md5}</code></td></tr>
                  ))}
                </tbody>
              </table>
            </div>
          ),
        )
      )}
    </section>
  );
}
