/**
 * SLURM image staging: bytes this machine sends for an image on a first and a second run, when
 * the image is shipped from here and when the cluster pulls it from the registry by digest; and
 * the time of a first pull through Reprise next to the same pull done by hand over ssh
 * (`ch-image pull` + `ch-convert`), side by side in this process.
 *
 *   test/infra/slurm up && node --import tsx bench/slurm-image-bytes.ts [--json]
 *
 * Uses the test cluster's settings (test/infra/.state/slurm.env: sshd, site registry and its
 * Docker login). Exit 0 when it measured, 1 when it could not.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SlurmBackend, type StageStep } from '../src/backends/slurm/slurm-backend.js';
import { dockerClient } from '../src/images/engine.js';
import { pushImage } from '../src/images/registry.js';
import { exec, fmt, log, repoRoot } from './lib.js';

function infraEnv(): Record<string, string> {
  const file = join(repoRoot, 'test/infra/.state/slurm.env');
  if (!existsSync(file)) throw new Error(`${file} is missing: run test/infra/slurm up`);
  return Object.fromEntries(readFileSync(file, 'utf8').split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

/** A fresh image with a layer of random bytes, so nothing about it is cached anywhere yet. */
function freshImage(tag: string, mb: number): string {
  const ctx = mkdtempSync(join(tmpdir(), 'reprise-bench-slurm-'));
  try {
    writeFileSync(join(ctx, 'Dockerfile'), `FROM local/busybox:latest\nRUN head -c ${mb}m /dev/urandom > /payload\n`);
    execFileSync('docker', ['build', '--no-cache', '-q', '-t', tag, ctx], { stdio: 'ignore' });
    return execFileSync('docker', ['image', 'inspect', '-f', '{{.Id}}', tag], { encoding: 'utf8' }).trim();
  } finally {
    rmSync(ctx, { recursive: true, force: true });
  }
}

async function main(): Promise<number> {
  const { json } = parseArgs({ options: { json: { type: 'boolean', default: false } } }).values;
  const env = infraEnv();
  process.env.DOCKER_CONFIG = env.SLURM_REGISTRY_DOCKER_CONFIG;
  const suite = `bench-${randomBytes(3).toString('hex')}`;
  const workdir = `~/reprise-bench/${suite}`;
  const sent: { step: StageStep; bytes?: number }[] = [];
  const backend = new SlurmBackend(
    { kind: 'slurm', host: env.SLURM_SSH_HOST!, port: Number(env.SLURM_SSH_PORT), user: env.SLURM_SSH_USER!, identityFile: env.SLURM_SSH_IDENTITY, knownHostsFile: env.SLURM_SSH_KNOWN_HOSTS!, partition: env.SLURM_PARTITION, runtime: 'charliecloud', workdir },
    { onProgress: (step, _detail, bytes) => sent.push({ step, bytes }) },
  );
  const sources = mkdtempSync(join(tmpdir(), 'reprise-bench-src-'));
  const stage = async (runId: string, image: { digest: string; tag: string; reference?: string }) => {
    sent.length = 0;
    const t0 = process.hrtime.bigint();
    await backend.stage({ runId, image, sourcesDir: sources });
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    return { seconds, bytes: sent.filter((s) => s.step === 'image-upload').reduce((n, s) => n + (s.bytes ?? 0), 0), pulled: sent.some((s) => s.step === 'image-pull') && !sent.some((s) => s.step === 'image-pull-failed') };
  };
  try {
    const mb = 32;
    const shipTag = `reprise-bench-ship:${suite}`;
    const shipDigest = freshImage(shipTag, mb);
    const ship1 = await stage(`${suite}-s1`, { digest: shipDigest, tag: shipTag });
    const ship2 = await stage(`${suite}-s2`, { digest: shipDigest, tag: shipTag });

    const pullTag = `reprise-bench-pull:${suite}`;
    const pullDigest = freshImage(pullTag, mb);
    const reference = await pushImage(dockerClient(), `${env.SLURM_REGISTRY}/bench`, { digest: pullDigest, tag: pullTag });
    const pull1 = await stage(`${suite}-p1`, { digest: pullDigest, tag: pullTag, reference });
    const pull2 = await stage(`${suite}-p2`, { digest: pullDigest, tag: pullTag, reference });

    // The same first pull by hand, into a scratch place on the cluster (the plain tools).
    const cred = JSON.parse(readFileSync(join(env.SLURM_REGISTRY_DOCKER_CONFIG!, 'config.json'), 'utf8')) as { auths: Record<string, { auth: string }> };
    const [user, password] = Buffer.from(cred.auths[env.SLURM_REGISTRY!]!.auth, 'base64').toString().split(':');
    const scratch = `$HOME/reprise-bench/${suite}/by-hand`;
    const byHand = await exec(
      'ssh',
      ['-p', env.SLURM_SSH_PORT!, '-i', env.SLURM_SSH_IDENTITY!, '-o', `UserKnownHostsFile=${env.SLURM_SSH_KNOWN_HOSTS}`, '-o', 'BatchMode=yes', `${env.SLURM_SSH_USER}@${env.SLURM_SSH_HOST}`,
        `mkdir -p ${scratch}; read -r CH_IMAGE_USERNAME; read -r CH_IMAGE_PASSWORD; export CH_IMAGE_USERNAME CH_IMAGE_PASSWORD CH_IMAGE_STORAGE=${scratch}/store; ch-image --no-cache pull --auth '${reference}' >/dev/null && ch-convert -i ch-image -o dir '${reference}' ${scratch}/img >/dev/null`],
      { env: process.env, input: `${user}\n${password}\n` },
    );
    if (byHand.code !== 0) throw new Error(`the pull by hand failed: ${byHand.stderr}`);

    const result = { layerMiB: mb, ship: { first: ship1, second: ship2 }, pull: { first: pull1, second: pull2 }, byHandPullSeconds: byHand.seconds, ratioFirstPull: pull1.seconds / byHand.seconds };
    if (json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
    else {
      process.stdout.write(
        [
          `SLURM image staging (${mb} MiB unique layer; bytes this machine sent for the image)`,
          `  shipped from here:     first run ${ship1.bytes} B in ${fmt(ship1.seconds)}, second run ${ship2.bytes} B in ${fmt(ship2.seconds)}`,
          `  pulled by the cluster: first run ${pull1.bytes} B in ${fmt(pull1.seconds)}, second run ${pull2.bytes} B in ${fmt(pull2.seconds)}${pull1.pulled ? '' : '  (PULL FAILED: shipped instead)'}`,
          `  first pull: reprise stage ${fmt(pull1.seconds)} vs ch-image pull + ch-convert over ssh ${fmt(byHand.seconds)} (ratio ${result.ratioFirstPull.toFixed(2)})`,
          '',
        ].join('\n'),
      );
    }
    return pull1.pulled ? 0 : 1;
  } catch (err) {
    log((err as Error).message);
    return 1;
  } finally {
    await backend.ssh.exec(['rm', '-rf', `reprise-bench/${suite}`]).catch(() => undefined);
    backend.ssh.close();
    rmSync(sources, { recursive: true, force: true });
  }
}

process.exitCode = await main();
