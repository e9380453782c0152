import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { binRun, collect, freePort, type CliResult } from '../../helpers/cli.js';
import { BUSYBOX, requireDocker } from '../../helpers/docker.js';
import { readInfraEnv } from '../../helpers/infra.js';
import { tempDir } from '../../helpers/project.js';
import { startRegistry, type TestRegistry } from '../../helpers/registry.js';

// "Two people, two homes": Alice and Bob are separate Unix accounts (homes 0700, neither can read
// the other's files), each with their own REPRISE_HOME, agent, SSH key and Docker login. They
// share a bare git remote reached over the test cluster's real sshd (git over SSH, host key
// verified) and a registry with credentials. Bob reruns and verifies Alice's run from his clone
// after its image left the engine they happen to share.
const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8' });

interface Person {
  user: string;
  home: string;
  port: number;
}

let registry: TestRegistry;
let alice: Person;
let bob: Person;
let remoteUrl: string;
let temporalBin: string;

function makePerson(user: string, authorizedKeys: string, knownHosts: string): Person {
  try {
    sh('id', ['-u', user]);
  } catch {
    sh('useradd', ['-m', '-s', '/bin/sh', '-G', 'docker', user]);
  }
  const home = sh('getent', ['passwd', user]).split(':')[5]!;
  chmodSync(home, 0o700);
  const ssh = join(home, '.ssh');
  mkdirSync(ssh, { recursive: true });
  execFileSync('sh', ['-c', `rm -f id_ed25519 id_ed25519.pub && ssh-keygen -q -t ed25519 -N '' -C ${user} -f id_ed25519`], { cwd: ssh });
  copyFileSync(knownHosts, join(ssh, 'known_hosts'));
  // Replace this person's key from an earlier run rather than piling keys up.
  const others = readFileSync(authorizedKeys, 'utf8').split('\n').filter((l) => l && !l.endsWith(` ${user}`));
  writeFileSync(authorizedKeys, [...others, readFileSync(join(ssh, 'id_ed25519.pub'), 'utf8').trim(), ''].join('\n'));
  mkdirSync(join(home, '.docker'), { recursive: true });
  writeFileSync(join(home, '.docker/config.json'), readFileSync(join(registry.dockerConfig, 'config.json')));
  writeFileSync(join(home, '.gitconfig'), `[user]\n  name = ${user}\n  email = ${user}@example.com\n`);
  sh('chown', ['-R', `${user}:${user}`, home]);
  return { user, home, port: 0 };
}

/** `reprise …` as that person, in their own environment only (env -i: nothing of root's leaks). */
async function as(p: Person, args: string[], cwd = p.home): Promise<CliResult> {
  const env = [
    `HOME=${p.home}`,
    `USER=${p.user}`,
    'PATH=/usr/local/bin:/usr/bin:/bin',
    `REPRISE_HOME=${p.home}/.reprise-test`,
    `REPRISE_TEMPORAL_PORT=${p.port}`,
    'REPRISE_TEMPORAL_UI_PORT=0',
    `REPRISE_TEMPORAL_BIN=${temporalBin}`,
    'LOG_LEVEL=warn',
  ];
  const child = spawn('runuser', ['-u', p.user, '--', 'env', '-i', ...env, process.execPath, binRun, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  return collect(child);
}

async function ok(p: Person, args: string[], cwd?: string): Promise<string> {
  const r = await as(p, args, cwd);
  expect(r.code, `${p.user}: reprise ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

const feedIds = async (p: Person, root: string) => (JSON.parse(await ok(p, ['log', '--json'], root)) as { runId: string }[]).map((e) => e.runId).sort();

describe('two people, two homes, one remote over SSH and one registry', () => {
  // The accounts outlive a run (a second run on one machine reuses them): names per run.
  const name = `walks-${Date.now().toString(36)}`;
  const projectOf = (p: Person) => join(p.home, name);

  beforeAll(async () => {
    requireDocker();
    const c = readInfraEnv('slurm', ['SLURM_SSH_HOST', 'SLURM_SSH_PORT', 'SLURM_SSH_USER', 'SLURM_SSH_KNOWN_HOSTS'], ['SLURM_SSH_KNOWN_HOSTS']);
    registry = await startRegistry();
    const clusterHome = sh('getent', ['passwd', c.SLURM_SSH_USER]).split(':')[5]!;
    const authorized = join(clusterHome, '.ssh/authorized_keys');
    alice = makePerson('reprise-alice', authorized, c.SLURM_SSH_KNOWN_HOSTS);
    bob = makePerson('reprise-bob', authorized, c.SLURM_SSH_KNOWN_HOSTS);
    alice.port = await freePort();
    bob.port = await freePort();
    // The remote lives in the cluster user's home: reached only through sshd.
    const bare = `team-${Date.now()}.git`;
    execFileSync('runuser', ['-u', c.SLURM_SSH_USER, '--', 'git', 'init', '-q', '--bare', '-b', 'main', join(clusterHome, bare)]);
    remoteUrl = `ssh://${c.SLURM_SSH_USER}@${c.SLURM_SSH_HOST}:${c.SLURM_SSH_PORT}${join(clusterHome, bare)}`;
    // The Temporal CLI installed for root may sit in root's 0700 home: give the two a readable copy.
    const bin = await tempDir('reprise-two-bin-');
    chmodSync(bin, 0o755);
    temporalBin = join(bin, 'temporal');
    copyFileSync(sh('sh', ['-c', 'PATH="$HOME/.local/bin:$PATH" command -v temporal']).trim(), temporalBin);
    chmodSync(temporalBin, 0o755);
    // They run this checkout's CLI with this Node: both must be reachable by other accounts.
    for (const path of [process.execPath, binRun]) {
      try {
        execFileSync('runuser', ['-u', alice.user, '--', 'test', '-r', path]);
      } catch {
        throw new Error(`${path} is not readable by other users (a parent directory is private); put the checkout and Node where other accounts can read them`);
      }
    }
    // Neither can read the other's files.
    expect(execFileSync('runuser', ['-u', bob.user, '--', 'sh', '-c', `ls ${alice.home} 2>&1 || true`], { encoding: 'utf8' })).toMatch(/Permission denied/);
  });

  afterAll(async () => {
    for (const p of [alice, bob]) {
      if (!p) continue;
      await as(p, ['agent', 'stop']);
      rmSync(projectOf(p), { recursive: true, force: true });
    }
    await registry?.stop();
  });

  it("Bob clones Alice's project, reruns and verifies her run with the image pulled by digest; conflicts resolved both ways; both feeds list every run", async () => {
    // Alice: a project whose image has a layer of its own, a run, pushed.
    await ok(alice, ['init', name, '--name', 'walks', '--base', BUSYBOX]);
    const aRoot = projectOf(alice);
    writeFileSync(join(aRoot, '.reprise/environment.yaml'), `base: ${BUSYBOX}\ndockerfile:\n  - RUN echo walks-${Date.now()} > /etc/flavour\n`);
    writeFileSync(join(aRoot, 'code/job.sh'), 'echo "step 1" > output/result.txt; cat /etc/flavour >> output/result.txt; cat output/result.txt\n');
    sh('chown', ['-R', `${alice.user}:${alice.user}`, aRoot]);
    await ok(alice, ['registry', 'set', registry.url]);
    await ok(alice, ['remote', 'add', 'origin', remoteUrl], aRoot);
    await ok(alice, ['run', '--', 'sh', 'code/job.sh'], aRoot);
    const [aliceRun] = JSON.parse(await ok(alice, ['log', '--json'], aRoot)) as { runId: string }[];
    const aliceRecord = JSON.parse(await ok(alice, ['show', aliceRun!.runId, '--json'], aRoot)) as { image: { digest: string; reference?: string }; outputs: unknown[] };
    expect(aliceRecord.image.reference).toMatch(/@sha256:[0-9a-f]{64}$/);
    await ok(alice, ['sync'], aRoot);

    // Bob: clone over SSH; the image leaves the engine; rerun and verify pull it by digest.
    await ok(bob, ['registry', 'set', registry.url]);
    await ok(bob, ['clone', remoteUrl, name]);
    const bRoot = projectOf(bob);
    expect(await feedIds(bob, bRoot)).toEqual([aliceRun!.runId]);
    execFileSync('docker', ['rmi', '-f', aliceRecord.image.digest], { stdio: 'ignore' });
    const rerun = await as(bob, ['rerun', aliceRun!.runId], bRoot);
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.stdout).toContain('step 1');
    execFileSync('docker', ['rmi', '-f', aliceRecord.image.digest], { stdio: 'ignore' });
    const verify = await as(bob, ['verify', aliceRun!.runId, '--json'], bRoot);
    expect(verify.code, verify.stderr).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ original: aliceRun!.runId, identical: true });
    await ok(bob, ['sync'], bRoot);

    // Conflicting edits of one file: Bob keeps his.
    await ok(alice, ['sync'], aRoot);
    writeFileSync(join(aRoot, 'code/job.sh'), 'echo alice-v2 > output/result.txt\n');
    await ok(alice, ['run', '--', 'sh', 'code/job.sh'], aRoot);
    await ok(alice, ['sync'], aRoot);
    writeFileSync(join(bRoot, 'code/job.sh'), 'echo bob-v2 > output/result.txt\n');
    sh('chown', [`${bob.user}:${bob.user}`, join(bRoot, 'code/job.sh')]);
    const stopped = await as(bob, ['sync'], bRoot);
    expect(stopped.code).toBe(2);
    expect(stopped.stderr).toMatch(/code\/job\.sh.*--keep mine/);
    expect(readFileSync(join(bRoot, 'code/job.sh'), 'utf8')).toBe('echo bob-v2 > output/result.txt\n'); // nothing lost
    await ok(bob, ['sync', '--keep', 'mine'], bRoot);
    expect(readFileSync(join(bRoot, 'code/job.sh'), 'utf8')).toBe('echo bob-v2 > output/result.txt\n');

    // And again the other way: Bob takes Alice's.
    await ok(alice, ['sync'], aRoot);
    expect(readFileSync(join(aRoot, 'code/job.sh'), 'utf8')).toBe('echo bob-v2 > output/result.txt\n');
    writeFileSync(join(aRoot, 'code/job.sh'), 'echo alice-v3 > output/result.txt\n');
    await ok(alice, ['sync'], aRoot);
    writeFileSync(join(bRoot, 'code/job.sh'), 'echo bob-v3 > output/result.txt\n');
    await ok(bob, ['run', '--', 'sh', 'code/job.sh'], bRoot);
    expect((await as(bob, ['sync'], bRoot)).code).toBe(2);
    await ok(bob, ['sync', '--keep', 'theirs'], bRoot);
    expect(readFileSync(join(bRoot, 'code/job.sh'), 'utf8')).toBe('echo alice-v3 > output/result.txt\n');
    await ok(alice, ['sync'], aRoot);

    const aliceFeed = await feedIds(alice, aRoot);
    expect(aliceFeed).toHaveLength(5); // Alice's two runs; Bob's rerun, verify and run
    expect(await feedIds(bob, bRoot)).toEqual(aliceFeed);
  }, 300_000); // two agents start (each making its certificates), an image crosses the registry, two reruns on SLURM: well past the default minute
});
