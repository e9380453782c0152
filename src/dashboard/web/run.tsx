import { useState } from 'preact/hooks';
import { act, getJson, type FileDigest, type RunView, type Session } from './api.js';
import { bytes, commandText, ext, when } from './format.js';
import { usePolled } from './hooks.js';
import { LogView } from './log-view.js';
import { Data, Environment, Placement, Resources, Source, Timeline } from './run-details.js';

const IMAGES = new Set(['png', 'svg', 'jpg', 'jpeg']);
const PREVIEWS = new Set(['csv', 'json', 'txt']);
const PREVIEW_MAX = 256 * 1024;

const outputUrl = (runId: string, path: string) => `/api/runs/${encodeURIComponent(runId)}/output?path=${encodeURIComponent(path)}`;

function Preview({ runId, file }: { runId: string; file: FileDigest }) {
  const [text, setText] = useState<string>();
  if (text === undefined) {
    void fetch(outputUrl(runId, file.path)).then((r) => r.text()).then((t) => setText(t.split('\n').slice(0, 30).join('\n')), () => setText('(could not load)'));
  }
  return <pre class="preview" tabIndex={0} aria-label={`first lines of ${file.path}`}>{text ?? '…'}</pre>;
}

function Outputs({ run }: { run: RunView }) {
  const files = (run.outputs ?? []) as FileDigest[];
  if (files.length === 0) return <p>No output files.</p>;
  return (
    <>
      <div class="scroll">
        <table id="outputs">
          <caption class="sr">Output files</caption>
          <thead><tr><th scope="col">File</th><th scope="col">Size</th><th scope="col">sha256</th></tr></thead>
          <tbody>
            {files.map((f) => (
              <tr key={f.path}>
                <td><a href={outputUrl(run.runId, f.path)}>{f.path}</a></td>
                <td>{bytes(f.size)}</td>
                <td><code>{f.sha256.slice(0, 16)}</code></td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {files.filter((f) => IMAGES.has(ext(f.path))).map((f) => (
        <figure key={f.path}>
          <img class="output" src={outputUrl(run.runId, f.path)} alt={`output image ${f.path}`} />
          <figcaption>{f.path}</figcaption>
        </figure>
      ))}
      {files.filter((f) => PREVIEWS.has(ext(f.path)) && f.size <= PREVIEW_MAX).map((f) => (
        <details key={f.path}>
          <summary>Preview {f.path}</summary>
          <Preview runId={run.runId} file={f} />
        </details>
      ))}
    </>
  );
}

function Actions({ run, session }: { run: RunView; session?: Session }) {
  const [message, setMessage] = useState('');
  const [backend, setBackend] = useState('');
  if (!session?.loggedIn) return null;
  const doing = (what: Promise<{ id: string; state: string }>, then?: (id: string) => void) => {
    setMessage('working…');
    what.then(
      (r) => {
        setMessage(`${r.id}: ${r.state}`);
        then?.(r.id);
      },
      (err: Error) => setMessage(err.message),
    );
  };
  const id = encodeURIComponent(run.runId);
  return (
    <section aria-labelledby="act-h" class="actions">
      <h2 id="act-h">Actions</h2>
      {!run.recorded && <button type="button" id="cancel" onClick={() => doing(act(`/api/runs/${id}/cancel`))}>Cancel run</button>}
      {run.recorded && (
        <form onSubmit={(e) => (e.preventDefault(), doing(act(`/api/runs/${id}/rerun`, backend ? { backend } : {}), (newId) => (location.hash = `#/runs/${newId}`)))}>
          <label>Backend <input id="rerun-backend" value={backend} onInput={(e) => setBackend((e.currentTarget as HTMLInputElement).value)} placeholder={typeof run.backend === 'object' ? run.backend.name : ''} size={12} /></label>{' '}
          <button type="submit" id="rerun">Rerun</button>{' '}
          <button type="button" id="verify" onClick={() => doing(act(`/api/runs/${id}/verify`, backend ? { backend } : {}), (newId) => (location.hash = `#/runs/${newId}`))}>Verify (rerun and compare outputs)</button>
        </form>
      )}
      <p role="status">{message}</p>
    </section>
  );
}

/** One run: what ran where, its outputs (images inline, CSV/JSON previews) and its log, live while it runs. */
export function RunPage({ runId, session }: { runId: string; session?: Session }) {
  const [ended, setEnded] = useState(0);
  const run = usePolled(() => getJson<RunView>(`/api/runs/${encodeURIComponent(runId)}`), runId, 2000, (r) => !r.recorded, ended);
  const r = run.data;
  const backend = typeof r?.backend === 'object' ? `${r.backend.name} (${r.backend.kind})${r.backend.jobId ? `, job ${r.backend.jobId}` : ''}` : (r?.backend ?? '');
  return (
    <>
      <h1>Run {runId}</h1>
      {run.error && <p role="alert" class="error">{run.error}</p>}
      {r && (
        <dl class="facts">
          <dt>State</dt><dd id="run-state" class={`state ${r.state}`}>{r.state}{r.reason ? ` (${r.reason})` : ''}</dd>
          <dt>Command</dt><dd><code>{commandText(r.command ?? [])}</code></dd>
          <dt>Backend</dt><dd>{backend}</dd>
          {r.exitCode !== undefined && (<><dt>Exit code</dt><dd id="run-exit">{r.exitCode}</dd></>)}
          {r.image?.digest && (<><dt>Image</dt><dd><code>{r.image.digest}</code>{r.image.reference ? <> · <code>{r.image.reference}</code></> : null}</dd></>)}
          {r.worker && (<><dt>Worker</dt><dd>{r.worker}</dd></>)}
          {r.startedAt && (<><dt>Time</dt><dd>{when(r.startedAt)} → {when(r.finishedAt)}</dd></>)}
          {r.commit && (<><dt>Recorded in</dt><dd><code>{r.commit}</code></dd></>)}
          {r.reusedFrom && (<><dt>Reused</dt><dd>not executed: the outputs of <a href={`#/runs/${r.reusedFrom}`}>{r.reusedFrom}</a> (same key)</dd></>)}
          {r.rerunOf && (<><dt>Rerun of</dt><dd><a href={`#/runs/${r.rerunOf}`}>{r.rerunOf}</a>{r.verification ? (r.verification.identical ? ': outputs reproduced' : `: NOT reproduced (${r.verification.files.filter((f) => f.verdict !== 'same').map((f) => `${f.path} ${f.verdict}`).join(', ')})`) : ''}</dd></>)}
        </dl>
      )}
      {r && <Actions run={r} session={session} />}
      {r?.recorded && (
        <section aria-labelledby="out-h">
          <h2 id="out-h">Outputs</h2>
          <Outputs run={r} />
        </section>
      )}
      {r?.verification && (
        <section aria-labelledby="verify-h">
          <h2 id="verify-h">Verification against {r.rerunOf}</h2>
          <table id="verification">
            <caption class="sr">Each output compared with the original run's</caption>
            <thead><tr><th scope="col">Output</th><th scope="col">Verdict</th></tr></thead>
            <tbody>{r.verification.files.map((f) => <tr key={f.path}><td>{f.path}</td><td class={f.verdict === 'same' ? 'state succeeded' : 'state failed'}>{f.verdict}</td></tr>)}</tbody>
          </table>
        </section>
      )}
      {r && <Placement run={r} />}
      {r?.recorded && (
        <>
          <Timeline run={r} />
          <Resources run={r} />
          <Source run={r} />
          <Environment run={r} />
          <Data run={r} />
        </>
      )}
      <LogView runId={runId} onEnd={() => setEnded((n) => n + 1)} />
    </>
  );
}
