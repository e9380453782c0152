/**
 * Tracked data at scale, through the built CLI as a user runs it: `data add` of one big file of
 * random bytes and of a folder of many small files (hashing next to `md5sum` of the same bytes),
 * `sync` to the object store, a run reading that data on Docker, SLURM and Kubernetes and a second
 * identical run (the bytes it moved, from the run's `data-staged.json`, the store gateway's own
 * I/O counters and the SLURM data cache's size and newest mtime), a cheap run with the data next
 * to the same run in a project with an empty input/, `reprise clone` next to `git clone`, a
 * partial `data pull` of one subfolder, and a large output on each backend landing in the store
 * and restored by `data pull --run` (md5 checked).
 *
 *   npm run build && node --import tsx bench/data-scale.ts [--gib 5] [--files 20000] [--file-kb 4]
 *       [--out-gib 2] [--backends docker,slurm,kubernetes] [--rounds 1] [--keep] [--json]
 *
 * Small smoke check: `--gib 0.25 --files 500 --out-gib 0.1`. Needs `test/infra/s3 up`, and for
 * their rows `test/infra/slurm up` / `test/infra/kubernetes up` (settings in test/infra/.state).
 * Everything it makes is deleted at the end (local files, its REPRISE_HOME, its store prefix,
 * its SLURM workdir, its Kubernetes jobs go with each run), unless --keep. Exit 0 when it
 * measured, 1 when it could not (a backend that fails is reported in the table as FAILED).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, statfsSync } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DeleteObjectsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { binRun, closeSandbox, exec, load1, log, mustExec, openSandbox, repoRoot, type Exec, type Sandbox } from './lib.js';

const envOf = (name: string): Record<string, string> =>
  Object.fromEntries(readFileSync(join(repoRoot, `test/infra/.state/${name}.env`), 'utf8').split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));

const GiB = 2 ** 30;
const MiB = 2 ** 20;
const hours = 3 * 3_600_000;

/** Bytes the store's S3 gateway process read and wrote (its /proc io counters): machine-wide, every user of the store counts. */
function gatewayIo(): { rchar: number; wchar: number } | undefined {
  try {
    const pid = readFileSync(join(repoRoot, 'test/infra/.state/s3/pids/s3.pid'), 'utf8').trim().split(/\s+/)[0];
    const io = readFileSync(`/proc/${pid}/io`, 'utf8');
    const get = (k: string) => Number(/^(\w+): (\d+)$/m.exec(io.split('\n').find((l) => l.startsWith(`${k}:`)) ?? '')?.[2]);
    return { rchar: get('rchar'), wchar: get('wchar') };
  } catch {
    return undefined;
  }
}

interface Row {
  what: string;
  reprise: string;
  baseline: string;
  ratio: string;
  note: string;
}

const rows: Row[] = [];
const row = (what: string, reprise: string, baseline = '', ratio = '', note = '') => {
  rows.push({ what, reprise, baseline, ratio, note });
  log(`${what}: ${reprise}${baseline ? ` vs ${baseline}` : ''}${ratio ? ` (${ratio})` : ''}${note ? ` — ${note}` : ''}`);
};
const s = (x: number) => `${x.toFixed(x < 1 ? 3 : 1)} s`;
const r = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
const mb = (bytes: number) => (bytes >= GiB ? `${(bytes / GiB).toFixed(2)} GiB` : `${(bytes / MiB).toFixed(1)} MiB`);
const rate = (bytes: number, secs: number) => `${(bytes / MiB / secs).toFixed(0)} MiB/s`;

async function main(): Promise<number> {
  const o = parseArgs({
    options: {
      gib: { type: 'string', default: '5' },
      files: { type: 'string', default: '20000' },
      'file-kb': { type: 'string', default: '4' },
      'out-gib': { type: 'string', default: '2' },
      backends: { type: 'string', default: 'docker,slurm,kubernetes' },
      rounds: { type: 'string', default: '1' },
      'deadline-min': { type: 'string', default: '0' },
      verify: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  }).values;
  const bigBytes = Math.round((Number(o.gib) * GiB) / (64 * MiB)) * 64 * MiB;
  const nFiles = Number(o.files);
  const fileBytes = Number(o['file-kb']) * 1024;
  const outBytes = Math.round(Number(o['out-gib']) * GiB);
  const rounds = Number(o.rounds);
  const backends = o.backends.split(',').filter(Boolean);
  // With --deadline-min, steps not started by then are skipped (rows say so) and cleanup still runs.
  const deadline = Number(o['deadline-min']) > 0 ? Date.now() + Number(o['deadline-min']) * 60_000 : Infinity;
  const late = (what: string) => {
    if (Date.now() < deadline) return false;
    row(`${what}: SKIPPED`, '', '', '', 'not started: past --deadline-min');
    return true;
  };
  if (!(bigBytes > 0) || !(nFiles > 0) || !(outBytes > 0) || !(rounds > 0)) throw new Error('--gib, --files, --out-gib and --rounds must be positive');

  // The disk: the big file once locally (the cache hard-links it), once in the store, once per
  // cluster cache, plus one output at a time in three places; others share the disk.
  const fs = statfsSync('/');
  const free = fs.bavail * fs.bsize;
  const need = 3.2 * bigBytes + 3 * outBytes + nFiles * fileBytes * 4;
  log(`disk: ${mb(free)} free on /, this bench needs about ${mb(need)} at its peak`);
  if (free < need + 4 * GiB) throw new Error(`not enough free disk: ${mb(free)} free, about ${mb(need)} needed plus 4 GiB for others`);

  const s3 = envOf('s3');
  const suite = `datascale-${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
  const prefix = suite;
  const sb: Sandbox = await openSandbox('datascale');
  Object.assign(sb.env, {
    AWS_ACCESS_KEY_ID: s3.S3_ACCESS_KEY, AWS_SECRET_ACCESS_KEY: s3.S3_SECRET_KEY, AWS_REGION: s3.S3_REGION, LOG_LEVEL: 'warn',
    GIT_AUTHOR_NAME: 'Bench', GIT_AUTHOR_EMAIL: 'bench@example.com', GIT_COMMITTER_NAME: 'Bench', GIT_COMMITTER_EMAIL: 'bench@example.com',
  });
  const cli = (args: string[], cwd: string, what = args.slice(0, 2).join(' ')) => mustExec(`reprise ${what}`, process.execPath, [binRun, ...args], { cwd, env: sb.env, timeoutMs: hours });
  const sh = (script: string, cwd: string, what = script.slice(0, 40)) => mustExec(what, 'sh', ['-c', script], { cwd, env: sb.env, timeoutMs: hours });
  const raw = new S3Client({ endpoint: s3.S3_ENDPOINT, forcePathStyle: true, region: s3.S3_REGION, credentials: { accessKeyId: s3.S3_ACCESS_KEY!, secretAccessKey: s3.S3_SECRET_KEY! } });
  const slurmWorkdir = `reprise-bench/${suite}`;
  let slurmSsh: ((script: string) => Promise<Exec>) | undefined;
  let kubectl: ((...args: string[]) => Promise<Exec>) | undefined;
  // The Kubernetes cache claim's volume, on this host (the cluster's one node).
  const claimDir = `/tmp/${suite}-claim`;
  const loadStart = load1();
  const started = new Date();
  try {
    const root = join(sb.work, 'ds');
    const emptyRoot = join(sb.work, 'empty');
    await cli(['init', 'ds', '--name', 'ds', '--base', 'local/busybox:latest'], sb.work);
    await cli(['init', 'empty', '--name', 'empty', '--base', 'local/busybox:latest'], sb.work);
    // Hard links between the cache and the workspace: the big file exists once on this disk.
    // (In .dvc/config: Reprise reads cache.type from there only, not from config.local.)
    await mkdir(join(root, '.dvc'), { recursive: true });
    await writeFile(join(root, '.dvc/config'), '[cache]\n    type = hardlink\n');

    // 1. data add: the big file (random bytes from /dev/urandom, 64 MiB at a time) and the small files.
    log(`writing ${mb(bigBytes)} of random bytes and ${nFiles} files of ${fileBytes} bytes`);
    await mkdir(join(root, 'input/many'), { recursive: true });
    await sh(`dd if=/dev/urandom of=input/big.bin bs=64M count=${bigBytes / (64 * MiB)} iflag=fullblock status=none`, root, 'dd');
    const per = 200;
    for (let d = 0; d * per < nFiles; d++) {
      const dir = join(root, 'input/many', `d${String(d).padStart(3, '0')}`);
      await mkdir(dir, { recursive: true });
      const chunk = randomBytes(Math.min(per, nFiles - d * per) * fileBytes);
      await Promise.all(Array.from({ length: Math.min(per, nFiles - d * per) }, (_, i) => writeFile(join(dir, `f${i}.bin`), chunk.subarray(i * fileBytes, (i + 1) * fileBytes))));
    }
    const md5sumBig = await sh('md5sum input/big.bin', root, 'md5sum');
    const bigMd5 = md5sumBig.stdout.split(' ')[0]!;
    const addBig = await cli(['data', 'add', 'input/big.bin'], root);
    const md5sumMany = await sh('find input/many -type f -exec md5sum {} + > /dev/null', root, 'md5sum many');
    const addMany = await cli(['data', 'add', 'input/many'], root);
    const pointer = await readFile(join(root, 'input/big.bin.dvc'), 'utf8');
    if (!pointer.includes(bigMd5)) throw new Error(`input/big.bin.dvc does not hold the md5sum digest ${bigMd5}:\n${pointer}`);
    const linked = (await stat(join(root, 'input/big.bin'))).nlink;
    row(`\`data add\` of ${mb(bigBytes)} (one file) vs \`md5sum\` of it`, s(addBig.seconds), s(md5sumBig.seconds), r(addBig.seconds, md5sumBig.seconds),
      `${rate(bigBytes, addBig.seconds)} vs ${rate(bigBytes, md5sumBig.seconds)}; page-cached; cache hard-linked (nlink ${linked})`);
    row(`\`data add\` of ${nFiles} files of ${fileBytes / 1024} KiB vs \`find … -exec md5sum {} +\``, s(addMany.seconds), s(md5sumMany.seconds), r(addMany.seconds, md5sumMany.seconds));
    const gitSize = Number(execFileSync('du', ['-sb', join(root, '.git')], { encoding: 'utf8' }).split('\t')[0]);
    row('`.git` after tracking everything', mb(gitSize), '', '', 'pointers only');

    // The store and a git remote; sync pushes the data, then the commits.
    const bare = join(sb.work, 'origin.git');
    execFileSync('git', ['init', '-q', '--bare', '-b', 'main', bare]);
    await cli(['data', 'remote', 'set', `s3://${s3.S3_BUCKET}/${prefix}`, '--endpoint', s3.S3_ENDPOINT!], root);
    await cli(['remote', 'add', 'origin', bare], root);
    const io0 = gatewayIo();
    const sync = await cli(['sync'], root);
    const io1 = gatewayIo();
    row(`\`sync\`: ${mb(bigBytes)} + ${nFiles} objects to the store`, s(sync.seconds), '', '', `${rate(bigBytes + nFiles * fileBytes, sync.seconds)}; store gateway read ${io0 && io1 ? mb(io1.rchar - io0.rchar) : '?'}`);

    // 4. clone vs git clone of the same repository (code and pointers), then a partial pull.
    const cloned = await cli(['clone', bare, 'cloned'], sb.work);
    const gitCloned = await mustExec('git clone', 'git', ['clone', '-q', bare, join(sb.work, 'git-cloned')], { env: sb.env });
    row('`reprise clone` of the project vs `git clone` of the same repository', s(cloned.seconds), s(gitCloned.seconds), r(cloned.seconds, gitCloned.seconds),
      'the repository holds the code and the pointers only (git clone = the code alone)');
    const before = gatewayIo();
    const partial = await cli(['data', 'pull', 'input/many/d000', '--json'], join(sb.work, 'cloned'));
    const after = gatewayIo();
    const pulledBytes = Number(execFileSync('du', ['-sb', '--apparent-size', join(sb.work, 'cloned/input/many/d000')], { encoding: 'utf8' }).split('\t')[0]);
    const others = await stat(join(sb.work, 'cloned/input/many/d001')).then(() => 'other subfolders present', () => 'no other subfolder');
    const pj = JSON.parse(partial.stdout) as { objects?: number; transferred?: number; bytes?: number };
    row(`partial \`data pull input/many/d000\` in the clone (${Math.min(per, nFiles)} of ${nFiles} files)`, s(partial.seconds), '', '',
      `${pj.transferred} objects (the manifest and the subfolder's files), ${mb(pj.bytes ?? NaN)} transferred, ${mb(pulledBytes)} restored; ${others}; store gateway sent ${before && after ? mb(after.wchar - before.wchar) : '?'}`);

    // Backends.
    if (backends.includes('slurm')) {
      const slurm = envOf('slurm');
      await cli(['backend', 'add', 'hpc', '--kind', 'slurm', '--host', slurm.SLURM_SSH_HOST!, '--port', slurm.SLURM_SSH_PORT!, '--user', slurm.SLURM_SSH_USER!,
        '--identity-file', slurm.SLURM_SSH_IDENTITY!, '--known-hosts-file', slurm.SLURM_SSH_KNOWN_HOSTS!, '--partition', slurm.SLURM_PARTITION!, '--workdir', `~/${slurmWorkdir}`], '/');
      slurmSsh = (script: string) => mustExec('ssh', 'ssh', ['-p', slurm.SLURM_SSH_PORT!, '-i', slurm.SLURM_SSH_IDENTITY!, '-o', `UserKnownHostsFile=${slurm.SLURM_SSH_KNOWN_HOSTS}`, '-o', 'BatchMode=yes',
        `${slurm.SLURM_SSH_USER}@${slurm.SLURM_SSH_HOST}`, script], { env: process.env, timeoutMs: 600_000 });
    }
    if (backends.includes('kubernetes')) {
      const k = envOf('kubernetes');
      // The pods keep fetched objects in a cache claim, as a site would set it up: here a hostPath
      // volume on the one node (the test cluster has no provisioner), removed at the end.
      kubectl = (...args: string[]) => mustExec('kubectl', 'kubectl', ['--kubeconfig', k.KUBECONFIG!, '--context', k.K8S_CONTEXT!, ...args], { env: process.env, timeoutMs: 120_000 });
      await mkdir(claimDir, { recursive: true, mode: 0o777 });
      await exec('chmod', ['0777', claimDir], { env: process.env });
      const size = `${Math.ceil((bigBytes + nFiles * fileBytes) / 2 ** 30) + 2}Gi`;
      const manifest = JSON.stringify({
        apiVersion: 'v1', kind: 'List', items: [
          { apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: suite }, spec: { capacity: { storage: size }, accessModes: ['ReadWriteOnce'], storageClassName: suite, hostPath: { path: claimDir }, claimRef: { namespace: k.K8S_NAMESPACE, name: suite } } },
          { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: suite, namespace: k.K8S_NAMESPACE }, spec: { accessModes: ['ReadWriteOnce'], storageClassName: suite, resources: { requests: { storage: size } } } },
        ],
      });
      const manifestFile = join(sb.work, 'claim.json');
      await writeFile(manifestFile, manifest);
      await kubectl('apply', '-f', manifestFile);
      await cli(['backend', 'add', 'k8s', '--kind', 'kubernetes', '--kubeconfig', k.KUBECONFIG!, '--context', k.K8S_CONTEXT!, '--namespace', k.K8S_NAMESPACE!,
        '--registry', `${k.K8S_REGISTRY}/${suite}`, '--data-endpoint', s3.S3_POD_ENDPOINT!, '--data-cache-claim', suite], '/');
    }
    const on = (b: string) => (b === 'docker' ? [] : ['--on', b === 'slurm' ? 'hpc' : 'k8s']);
    const lastRun = async (cwd: string) => (JSON.parse((await cli(['log', '-n', '1', '--json'], cwd)).stdout) as { runId: string }[])[0]!.runId;
    const staged = async (runId: string) => readFile(join(sb.home, 'runs', runId, 'data-staged.json'), 'utf8').then((t) => JSON.parse(t) as Record<string, number>, () => undefined);
    const slurmCache = async () => {
      if (!slurmSsh) return '';
      const out = await slurmSsh(`c="$HOME/${slurmWorkdir}/data-cache"; [ -d "$c" ] || { echo none; exit 0; }; echo "$(du -sb "$c" | cut -f1) bytes, $(find "$c" -type f | wc -l) files, newest $(find "$c" -type f -printf '%T@\\n' | sort -n | tail -1)"`);
      return out.stdout.trim();
    };
    const outputRuns = new Map<string, string>();
    const readJob = `md5sum input/big.bin; echo files: $(find input/many -type f | wc -l)`;
    const cheapJob = 'ls input > /dev/null';

    for (const b of backends) {
      try {
        // 2. A run reading the data, then a second identical one.
        for (const n of [1, 2]) {
          if (late(`${b}: run ${n}`)) continue;
          const cacheBefore = b === 'slurm' ? await slurmCache() : '';
          const before = gatewayIo();
          const run = await cli(['run', ...on(b), '--', 'sh', '-c', readJob], root, `run on ${b}`);
          const after = gatewayIo();
          const id = await lastRun(root);
          const ok = run.stdout.includes(`${bigMd5}  input/big.bin`) && run.stdout.includes(`files: ${nFiles}`);
          const st = await staged(id);
          const cacheAfter = b === 'slurm' ? await slurmCache() : '';
          row(`${b}: run ${n} (\`md5sum\` of the big file, count the files)`, s(run.seconds), '', '',
            `${ok ? 'output checked' : `OUTPUT WRONG: ${run.stdout.trim().slice(0, 200)}`}; data-staged.json ${st ? JSON.stringify(st) : b === 'docker' ? 'none (the local cache is mounted)' : 'absent'}; store gateway sent ${before && after ? mb(after.wchar - before.wchar) : '?'}${b === 'slurm' ? `; cluster data cache ${cacheBefore} → ${cacheAfter}` : ''}`);
        }
        // 3. A cheap run with the data vs the same run in a project with an empty input/.
        const withData: number[] = [];
        const empty: number[] = [];
        if (late(`${b}: run with data vs empty input/`)) continue;
        for (let i = 0; i < rounds; i++) {
          withData.push((await cli(['run', ...on(b), '--', 'sh', '-c', cheapJob], root, `run on ${b}`)).seconds);
          empty.push((await cli(['run', ...on(b), '--', 'sh', '-c', cheapJob], emptyRoot, `run on ${b}`)).seconds);
        }
        const med = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
        row(`${b}: \`run -- ls input\` with ${mb(bigBytes)} + ${nFiles} files tracked (staged before) vs an empty input/`, s(med(withData)), s(med(empty)), r(med(withData), med(empty)),
          `${rounds} round(s), median${b === 'docker' ? '; goal ≤ 1.05×' : ''}`);
        // 5. A large output lands in the store; data pull --run restores it. Its bytes are the big
        // input's first ones, so the output is the same on every backend and `verify` can compare it.
        if (late(`${b}: ${mb(outBytes)} output`)) continue;
        const outJob = `head -c ${outBytes} input/big.bin > output/big-out.bin && md5sum output/big-out.bin`;
        const before = gatewayIo();
        const out = await cli(['run', ...on(b), '--', 'sh', '-c', outJob], root, `output run on ${b}`);
        const after = gatewayIo();
        const id = await lastRun(root);
        outputRuns.set(b, id);
        const printed = /^([0-9a-f]{32}) {2}output\/big-out\.bin$/m.exec(out.stdout)?.[1];
        const record = JSON.parse((await cli(['show', id, '--json'], root)).stdout) as { data?: { outputs: { path: string; md5: string; size: number }[] } };
        const rec = record.data?.outputs.find((x) => x.path === 'output/big-out.bin');
        const storeSize = async () => (rec ? await raw.send(new ListObjectsV2Command({ Bucket: s3.S3_BUCKET, Prefix: `${prefix}/files/md5/${rec.md5.slice(0, 2)}/${rec.md5.slice(2)}` })).then((l) => l.Contents?.[0]?.Size) : undefined);
        let inStore = await storeSize();
        // Where the run did not put it in the store (Docker keeps it in the local cache), sync sends it.
        let synced = '';
        if (inStore === undefined && rec) {
          const sy = await cli(['sync'], root);
          inStore = await storeSize();
          synced = `; NOT in the store after the run: \`sync\` sent it (${s(sy.seconds)})`;
        }
        // Restored from the store, not from the local cache: the local copy (if the run left one) goes first.
        await rm(join(root, 'output/big-out.bin'), { force: true });
        if (rec) await rm(join(root, '.dvc/cache/files/md5', rec.md5.slice(0, 2), rec.md5.slice(2)), { force: true });
        const pull = await cli(['data', 'pull', '--run', id], root);
        const pulledMd5 = (await sh('md5sum output/big-out.bin', root)).stdout.split(' ')[0];
        const good = !!rec && rec.md5 === printed && pulledMd5 === printed && inStore === outBytes;
        row(`${b}: run writing a ${mb(outBytes)} output, then \`data pull --run\``, `${s(out.seconds)} + ${s(pull.seconds)}`, '', '',
          `${good ? 'pointer in the record, object in the store, pulled md5 matches' : `MISMATCH: job ${printed}, record ${rec?.md5 ?? 'none'}, store size ${inStore ?? 'absent'}, pulled ${pulledMd5}`}${synced}; store gateway received ${before && after ? mb(after.rchar - before.rchar) : '?'} during the run`);
        await rm(join(root, 'output/big-out.bin'), { force: true });
        if (rec) await rm(join(root, '.dvc/cache/files/md5', rec.md5.slice(0, 2), rec.md5.slice(2)), { force: true });
      } catch (err) {
        row(`${b}: FAILED`, '', '', '', (err instanceof Error ? err.message : String(err)).split('\n').filter(Boolean).slice(0, 8).join(' / ').slice(0, 600));
      }
    }
    // 6. verify the first backend's output run on the second: the large output compared by digest,
    // neither downloaded nor sent again (the inputs are cached there by its own runs).
    const [first, second] = backends;
    if (o.verify && first && second && outputRuns.has(first) && !late(`verify ${first} on ${second}`)) {
      try {
        const before = gatewayIo();
        const v = await mustExec('reprise verify', process.execPath, [binRun, 'verify', outputRuns.get(first)!, ...(second === 'docker' ? ['--on', 'local'] : on(second)), '--json'], { cwd: root, env: sb.env, timeoutMs: hours });
        const after = gatewayIo();
        const res = JSON.parse(v.stdout) as { identical: boolean; files: { path: string; verdict: string }[] };
        const big = res.files.find((f) => f.path.startsWith('output/big-out.bin'));
        row(`\`verify\` of the ${first} output run \`--on\` ${second}`, s(v.seconds), '', '',
          `${res.identical ? 'identical' : 'NOT identical'} (${big ? `${big.path}: ${big.verdict}` : 'the large output not compared'}); store gateway sent ${before && after ? mb(after.wchar - before.wchar) : '?'}, received ${before && after ? mb(after.rchar - before.rchar) : '?'} during it`);
      } catch (err) {
        row(`verify ${first} on ${second}: FAILED`, '', '', '', (err instanceof Error ? err.message : String(err)).split('\n').filter(Boolean).slice(0, 8).join(' / ').slice(0, 600));
      }
    }

  } finally {
    const loadEnd = load1();
    // The store prefix.
    for (let token: string | undefined, first = true; first || token; first = false) {
      const l = await raw.send(new ListObjectsV2Command({ Bucket: s3.S3_BUCKET, Prefix: `${prefix}/`, ContinuationToken: token })).catch(() => undefined);
      token = l?.NextContinuationToken;
      const keys = (l?.Contents ?? []).map((c) => ({ Key: c.Key! }));
      if (keys.length) await raw.send(new DeleteObjectsCommand({ Bucket: s3.S3_BUCKET, Delete: { Objects: keys, Quiet: true } })).catch((e: Error) => log(`store cleanup: ${e.message}`));
      if (!l) break;
    }
    raw.destroy();
    if (kubectl) {
      const k = envOf('kubernetes');
      await kubectl('-n', k.K8S_NAMESPACE!, 'delete', 'pvc', suite, '--ignore-not-found', '--wait=false').catch(() => undefined);
      await kubectl('delete', 'pv', suite, '--ignore-not-found', '--wait=false').catch(() => undefined);
      await rm(claimDir, { recursive: true, force: true }).catch(() => undefined);
    }
    if (slurmSsh) await slurmSsh(`chmod -R u+w "$HOME/${slurmWorkdir}" 2>/dev/null; rm -rf "$HOME/${slurmWorkdir}"`).catch(() => undefined);
    // Read-only cache objects: made writable so the work directory can go.
    await exec('chmod', ['-R', 'u+w', sb.work], { env: process.env }).catch(() => undefined);
    await closeSandbox(sb, o.keep);
    const head = `data-scale, ${started.toISOString()}, build ${execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).trim()}, load ${loadStart.toFixed(1)} → ${loadEnd.toFixed(1)}, ${((Date.now() - started.getTime()) / 60_000).toFixed(1)} min`;
    if (o.json) console.log(JSON.stringify({ head, rows }, null, 2));
    else {
      console.log(`${head}\n`);
      console.log('| what | Reprise | baseline | ratio | notes |');
      console.log('|---|---|---|---|---|');
      for (const x of rows) console.log(`| ${x.what} | ${x.reprise} | ${x.baseline} | ${x.ratio} | ${x.note.replaceAll('|', '\\|')} |`);
    }
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    log(`could not measure: ${err instanceof Error ? err.stack : String(err)}`);
    process.exit(1);
  },
);
