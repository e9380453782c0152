import { describe, expect, it } from 'vitest';
import { kindDefinition } from '../../../src/backends/kinds.js';
import { backendAddFlags, describeBackendIssue, kindFlags, settingsFromFlags } from '../../../src/cli/backend-settings.js';
import { backendIssues, type BackendConfig } from '../../../src/backends/user-config.js';

const settings = (kind: string, flags: Record<string, unknown>) => settingsFromFlags(kindDefinition(kind)!, flags);
const error = (kind: string, flags: Record<string, unknown>) => {
  const s = settings(kind, flags);
  return 'error' in s ? s.error : undefined;
};

describe('backend add flags, derived from the kinds', () => {
  it('declares --kind with every kind, then each flag once, named after the kinds that take it', () => {
    const flags: Record<string, { description?: string; options?: readonly string[] }> = backendAddFlags();
    expect(flags.kind!.options).toEqual(['docker', 'slurm', 'kubernetes', 'pool']);
    expect(Object.keys(flags)).toEqual([
      'kind', 'max-parallel', 'socket', 'pids-limit', 'host', 'port', 'user', 'identity-file', 'identity-agent', 'known-hosts-file', 'ssh-config', 'poll-interval', 'partition', 'account', 'qos', 'sbatch-arg', 'runtime',
      'gpu-flag', 'workdir', 'data-staging', 'data-endpoint', 'kubeconfig', 'context', 'namespace', 'registry', 'gpu-resource', 'gpu-type', 'data-cache-claim', 'member', 'max-queue-wait', 'prefer',
    ]);
    expect(flags['max-parallel']!.description).toMatch(/^docker, slurm, kubernetes: how many of this backend's jobs may run at once/);
    expect(flags.socket!.description).toBe('docker: Docker Engine API socket (default: DOCKER_HOST or /var/run/docker.sock)');
    expect(kindFlags.get('member')).toMatchObject({ kinds: ['pool'], spec: { key: 'members', multiple: true } });
  });

  it('turns the given flags into the kind config, defaults filled in', () => {
    expect(settings('slurm', { host: 'h', user: 'u', 'known-hosts-file': 'k', 'sbatch-arg': ['--constraint=haswell', '-Cb'], 'max-parallel': 3 })).toEqual({
      config: { kind: 'slurm', host: 'h', user: 'u', knownHostsFile: 'k', sbatchArgs: ['--constraint=haswell', '-Cb'], runtime: 'charliecloud', workdir: '~/.reprise', maxParallel: 3 },
    });
    // An alias alone is enough (ssh_config has the rest); a relative --ssh-config is kept absolute.
    expect(settings('slurm', { host: 'hpc', 'ssh-config': 'cfg/ssh', 'poll-interval': 2.5 })).toEqual({
      config: { kind: 'slurm', host: 'hpc', sshConfig: `${process.cwd()}/cfg/ssh`, pollInterval: 2.5, runtime: 'charliecloud', workdir: '~/.reprise' },
    });
    expect(settings('slurm', { host: 'hpc', 'data-staging': 'ship', 'data-endpoint': 'http://10.244.0.1:18333' })).toEqual({
      config: { kind: 'slurm', host: 'hpc', dataStaging: 'ship', dataEndpoint: 'http://10.244.0.1:18333', runtime: 'charliecloud', workdir: '~/.reprise' },
    });
    expect(settings('pool', { member: ['hpc', 'k8s'], 'max-queue-wait': '5m', prefer: 'k8s' })).toEqual({ config: { kind: 'pool', members: ['hpc', 'k8s'], maxQueueWait: '5m', prefer: 'k8s' } });
  });

  // The messages backend add gave before kinds had folders, byte for byte.
  it.each([
    ['docker', { host: 'h' }, '--host does not apply to --kind docker; leave it out'],
    ['docker', { host: 'h', socket: '/s', partition: 'p', 'sbatch-arg': ['a'], namespace: 'n' }, '--host, --partition, --sbatch-arg, --namespace does not apply to --kind docker; leave it out'],
    ['slurm', {}, 'invalid backend settings for --kind slurm: --host is required'],
    ['slurm', { socket: '/s' }, 'invalid backend settings for --kind slurm: --host is required'],
    ['slurm', { host: 'h', user: 'u', 'known-hosts-file': 'k', namespace: 'n', registry: 'r' }, '--namespace, --registry does not apply to --kind slurm; leave it out'],
    ['slurm', { host: '', user: 'u', 'known-hosts-file': 'k' }, 'invalid backend settings for --kind slurm: --host String must contain at least 1 character(s)'],
    ['slurm', { host: 'h', 'data-endpoint': 'ftp://store/x' }, 'invalid backend settings for --kind slurm: --data-endpoint must be the data store endpoint as the cluster reaches it: http(s)://host[:port]'],
    ['kubernetes', {}, 'invalid backend settings for --kind kubernetes: --namespace is required'],
    ['kubernetes', { namespace: 'BAD', registry: 'r' }, 'invalid backend settings for --kind kubernetes: --namespace a Kubernetes namespace name (DNS-1123 label)'],
    ['kubernetes', { namespace: 'ok', registry: 'http://r' }, 'invalid backend settings for --kind kubernetes: --registry a registry such as registry.example.com/team or 127.0.0.1:5000 (no scheme)'],
    ['kubernetes', { namespace: 'ok', registry: 'r', host: 'h' }, '--host does not apply to --kind kubernetes; leave it out'],
    ['kubernetes', { namespace: 'ok', registry: 'r', context: '' }, 'invalid backend settings for --kind kubernetes: --context String must contain at least 1 character(s)'],
  ])('keeps the message for --kind %s %j', (kind, flags, message) => {
    expect(error(kind, flags)).toBe(message);
  });

  it.each([
    // Checked when added, not at sbatch after retries.
    ['slurm', { host: 'h', partition: 'debug gpu' }, 'invalid backend settings for --kind slurm: --partition must be a SLURM partition name (letters, digits, ".", "_", "-"; a list separated by commas)'],
    ['slurm', { host: 'h', account: '$(id)' }, 'invalid backend settings for --kind slurm: --account must be a SLURM account name (letters, digits, ".", "_", "-"; a list separated by commas)'],
    ['slurm', { host: 'h', qos: 'normal\n#SBATCH --uid=0' }, 'invalid backend settings for --kind slurm: --qos must be a SLURM QOS name (letters, digits, ".", "_", "-"; a list separated by commas)'],
    ['slurm', { host: 'h', 'sbatch-arg': ['--constraint=haswell', '--comment="two words"'] }, 'invalid backend settings for --kind slurm: --sbatch-arg must be one sbatch option such as --constraint=haswell or -Chaswell (no spaces, quotes or backslashes)'],
    ['slurm', { host: 'h', 'sbatch-arg': ['haswell'] }, 'invalid backend settings for --kind slurm: --sbatch-arg must be one sbatch option such as --constraint=haswell or -Chaswell (no spaces, quotes or backslashes)'],
    ['slurm', { host: 'h', 'poll-interval': 0 }, 'invalid backend settings for --kind slurm: --poll-interval Number must be greater than or equal to 0.1'],
    ['slurm', { host: 'h', 'poll-interval': Number('soon') }, 'invalid backend settings for --kind slurm: --poll-interval must be a number of seconds'],
    ['kubernetes', { namespace: 'ok', registry: 'r', 'max-parallel': 0 }, 'invalid backend settings for --kind kubernetes: --max-parallel must be a whole number of jobs, at least 1'],
    ['pool', { 'max-queue-wait': '5m' }, 'invalid backend settings for --kind pool: --member is required'],
    ['pool', { member: ['hpc'], 'max-queue-wait': '5m' }, 'invalid backend settings for --kind pool: --member must name at least two backends, in the order they are tried'],
    ['pool', { member: ['hpc', 'k8s', 'hpc'], 'max-queue-wait': '5m' }, 'invalid backend settings for --kind pool: --member names "hpc" twice; list each member once'],
    ['pool', { member: ['hpc', 'A'], 'max-queue-wait': '5m' }, 'invalid backend settings for --kind pool: --member backend names are lowercase letters, digits and dashes'],
    ['pool', { member: ['hpc', 'k8s'] }, 'invalid backend settings for --kind pool: --max-queue-wait is required'],
    ...['0s', '-1m', 'abc', '30d'].map((wait): [string, Record<string, unknown>, string] => [
      'pool',
      { member: ['hpc', 'k8s'], 'max-queue-wait': wait },
      `invalid backend settings for --kind pool: --max-queue-wait must be a duration from 1s to 7d, e.g. 20s, 5m or 1h (got "${wait}")`,
    ]),
    ['pool', { member: ['hpc', 'k8s'], 'max-queue-wait': '5m', 'max-parallel': 2, host: 'x' }, '--max-parallel, --host does not apply to --kind pool; leave it out'],
  ] as [string, Record<string, unknown>, string][])('refuses --kind %s %j in one line', (kind, flags, message) => {
    expect(error(kind, flags)).toBe(message);
  });

  it('keeps a refused value that holds a line break on one line (as the fuzz test once found)', () => {
    const said = error('slurm', { host: 'h', 'gpu-flag': 'debug\n#SBATCH --uid=0\r' });
    expect(said).toMatch(/^invalid backend settings for --kind slurm: --gpu-flag /);
    expect(said).toContain('debug\\n#SBATCH --uid=0\\r');
    expect(said).not.toMatch(/[\r\n]/);
  });

  it('says a problem between backends in flags: of the backend added, or of the pool it would break', () => {
    const pool = kindDefinition('pool')!;
    const backends: Record<string, BackendConfig> = {
      hpc: { kind: 'docker' },
      burst: { kind: 'pool', members: ['hpc', 'gpu', 'burst'], maxQueueWait: '5m', prefer: 'x' },
    };
    const kindOf = (b: string) => backends[b]!.kind;
    expect(backendIssues(backends).map((i) => describeBackendIssue(pool, 'burst', i, kindOf))).toEqual([
      'invalid backend settings for --kind pool: --member names unknown backend "gpu"; known backends: hpc, local',
      'invalid backend settings for --kind pool: --member names the pool itself ("burst"): a pool\'s members must be docker, slurm or kubernetes backends (no recursive pools)',
      'invalid backend settings for --kind pool: --prefer must be one of the members (hpc, gpu, burst), not "x"',
    ]);
    const recursive: Record<string, BackendConfig> = {
      hpc: { kind: 'pool', members: ['local', 'k8s'], maxQueueWait: '1m' },
      k8s: { kind: 'docker' },
      burst: { kind: 'pool', members: ['hpc', 'k8s'], maxQueueWait: '5m' },
    };
    const [issue] = backendIssues(recursive);
    expect(describeBackendIssue(pool, 'hpc', issue!, (b) => recursive[b]!.kind)).toBe(
      'cannot add "hpc" as a pool: pool "burst" names "hpc", itself a pool: a pool\'s members must be docker, slurm or kubernetes backends (no recursive pools)',
    );
  });
});
