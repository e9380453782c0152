/**
 * Image transfer: what `reprise rerun` of a recorded run costs on an engine that lost its image
 * (pull by the recorded registry digest, run, record) over the plain tools doing the same
 * (`docker pull <repo@sha256:…>` then `docker run --rm <id> true`), interleaved in this process.
 * Also prints the bytes the registry received for the image and for a second push (0 new blobs).
 *
 *   node --import tsx bench/image-transfer.ts [--runs 5] [--layer-mb 32] [--json]
 *
 * Throwaway REPRISE_HOME, project, embedded Temporal and a local `docker-registry` (Debian's
 * package) on free loopback ports. Exit 0 when it measured, 1 when it could not, 2 bad arguments.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { anyFreePort, binRun, exec, fmt, interrupt, leftovers, log, mustExec, stats, wasInterrupted } from './lib.js';

const BASE_IMAGE = 'local/debian-python:bookworm';

/** Bytes stored under a directory (the registry's blobs). */
async function duBytes(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => [])) {
    if (e.isFile()) total += (await stat(join(e.parentPath, e.name))).size;
  }
  return total;
}

async function startRegistry(dir: string): Promise<{ url: string; child: ChildProcess }> {
  const port = await anyFreePort();
  const url = `127.0.0.1:${port}`;
  await writeFile(join(dir, 'config.yml'), `version: 0.1\nlog: {level: error}\nstorage: {filesystem: {rootdirectory: ${join(dir, 'data')}}}\nhttp: {addr: "${url}"}\n`);
  const child = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    if (await fetch(`http://${url}/v2/`).then((r) => r.ok, () => false)) return { url, child };
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill();
  throw new Error(`docker-registry did not start on ${url} (apt-get install docker-registry)`);
}

async function main(): Promise<number> {
  let o;
  try {
    o = parseArgs({ options: { runs: { type: 'string', default: '5' }, 'layer-mb': { type: 'string', default: '32' }, json: { type: 'boolean', default: false } } }).values;
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return 2;
  }
  const runs = Number(o.runs);
  const layerMb = Number(o['layer-mb']);
  if (!Number.isInteger(runs) || runs < 1 || !Number.isInteger(layerMb) || layerMb < 1) {
    process.stderr.write('--runs and --layer-mb must be positive integers\n');
    return 2;
  }
  const home = await mkdtemp(join(tmpdir(), 'reprise-bench-home-'));
  const work = await mkdtemp(join(tmpdir(), 'reprise-bench-img-'));
  const project = join(work, 'transfer');
  const env: NodeJS.ProcessEnv = { ...process.env, REPRISE_HOME: home, REPRISE_TEMPORAL_PORT: String(await anyFreePort()), REPRISE_TEMPORAL_UI_PORT: '0', LOG_LEVEL: 'warn' };
  delete env.TEMPORAL_ADDRESS;
  process.on('SIGINT', interrupt);
  const reprise = (what: string, args: string[]) => mustExec(what, process.execPath, [binRun, ...args], { cwd: project, env });
  let registry: { url: string; child: ChildProcess } | undefined;
  let failed = false;
  try {
    registry = await startRegistry(work);
    await mustExec('init', process.execPath, [binRun, 'init', project, '--name', 'transfer', '--base', BASE_IMAGE], { env });
    // A layer of random bytes (incompressible, unique per bench) is what a pull has to move.
    await writeFile(join(project, '.reprise/environment.yaml'), `base: ${BASE_IMAGE}\ndockerfile:\n  - RUN head -c ${layerMb}M /dev/urandom > /opt/payload\n`);
    await reprise('registry set', ['registry', 'set', registry.url]);
    log(`building and pushing a ${layerMb} MiB layer to ${registry.url}…`);
    const first = await reprise('first run', ['run', '--json', '--', 'true']);
    const runId = (JSON.parse(first.stdout) as { runId: string }).runId;
    const image = (JSON.parse((await reprise('show', ['show', runId, '--json'])).stdout) as { image: { digest: string; reference: string } }).image;
    const pushedBytes = await duBytes(join(work, 'data'));
    await reprise('second run', ['run', '--', 'true']); // same image: the push only checks
    const secondPushBytes = (await duBytes(join(work, 'data'))) - pushedBytes;

    const t = { reprise: [] as number[], docker: [] as number[] };
    const rmi = () => mustExec('docker rmi', 'docker', ['rmi', '-f', image.digest], { env });
    for (let i = 1; i <= runs; i++) {
      await rmi();
      t.reprise.push((await reprise(`rerun #${i}`, ['rerun', runId])).seconds);
      await rmi();
      const pull = await mustExec(`docker pull #${i}`, 'docker', ['pull', '-q', image.reference], { env });
      const run = await mustExec(`docker run #${i}`, 'docker', ['run', '--rm', image.digest, 'true'], { env });
      t.docker.push(pull.seconds + run.seconds);
      log(`${i}/${runs}  reprise rerun ${fmt(t.reprise.at(-1)!)}  docker pull+run ${fmt(t.docker.at(-1)!)}`);
    }
    const r = stats(t.reprise);
    const d = stats(t.docker);
    const result = {
      layerMiB: layerMb,
      registryBytesFirstPush: pushedBytes,
      registryBytesSecondPush: secondPushBytes,
      rerunWithPull: r,
      dockerPullAndRun: d,
      ratioMedian: r.median / d.median,
      addedMedianSeconds: r.median - d.median,
      machine: `${availableParallelism()} CPUs, 1-min load ${loadavg()[0]!.toFixed(2)}`,
    };
    if (o.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
    else {
      process.stdout.write(
        [
          `image transfer by registry digest (${layerMb} MiB unique layer, ${runs} rounds, ${result.machine})`,
          `  registry received: first push ${(pushedBytes / 2 ** 20).toFixed(1)} MiB, second push of the same image ${secondPushBytes} bytes`,
          `  reprise rerun (pull + run + record)   median ${fmt(r.median)}  p90 ${fmt(r.p90)}`,
          `  docker pull + docker run --rm        median ${fmt(d.median)}  p90 ${fmt(d.p90)}`,
          `  ratio reprise/docker at the median  ${result.ratioMedian.toFixed(2)}  (reprise adds ${fmt(result.addedMedianSeconds)})`,
          '',
        ].join('\n'),
      );
    }
  } catch (err) {
    failed = true;
    process.stderr.write(`${(err as Error).message}\n`);
  } finally {
    await exec(process.execPath, [binRun, 'agent', 'stop'], { env }).catch(() => undefined);
    registry?.child.kill();
    for (const pid of await leftovers(home)) process.kill(pid, 'SIGTERM');
    await rm(home, { recursive: true, force: true });
    await rm(work, { recursive: true, force: true });
  }
  return failed || wasInterrupted() ? 1 : 0;
}

process.exitCode = await main();
