import { describe, expect, it } from 'vitest';
import { SshConfigError } from '../../../../src/backends/slurm/ssh-config.js';
import { describeTarget, resolveSshTarget, type SshEnv } from '../../../../src/backends/slurm/ssh-target.js';

const HOME = '/home/alice';

function sshEnv(files: Record<string, string>, extra: Partial<SshEnv> = {}): SshEnv {
  return {
    home: HOME,
    env: { SSH_AUTH_SOCK: '/tmp/agent.sock' },
    localUser: 'alice',
    localHost: 'laptop.example',
    uid: 1000,
    systemConfig: '/etc/ssh/ssh_config',
    read: (p) => files[p],
    list: () => [],
    exists: (p) => p in files,
    ...extra,
  };
}

const CONFIG = `${HOME}/.ssh/config`;

describe('resolving how a backend reaches its login node', () => {
  it('an alias alone: everything from ~/.ssh/config', () => {
    const env = sshEnv({
      [CONFIG]: 'Host hpc\n  HostName login.edu\n  User al\n  Port 2222\n  IdentityFile ~/.ssh/id_hpc\n  IdentitiesOnly yes\n  UserKnownHostsFile ~/.ssh/kh_%h_%p\n',
      [`${HOME}/.ssh/id_hpc`]: 'key',
    });
    expect(resolveSshTarget({ host: 'hpc' }, env)).toEqual({
      alias: 'hpc',
      host: 'login.edu',
      port: 2222,
      user: 'al',
      identityFiles: [`${HOME}/.ssh/id_hpc`],
      identitiesOnly: true,
      identityAgent: '/tmp/agent.sock',
      knownHostsFiles: [`${HOME}/.ssh/kh_login.edu_2222`, '/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2'],
      jumps: [],
      keepaliveIntervalMs: 15_000,
      keepaliveCountMax: 3,
      readyTimeoutMs: 20_000,
      configFiles: [CONFIG],
    });
  });

  it('defaults as ssh has them: local user, port 22, the default keys that exist, ~/.ssh/known_hosts', () => {
    const env = sshEnv({ [`${HOME}/.ssh/id_ed25519`]: 'k', [`${HOME}/.ssh/id_rsa`]: 'k' });
    const t = resolveSshTarget({ host: 'login.edu' }, env);
    expect(t).toMatchObject({ host: 'login.edu', port: 22, user: 'alice', identityFiles: [`${HOME}/.ssh/id_rsa`, `${HOME}/.ssh/id_ed25519`], configFiles: [] });
    expect(t.knownHostsFiles[0]).toBe(`${HOME}/.ssh/known_hosts`);
    expect(describeTarget(t)).toBe('alice@login.edu:22');
  });

  it('backend settings override ssh_config for the login node', () => {
    const env = sshEnv({ [CONFIG]: 'Host hpc\n  HostName login.edu\n  User al\n  Port 2222\n  IdentityFile ~/.ssh/id_hpc\n', [`${HOME}/.ssh/id_hpc`]: 'k' });
    const t = resolveSshTarget({ host: 'hpc', user: 'bob', port: 22, identityFile: '~/k2', identityAgent: '/a.sock', knownHostsFile: '~/kh' }, env);
    expect(t).toMatchObject({ host: 'login.edu', user: 'bob', port: 22, identityFiles: [`${HOME}/k2`], identityAgent: '/a.sock', knownHostsFiles: [`${HOME}/kh`] });
  });

  it('keys named in ssh_config that do not exist are skipped, as ssh does; a backend identityFile is kept', () => {
    const env = sshEnv({ [CONFIG]: 'IdentityFile ~/.ssh/missing\nIdentityFile ~/.ssh/there\n', [`${HOME}/.ssh/there`]: 'k' });
    expect(resolveSshTarget({ host: 'x' }, env).identityFiles).toEqual([`${HOME}/.ssh/there`]);
    expect(resolveSshTarget({ host: 'x', identityFile: '/no/such' }, env).identityFiles).toEqual(['/no/such']);
  });

  it('--ssh-config FILE is read instead of ~/.ssh/config and the system config', () => {
    const env = sshEnv({ [CONFIG]: 'User fromhome\n', '/etc/ssh/ssh_config': 'Port 2200\n', '/cfg': 'Host hpc\n  User fromfile\n' });
    expect(resolveSshTarget({ host: 'hpc', sshConfig: '/cfg' }, env)).toMatchObject({ user: 'fromfile', port: 22, configFiles: ['/cfg'] });
    expect(resolveSshTarget({ host: 'hpc' }, env)).toMatchObject({ user: 'fromhome', port: 2200, configFiles: [CONFIG, '/etc/ssh/ssh_config'] });
    expect(() => resolveSshTarget({ host: 'hpc', sshConfig: '/missing' }, env)).toThrow('ssh config /missing does not exist');
  });

  it('ProxyJump through one host, an alias itself with its own user, port and key', () => {
    const env = sshEnv({
      '/cfg': [
        'Host bastion',
        '  HostName gw.edu',
        '  User jump',
        '  Port 2200',
        '  IdentityFile /keys/jump',
        'Host hpc',
        '  HostName 10.0.0.5',
        '  ProxyJump bastion',
        'Host *',
        '  IdentityFile /keys/all',
        '  UserKnownHostsFile /kh',
      ].join('\n'),
      '/keys/jump': 'k',
      '/keys/all': 'k',
    });
    const t = resolveSshTarget({ host: 'hpc', sshConfig: '/cfg' }, env);
    expect(t).toMatchObject({ host: '10.0.0.5', port: 22, user: 'alice', identityFiles: ['/keys/all'] });
    expect(t.jumps).toEqual([
      { alias: 'bastion', host: 'gw.edu', port: 2200, user: 'jump', identityFiles: ['/keys/jump', '/keys/all'], identitiesOnly: false, identityAgent: '/tmp/agent.sock', knownHostsFiles: ['/kh', '/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2'] },
    ]);
    expect(describeTarget(t)).toBe('alice@10.0.0.5:22 via jump@gw.edu:2200');
  });

  it('several jumps: user@host:port in the spec wins over the hop alias config; the first hop keeps its own ProxyJump, later ones do not', () => {
    const env = sshEnv({
      '/cfg': [
        'Host outer',
        '  HostName outer.edu',
        'Host middle',
        '  HostName middle.edu',
        '  User m',
        '  ProxyJump outer',
        'Host inner',
        '  HostName inner.edu',
        '  ProxyJump nowhere-used',
        'Host hpc',
        '  ProxyJump middle,bob@inner:2201',
      ].join('\n'),
    });
    const t = resolveSshTarget({ host: 'hpc', sshConfig: '/cfg' }, env);
    expect(t.jumps.map((j) => `${j.alias}=${j.user}@${j.host}:${j.port}`)).toEqual(['outer=alice@outer.edu:22', 'middle=m@middle.edu:22', 'inner=bob@inner.edu:2201']);
    expect(t.host).toBe('hpc');
  });

  it('a ProxyJump loop, ProxyCommand and bad tokens are refused with the file and line', () => {
    const loop = sshEnv({ '/cfg': 'Host a\n  ProxyJump b\nHost b\n  ProxyJump a\n' });
    expect(() => resolveSshTarget({ host: 'a', sshConfig: '/cfg' }, loop)).toThrow(SshConfigError);
    expect(() => resolveSshTarget({ host: 'a', sshConfig: '/cfg' }, loop)).toThrow(/goes past 8 hops .*is it a loop\?$/);
    const cmd = sshEnv({ '/cfg': 'Host hpc\n  ProxyCommand nc %h %p\n' });
    expect(() => resolveSshTarget({ host: 'hpc', sshConfig: '/cfg' }, cmd)).toThrow('/cfg line 2: ProxyCommand is not supported for hpc; reach it with ProxyJump instead');
    const token = sshEnv({ '/cfg': 'IdentityFile ~/.ssh/%X\n' });
    expect(() => resolveSshTarget({ host: 'hpc', sshConfig: '/cfg' }, token)).toThrow('/cfg line 1: token %X is not supported here');
  });

  it('tokens: %h %p %r %u %n %d %% and ${ENV} in paths, %h in HostName', () => {
    const env = sshEnv(
      {
        '/cfg': 'Host hpc*\n  HostName %h.cluster.edu\n  User r\n  IdentityFile ${KEYS}/%u-%r-%n-%%\n  UserKnownHostsFile %d/kh/%h:%p\n',
        '/keys/alice-r-hpc1-%': 'k',
      },
      { env: { KEYS: '/keys' } },
    );
    const t = resolveSshTarget({ host: 'hpc1', sshConfig: '/cfg' }, env);
    expect(t).toMatchObject({ host: 'hpc1.cluster.edu', identityFiles: ['/keys/alice-r-hpc1-%'], knownHostsFiles: [`${HOME}/kh/hpc1.cluster.edu:22`, '/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2'] });
    expect(t.identityAgent).toBeUndefined(); // SSH_AUTH_SOCK is not in this environment
  });

  it('IdentityAgent none turns the agent off; ServerAliveInterval and ConnectTimeout set keepalive and timeout', () => {
    const env = sshEnv({ '/cfg': 'IdentityAgent none\nServerAliveInterval 30\nServerAliveCountMax 5\nConnectTimeout 7\n' });
    const t = resolveSshTarget({ host: 'hpc', sshConfig: '/cfg' }, env);
    expect(t.identityAgent).toBeUndefined();
    expect(t).toMatchObject({ keepaliveIntervalMs: 30_000, keepaliveCountMax: 5, readyTimeoutMs: 7000 });
  });
});
