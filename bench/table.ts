/**
 * The benchmark table: Reprise against the plain tools, side by side, in one run.
 *
 *   npm run bench [-- --rows version,docker,reuse,slurm,kubernetes,history,tiny] [--runs 10] [--tiny 1000]
 *                    [--parallelism 4] [--port 17433] [--json] [--keep]
 *
 * One throwaway sandbox for all rows (its own REPRISE_HOME, projects and embedded Temporal on its
 * own port; the agent is stopped and everything removed at the end, whatever happened). Each row
 * interleaves Reprise and its baseline round by round and prints median, p90, min and max of
 * both, the ratio at the median and PASS/MISS against the issue's target. A row whose test
 * cluster is not up is SKIPPED with how to start it; a row that fails to measure is ERROR and the
 * others still run.
 *
 * Needs a build (`npm run build`) and a Docker engine with the local base images
 * (`bash scripts/docker-up.sh`); the slurm and kubernetes rows need `test/infra/<cluster> up`.
 * Exit code: 0 when every selected row measured or was skipped (PASS or MISS alike), 1 when a row
 * could not measure, 2 on bad arguments.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { closeSandbox, interrupt, load1, log, openSandbox, printAgentLogs, repoRoot, UsageError, wasInterrupted, type Sandbox } from './lib.js';
import { ROW_IDS, ROWS, Skip, type Pair, type RowContext, type RowId, type RowResult, type Side } from './table-rows.js';

const USAGE = 'usage: npm run bench -- [--rows version,docker,reuse,slurm,kubernetes,history,tiny] [--runs 10] [--tiny 1000] [--parallelism 4] [--port N] [--json] [--keep]';

interface Options {
  rows: RowId[];
  runs: number;
  tiny: number;
  parallelism: number;
  port?: number;
  json: boolean;
  keep: boolean;
}

function options(): Options | string {
  const { values: o } = parseArgs({
    options: {
      rows: { type: 'string', default: ROW_IDS.join(',') },
      runs: { type: 'string', default: '10' },
      tiny: { type: 'string', default: '1000' },
      parallelism: { type: 'string', default: '4' },
      port: { type: 'string' },
      json: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (o.help) return USAGE;
  const rows = o.rows.split(',').map((r) => r.trim()).filter(Boolean);
  const unknown = rows.filter((r) => !(ROW_IDS as readonly string[]).includes(r));
  if (unknown.length || rows.length === 0) throw new UsageError(`unknown row(s) ${unknown.join(', ') || '(none given)'}; the rows are ${ROW_IDS.join(', ')}`);
  const int = (name: string, v: string | undefined) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive integer, not ${JSON.stringify(v)}`);
    return n;
  };
  return {
    rows: ROW_IDS.filter((r) => rows.includes(r)),
    runs: int('runs', o.runs),
    tiny: int('tiny', o.tiny),
    parallelism: int('parallelism', o.parallelism),
    port: o.port === undefined ? undefined : int('port', o.port),
    json: o.json,
    keep: o.keep,
  };
}

async function measureRow(id: RowId, ctx: RowContext): Promise<RowResult> {
  const row = ROWS[id];
  const before = load1();
  const started = process.hrtime.bigint();
  const cleanups: (() => Promise<void>)[] = [];
  const result = (verdict: RowResult['verdict'], pairs: Pair[], notes: string[], reason?: string): RowResult => ({
    id, title: row.title, target: row.target, verdict, pairs, notes, reason,
    load: { before, after: load1() },
    seconds: Number(process.hrtime.bigint() - started) / 1e9,
  });
  log(`row ${id}: ${row.title}`);
  try {
    const m = await row.measure(ctx, cleanups);
    return result(m.pass ? 'PASS' : 'MISS', m.pairs, m.notes ?? []);
  } catch (err) {
    if (err instanceof Skip) {
      log(`row ${id} SKIPPED: ${err.message}`);
      return result('SKIPPED', [], [], err.message);
    }
    log(`row ${id} ERROR: ${(err as Error).message}`);
    return result('ERROR', [], [], (err as Error).message.split('\n')[0]);
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((err: Error) => log(`row ${id} cleanup: ${err.message}`));
  }
}

const num = (x: number, unit: Pair['unit']) => (unit === 's' ? `${x.toFixed(3)} s` : `${x.toFixed(2)}/s`);
const spread = (s: Side, unit: Pair['unit']) => `**${num(s.stats.median, unit)}** (p90 ${num(s.stats.p90, unit)}; ${num(s.stats.min, unit)}–${num(s.stats.max, unit)})`;

/** The table as Markdown, to read in a terminal and paste into bench/README.md. */
function render(results: RowResult[], header: string[]): string {
  const lines = [...header, '', '| measure | Reprise: median (p90; min–max) | baseline: median (p90; min–max) | ratio | target | verdict |', '|---|---|---|---|---|---|'];
  for (const r of results) {
    if (r.pairs.length === 0) {
      lines.push(`| ${r.title} | — | — | — | ${r.target} | ${r.verdict}${r.reason ? ` (${r.reason.replace(/\|/g, '\\|')})` : ''} |`);
      continue;
    }
    r.pairs.forEach((p, i) => {
      const what = r.pairs.length > 1 ? `${r.title}: ${p.what}` : r.title;
      lines.push(
        `| ${what} | ${p.reprise.label}: ${spread(p.reprise, p.unit)} | ${p.baseline.label}: ${spread(p.baseline, p.unit)} | ${p.ratio.toFixed(2)}× | ${r.target} | ${i === 0 ? r.verdict : '″'} |`,
      );
    });
  }
  lines.push('');
  for (const r of results) {
    const extra = [...r.notes, `load ${r.load.before.toFixed(2)} → ${r.load.after.toFixed(2)}`, `${r.seconds.toFixed(0)} s`];
    lines.push(`- ${r.id}: ${extra.join('; ')}`);
  }
  return lines.join('\n') + '\n';
}

async function main(): Promise<number> {
  let o: Options;
  try {
    const parsed = options();
    if (typeof parsed === 'string') {
      process.stdout.write(parsed + '\n');
      return 0;
    }
    o = parsed;
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (!existsSync(join(repoRoot, 'dist', 'cli', 'commands', 'run.js'))) {
    process.stderr.write(`no build found in ${join(repoRoot, 'dist')}; run: npm run build\n`);
    return 1;
  }
  let sb: Sandbox;
  try {
    sb = await openSandbox('table', o.port);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return err instanceof UsageError ? 2 : 1;
  }
  process.on('SIGINT', interrupt);
  process.on('SIGTERM', interrupt);
  const loadBefore = load1();
  const results: RowResult[] = [];
  let failed = false;
  try {
    log(`REPRISE_HOME=${sb.home}  work=${sb.work}  embedded Temporal on 127.0.0.1:${sb.port} (headless)`);
    const ctx: RowContext = { sb, runs: o.runs, tiny: o.tiny, parallelism: o.parallelism };
    for (const id of o.rows) {
      if (wasInterrupted()) break;
      results.push(await measureRow(id, ctx));
    }
    failed = results.some((r) => r.verdict === 'ERROR') || wasInterrupted();
    if (failed) await printAgentLogs(sb);
  } finally {
    if (!(await closeSandbox(sb, o.keep || failed))) failed = true;
  }
  const commit = (() => {
    try {
      return execFileSync('git', ['describe', '--always', '--dirty'], { cwd: repoRoot, encoding: 'utf8' }).trim();
    } catch {
      return 'unknown';
    }
  })();
  const machine = `${availableParallelism()} CPUs, 1-minute load average ${loadBefore.toFixed(2)} at the start, ${load1().toFixed(2)} at the end`;
  if (o.json) {
    process.stdout.write(JSON.stringify({ commit, date: new Date().toISOString(), machine, runs: o.runs, tiny: o.tiny, parallelism: o.parallelism, rows: results }, null, 2) + '\n');
  } else {
    const header = [`Reprise benchmark table, build ${commit}, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`, `${o.runs} interleaved rounds per row; ${machine}`];
    process.stdout.write('\n' + render(results, header));
  }
  return failed ? 1 : 0;
}

process.exitCode = await main();
