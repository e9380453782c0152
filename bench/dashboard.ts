/**
 * The dashboard's feed: time to the first page (GET /api/activity?limit=50, over HTTP from the
 * real server) on a 100-run and a 10,000-run project, both histories written as plain git
 * commits in process (history-gen.ts). "cold" is the first request of a new dashboard on a
 * history it never read (the feed cache is built then); "warm" the median of the next 20.
 *
 *   node --import tsx bench/dashboard.ts [--big 10000] [--small 100]
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { findTemporalBinary } from '../src/client/temporal-cli.js';
import { RunClient } from '../src/client/runs.js';
import { readEnv } from '../src/config/env.js';
import { DashboardAuth } from '../src/dashboard/auth.js';
import { createDashboard } from '../src/dashboard/server.js';
import { initProject } from '../src/project/layout.js';
import { generateHistory } from './history-gen.js';
import { fmt, log, stats } from './lib.js';

const { values } = parseArgs({ options: { big: { type: 'string', default: '10000' }, small: { type: 'string', default: '100' } } });
const sizes = [Number(values.small), Number(values.big)];
const PAGE = '/api/activity?limit=50';

const work = await mkdtemp(join(tmpdir(), 'reprise-bench-dash-'));
const temporal = await TestWorkflowEnvironment.createLocal({ server: { executable: { type: 'existing-path', path: findTemporalBinary() }, extraArgs: ['--log-level', 'error'] } });
const client = await RunClient.connect({ ...readEnv({}), home: work, temporalAddress: temporal.address }, { start: false });
const rows: { runs: number; cold: number; warm: number }[] = [];
try {
  for (const n of sizes) {
    const root = join(work, `p${n}`);
    const project = await initProject(root, { name: `p${n}`, base: 'local/busybox:latest' });
    const g = await generateHistory(root, project.spec, n);
    log(`${n} runs written in ${fmt(g.seconds)}`);
    const server = createDashboard(project, client, { auth: new DashboardAuth(Buffer.alloc(32)) });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${PAGE}`;
    const once = async () => {
      const t = process.hrtime.bigint();
      const res = await fetch(url);
      const body = (await res.json()) as { items: unknown[]; total: number };
      if (res.status !== 200 || body.items.length !== 50 || body.total !== n) throw new Error(`unexpected answer ${res.status}: ${body.items.length} of ${body.total}`);
      return Number(process.hrtime.bigint() - t) / 1e9;
    };
    const cold = await once();
    const warm = stats(await Array.from({ length: 20 }).reduce<Promise<number[]>>(async (acc) => [...(await acc), await once()], Promise.resolve([])));
    rows.push({ runs: n, cold, warm: warm.median });
    server.close();
  }
} finally {
  await client.close();
  await temporal.teardown();
  await rm(work, { recursive: true, force: true });
}
console.log('| runs | first page, cold | first page, warm (median of 20) |\n|---:|---:|---:|');
for (const r of rows) console.log(`| ${r.runs} | ${fmt(r.cold)} | ${fmt(r.warm)} |`);
const [small, big] = rows;
console.log(`\nratio ${big!.runs}/${small!.runs} runs: cold ×${(big!.cold / small!.cold).toFixed(1)}, warm ×${(big!.warm / small!.warm).toFixed(1)}`);
