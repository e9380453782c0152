// The hostile-job corpus on SLURM, beyond hostile-jobs.test.ts: names with newline and control
// characters, and a file swapped for a link while collect's tar reads output/ on the login node.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SshClient } from '../../../src/backends/slurm/ssh-client.js';
import { useCliProject } from '../../helpers/cli-project.js';
import { expectHostileNamesKept, expectSwapContained } from '../../helpers/hostile-corpus.js';
import type { Canary } from '../../helpers/hostile-jobs.js';
import { clusterConfig, clusterTarget, slurmAddArgs } from './slurm-backend-env.js';


describe('the built CLI on SLURM: hostile names and a file swapped for a link during collect', () => {
  const p = useCliProject('slurm-corpus', () => slurmAddArgs('hpc', `~/reprise-it/hostile-corpus-${Date.now()}`));
  const ssh = new SshClient(clusterTarget({ identityFiles: [clusterConfig('~').identityFile] }));
  let canary: Canary;
  const tags: string[] = [];
  /**
   * The processes of the cluster's account whose command line holds `tag`. The test cluster is
   * this machine: the CLI's own process (another account) holds the tag too, so only the cluster
   * account's processes (`-O`: /proc/PID owned by it) are looked at.
   */
  const swapperPids = async (tag: string): Promise<string[]> =>
    (await ssh.run(['sh', '-c', 'p="$1$2"; for d in /proc/[0-9]*; do [ -O "$d" ] || continue; c=$(tr "\\0" " " < "$d/cmdline" 2>/dev/null); case "$c" in *"$p"*) echo "${d#/proc/}";; esac; done; exit 0', 'sh', tag.slice(0, 8), tag.slice(8)]))
      .split('\n')
      .filter(Boolean);

  beforeAll(async () => {
    const token = `canary-${randomBytes(6).toString('hex')}`;
    const home = (await ssh.run(['sh', '-c', 'echo "$HOME"'])).trim();
    // On the login node, where collect's tar runs, outside every run's directory.
    canary = { dir: `${home}/reprise-canary-${randomBytes(6).toString('hex')}`, token };
    await ssh.run(['sh', '-c', 'mkdir -p "$1" && echo "$2" > "$1/secret.txt"', 'sh', canary.dir, token]);
  });
  afterAll(async () => {
    // The swapper stops by itself; if a failed test left it running, it is ended by its pids.
    for (const tag of tags) {
      const left = await swapperPids(tag).catch(() => []);
      if (left.length) await ssh.run(['kill', '--', ...left]).catch(() => undefined);
    }
    if (canary) await ssh.run(['rm', '-rf', '--', canary.dir]);
    ssh.close();
  });

  it('names with a newline, a tab, ESC and a trailing space: each one file under its exact name, in the record and the commit', async () => {
    await expectHostileNamesKept(p.cli, p.root, 'hpc');
  }, 600_000);

  it('a detached process swapping output/swap/x for a link to a canary while collect runs (3 runs): never followed, no canary in history', async () => {
    const outcomes: string[] = [];
    for (let i = 0; i < 3; i++) {
      const tag = `reprise-swapper-${randomBytes(6).toString('hex')}`;
      tags.push(tag);
      const started = Date.now();
      const { shown } = await expectSwapContained(p.cli, p.root, 'hpc', canary, tag, 60);
      // What survives on this cluster (proctrack/linuxproc, no cgroups): a process that left the
      // job's process tree (setsid, its parent gone) is not killed at the job's end. It still
      // runs now that the run is collected and recorded: collect's tar read output/ on the login
      // node while it swapped. (With proctrack/cgroup, as most sites run, it would be killed.)
      const left = await swapperPids(tag);
      expect(left.length, 'the swapper outlived the job and the whole collect').toBeGreaterThan(0);
      await ssh.run(['kill', '--', ...left]);
      const x = shown.outputs.some((o) => o.path === 'output/swap/x') ? 'x kept as the job file' : 'x refused as a link';
      outcomes.push(`${shown.runId}: ${Math.round((Date.now() - started) / 1000)} s; ${x}; skipped ${JSON.stringify(shown.skippedOutputs ?? [])}`);
    }
    console.log(outcomes.join('\n'));
  }, 1_200_000);

  it("collect's own tar on the login node, 300 times while a file is swapped for a link: the link archived as a link, never followed", async () => {
    // The mechanism the runs above rely on, measured where it runs: GNU tar (no -h) archives what
    // it lstat'ed, and opens a file with O_NOFOLLOW, so a swap between its stat and its open fails
    // the open (or tar notes the change) instead of reading through the link.
    const script = [
      'd=$(mktemp -d) && mkdir -p "$d/output" && cd "$d/output" && echo mine > x || exit 9',
      'end=$(($(date +%s)+120)); (while [ $(date +%s) -lt $end ]; do ln -sfn "$1" x.l; mv -f x.l x; ln -sfn "$1" x.l2; rm -f x.l2; echo mine > x.f; mv -f x.f x; done) & sp=$!',
      'cd "$d"; c0=0; c1=0; c2=0; leak=0; links=0; files=0',
      'for i in $(seq 300); do tar -c -f - output 2>>err > a.tar; rc=$?; eval "c$rc=\\$((c$rc+1))"; grep -qF "$2" a.tar && leak=$((leak+1)); v=$(tar -tvf a.tar output/x 2>/dev/null); case "$v" in l*) links=$((links+1));; -*) files=$((files+1));; esac; done',
      'kill "$sp"; wait; echo "$c0 $c1 $c2 $links $files $leak"; cd / && rm -rf "$d"',
    ].join('\n');
    const [ok, changed, failed, links, files, leaked] = (await ssh.run(['sh', '-c', script, 'sh', `${canary.dir}/secret.txt`, canary.token], 600_000)).trim().split(' ').map(Number);
    console.log(`300 archives while swapping: tar exit 0 ${ok}, exit 1 (changed while read) ${changed}, exit 2 ${failed}; x archived as a link ${links}, as a file ${files}; canary in an archive ${leaked}`);
    expect(ok! + changed! + failed!).toBe(300);
    expect(leaked).toBe(0);
    // The race was real: both states were archived.
    expect(links).toBeGreaterThan(0);
    expect(files).toBeGreaterThan(0);
  }, 900_000);
});
