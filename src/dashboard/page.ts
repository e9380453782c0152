/** The dashboard's single page: vanilla JS polling /api; user data is only ever set as text. */
export function dashboardPage(projectName: string): string {
  const title = projectName.replace(/[^a-z0-9_.-]/gi, '');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Reprise: ${title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px system-ui,sans-serif;margin:1.5rem;color:#222}h1{font-size:1.3rem}h2{font-size:1.05rem;margin-top:1.5rem}
table{border-collapse:collapse;width:100%}td,th{padding:.25rem .5rem;border-bottom:1px solid #ddd;text-align:left;font-family:ui-monospace,monospace;font-size:12px}
tr.clickable{cursor:pointer}tr.clickable:hover{background:#f4f4f4}
.cellcode{background:#f6f6f6;color:#222;max-height:12rem}.celltext{max-height:10rem}img.cellimg{max-width:40rem;display:block;margin:.25rem 0}
.succeeded,.stopped{color:#17803d}.failed{color:#b42318}.cancelled{color:#8a6d00}.running,.submitted,.preparing,.collecting{color:#1d4ed8}
pre{background:#111;color:#eee;padding:.75rem;max-height:24rem;overflow:auto;white-space:pre-wrap}
</style></head>
<body>
<h1>Reprise · <span id="project">${title}</span></h1>
<h2>Live runs</h2>
<table><thead><tr><th>sweep</th><th>run</th><th>state</th><th>backend</th><th>started</th><th>command</th></tr></thead><tbody id="runs"></tbody></table>
<h2>Activity feed</h2>
<table><thead><tr><th>commit</th><th>sweep</th><th>run</th><th>state</th><th>exit</th><th>backend</th><th>finished</th><th>command</th></tr></thead><tbody id="feed"></tbody></table>
<h2>Lab sessions</h2>
<table><thead><tr><th>commit</th><th>lab</th><th>state</th><th>backend</th><th>last checkpoint</th><th>checkpoints</th><th>cells</th></tr></thead><tbody id="labs"></tbody></table>
<div id="lab"></div>
<h2>Log <span id="logrun"></span></h2>
<pre id="log">select a run</pre>
<script>
let selected = null;
const cell = (text, cls) => { const td = document.createElement('td'); td.textContent = text; if (cls) td.className = cls; return td; };
function fill(id, rows, cols) {
  const body = document.getElementById(id);
  body.replaceChildren(...rows.map((r) => {
    const tr = document.createElement('tr');
    tr.className = 'clickable';
    tr.onclick = () => { selected = r.runId; refreshLog(); };
    for (const [key, fmt] of cols) tr.append(cell(fmt ? fmt(r[key], r) : String(r[key] ?? ''), key === 'state' ? r.state : ''));
    return tr;
  }));
}
// A sweep's points together, where its newest point is.
const grouped = (rows, key) => { const order = [...new Set(rows.map((r) => r[key] || r.runId))]; return order.flatMap((k) => rows.filter((r) => (r[key] || r.runId) === k)); };
const cmd = (argv, r) => (argv || []).join(' ') + (r && r.workdir ? '  (in ' + r.workdir + '/)' : '');
async function refresh() {
  try {
    const [runs, feed] = await Promise.all([fetch('/api/runs').then((r) => r.json()), fetch('/api/feed').then((r) => r.json())]);
    fill('runs', grouped(runs, 'sweepId'), [['sweepId'], ['runId'], ['state'], ['backend'], ['startTime'], ['command', cmd]]);
    fill('feed', grouped(feed, 'sweep'), [['commit', (c) => c.slice(0, 10)], ['sweep'], ['runId'], ['state'], ['exitCode'], ['backend'], ['finishedAt'], ['command', cmd]]);
  } catch (e) { console.error(e); }
}
async function refreshLabs() {
  const labs = await fetch('/api/labs').then((r) => r.json());
  const body = document.getElementById('labs');
  body.replaceChildren(...labs.map((l) => {
    const tr = document.createElement('tr');
    tr.className = 'clickable';
    tr.onclick = () => showLab(l.labId);
    for (const v of [l.commits[0].slice(0, 10), l.labId, l.state, l.backend, l.lastAt, l.checkpoints, l.executions]) tr.append(cell(String(v), v === l.state ? l.state : ''));
    return tr;
  }));
}
async function showLab(id) {
  const v = await fetch('/api/labs/' + id).then((r) => r.json());
  const box = document.getElementById('lab');
  const h = document.createElement('h3');
  h.textContent = v.labId + ' · ' + v.state + ' · ' + v.executions.length + ' cells, ' + v.files.length + ' file changes';
  const parts = [h];
  for (const f of v.files) { const p = document.createElement('div'); p.textContent = f.change + ' ' + f.path; parts.push(p); }
  for (const e of v.executions) {
    const head = document.createElement('div');
    head.textContent = '[' + e.n + '] ' + e.status + (e.error ? ' ' + e.error : '') + ', ' + e.duration.toFixed(2) + ' s';
    head.className = e.status === 'ok' ? 'succeeded' : 'failed';
    const code = document.createElement('pre'); code.className = 'cellcode'; code.textContent = e.code;
    parts.push(head, code);
    const text = [e.stdout, e.stderr, e.result].filter(Boolean).join('\\n');
    if (text) { const out = document.createElement('pre'); out.className = 'celltext'; out.textContent = text; parts.push(out); }
    for (const img of e.images) {
      const el = document.createElement('img'); el.className = 'cellimg'; el.alt = img;
      el.src = '/api/labs/' + encodeURIComponent(v.labId) + '/images/' + encodeURIComponent(img.split('/').pop());
      parts.push(el);
    }
  }
  box.replaceChildren(...parts);
}
async function refreshLog() {
  if (!selected) return;
  document.getElementById('logrun').textContent = selected;
  const log = await fetch('/api/runs/' + selected + '/log').then((r) => r.json());
  document.getElementById('log').textContent = log.text || log.error || '(no output yet)';
}
refresh(); refreshLabs(); setInterval(() => { refresh(); refreshLabs().catch(() => undefined); refreshLog(); }, 2000);
</script>
</body></html>
`;
}
