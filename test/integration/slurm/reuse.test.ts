// A run recorded on Docker, reused with --on a SLURM backend: the scheduler's own accounting
// (sacct, and squeue for the moment before it knows) has no job named for the reused run; the
// control run's job is there.
import { execFileSync } from 'node:child_process';
import { describeReuseElsewhere } from '../../helpers/reuse-elsewhere.js';
import { slurmAddArgs } from './slurm-backend-env.js';

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });

describeReuseElsewhere(
  'hpc',
  'slurm',
  () => slurmAddArgs('hpc', `~/reprise-it/reuse-${Date.now()}`).slice(3),
  () => undefined,
  (runId) => {
    const name = `reprise-${runId}`;
    const acct = sh('sacct', ['-n', '-X', '-P', '-S', 'now-1days', '--name', name, '-o', 'JobID']).split('\n');
    const queue = sh('squeue', ['-h', '--name', name, '-o', '%i']).split('\n');
    return new Set([...acct, ...queue].map((s) => s.trim()).filter(Boolean)).size;
  },
);
