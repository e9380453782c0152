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
});
