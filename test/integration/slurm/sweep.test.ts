// Sweeps on the SLURM test cluster through the built CLI, watched from outside with squeue: a
// 3×4 grid at --max-parallel 2, retry of a point cancelled from outside, cancel of a whole sweep.
import { execFileSync } from 'node:child_process';
import { describe } from 'vitest';
import { useCliProject } from '../../helpers/cli-project.js';
import { sweepProofs } from '../../helpers/sweep.js';
import { slurmAddArgs } from './slurm-backend-env.js';

/** Run ids of the cluster's jobs (job names are reprise-<run id>) in the given states. */
const jobs = (states: string) =>
  execFileSync('squeue', ['-h', '-t', states, '-o', '%j'], { encoding: 'utf8' })
    .split('\n')
    .filter((name) => name.startsWith('reprise-run-'))
    .map((name) => name.slice('reprise-'.length));

describe('reprise sweep on SLURM', () => {
  const p = useCliProject('slurm-sweep', () => slurmAddArgs('hpc', `~/reprise-it/sweep-${process.pid}`));
  sweepProofs(p, {
    name: 'hpc',
    running: () => jobs('RUNNING'),
    // Cancelled by an admin from outside: the run ends failed, its point to retry.
    failJob: (runId) => execFileSync('scancel', ['--name', `reprise-${runId}`]),
    leftOver: (runIds) => jobs('PENDING,RUNNING,COMPLETING').filter((run) => runIds.includes(run)),
  });
});
