// A run recorded on Docker, reused with --on a SLURM backend reached through the jump host, whose
// login node logs every scheduler call: no sbatch for the reused run (one for the control run).
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeReuseElsewhere } from '../../helpers/reuse-elsewhere.js';
import { jumpEnv, jumpSshConfig } from './slurm-backend-env.js';

const v = jumpEnv();

describeReuseElsewhere(
  'hpc',
  'slurm',
  () => {
    const config = join(mkdtempSync(join(tmpdir(), 'reprise-slurm-reuse-')), 'ssh_config');
    writeFileSync(config, jumpSshConfig('rit', v.SLURM_JUMP_KNOWN_HOSTS));
    return ['--host', 'rit-login', '--ssh-config', config, '--partition', v.SLURM_PARTITION, '--workdir', `~/reprise-it/reuse-${Date.now()}`];
  },
  () => statSync(v.SLURM_SCHEDULER_CALLS_LOG).size,
  (runId, from) =>
    readFileSync(v.SLURM_SCHEDULER_CALLS_LOG)
      .subarray(from)
      .toString('utf8')
      .split('\n')
      .filter((l) => l.split(' ')[1] === 'sbatch' && l.includes(runId)).length,
);
