import { describe, expect, it } from 'vitest';
import { hostLineMatches, loadSshConfig, lookupHost, parseProxyJump, SshConfigError, type SshConfigFiles } from '../../../../src/backends/slurm/ssh-config.js';

/** A file system of a few files, as the parser sees it. */
function fakeFiles(files: Record<string, string>, env: Record<string, string> = {}): SshConfigFiles {
  return {
    home: '/home/alice',
    env,
    read: (path) => files[path],
    list: (dir) => Object.keys(files).filter((p) => p.startsWith(`${dir}/`) && !p.slice(dir.length + 1).includes('/')).map((p) => p.slice(dir.length + 1)),
  };
}

const lookup = (text: string, alias: string, more: Record<string, string> = {}) => {
  const files = fakeFiles({ '/home/alice/.ssh/config': text, ...more });
  return lookupHost([loadSshConfig('/home/alice/.ssh/config', files)], alias);
};

describe('ssh_config parsing', () => {
  it('reads Host blocks: HostName, User, Port, IdentityFile, IdentitiesOnly, UserKnownHostsFile, ProxyJump', () => {
    const text = `
# the cluster
Host hpc
    HostName login.cluster.edu
    User alice
    Port 2222
    IdentityFile ~/.ssh/id_hpc
    IdentitiesOnly yes
    UserKnownHostsFile ~/.ssh/known_hosts.hpc /etc/hpc_known_hosts
    ProxyJump bastion
`;
    expect(lookup(text, 'hpc')).toMatchObject({
      hostName: 'login.cluster.edu',
      user: 'alice',
      port: 2222,
      identityFiles: ['~/.ssh/id_hpc'],
      identitiesOnly: true,
      userKnownHostsFiles: ['~/.ssh/known_hosts.hpc', '/etc/hpc_known_hosts'],
      proxyJump: 'bastion',
    });
    expect(lookup(text, 'other')).toEqual({ identityFiles: [], where: {} });
  });

  it('keywords are case-insensitive; Key=value, Key = value and quoted values', () => {
    const o = lookup('HOST hpc\n  hostname=login\n  USER = "al ice"\n  port\t=\t22\n  identityfile "/keys/my key"\n', 'hpc');
    expect(o).toMatchObject({ hostName: 'login', user: 'al ice', port: 22, identityFiles: ['/keys/my key'] });
  });

  it('the first obtained value wins, across blocks; IdentityFile accumulates', () => {
    const o = lookup('Host hpc\n  User first\n  IdentityFile ~/a\nHost *\n  User second\n  Port 2200\n  IdentityFile ~/b\n', 'hpc');
    expect(o).toMatchObject({ user: 'first', port: 2200, identityFiles: ['~/a', '~/b'] });
    // Lines before any Host apply to every host, and so win over later blocks.
    expect(lookup('User top\nHost hpc\n  User late\n', 'hpc').user).toBe('top');
  });

  it('Host patterns: several per line, * and ?, negation vetoes, case-insensitive', () => {
    expect(hostLineMatches(['a', 'hpc-*'], 'hpc-login')).toBe(true);
    expect(hostLineMatches(['hpc-?'], 'hpc-1')).toBe(true);
    expect(hostLineMatches(['hpc-?'], 'hpc-12')).toBe(false);
    expect(hostLineMatches(['*.edu', '!bad.edu'], 'bad.edu')).toBe(false);
    expect(hostLineMatches(['*.edu', '!bad.edu'], 'good.edu')).toBe(true);
    expect(hostLineMatches(['!bad.edu'], 'good.edu')).toBe(false); // a negation alone matches nothing
    expect(hostLineMatches(['HPC'], 'hpc')).toBe(true);
    expect(hostLineMatches(['h.pc'], 'hxpc')).toBe(false); // dots are literal
  });

  it('comments, blank lines and trailing comments are ignored', () => {
    expect(lookup('\n# x\nHost hpc # the cluster\n  User bob   # not a value\n\n', 'hpc')).toMatchObject({ user: 'bob' });
  });

  it('Match all applies; any other Match block does not (criteria are not evaluated)', () => {
    expect(lookup('Match host hpc\n  User matched\nMatch all\n  Port 2022\n', 'hpc')).toMatchObject({ port: 2022 });
    expect(lookup('Match host hpc\n  User matched\n', 'hpc').user).toBeUndefined();
    expect(lookup('Match exec "true"\n  User x\nHost hpc\n  User y\n', 'hpc').user).toBe('y');
  });

  it('Include: relative to ~/.ssh, globs in the file name, in place and only within an active block', () => {
    const more = {
      '/home/alice/.ssh/config.d/10-hpc': 'Host hpc\n  HostName login.edu\n',
      '/home/alice/.ssh/config.d/20-all': 'Host *\n  User fromglob\n',
      '/home/alice/.ssh/config.d/.hidden': 'Host *\n  User hidden\n',
      '/etc/extra': 'Port 2200\n',
      '/home/alice/.ssh/other': 'Host other\n  User other\n',
    };
    const o = lookup('Include config.d/*\nHost other\n  Include /etc/extra\nHost hpc\n  User late\n', 'hpc', more);
    expect(o).toMatchObject({ hostName: 'login.edu', user: 'fromglob' });
    expect(o.port).toBeUndefined(); // /etc/extra was included under Host other
    expect(lookup('Host hpc\n  Include /etc/extra\n', 'hpc', more).port).toBe(2200);
    // After an include, the including block's state is back: its Host other does not hide "User here".
    expect(lookup('Host hpc\n  Include other\n  User here\n', 'hpc', more).user).toBe('here');
    expect(lookup('Include nothing-here\nUser u\n', 'hpc').user).toBe('u'); // a missing include is no error
  });

  it('an Include loop stops with the file and line', () => {
    const files = fakeFiles({ '/c': 'Include /c\n' });
    expect(() => loadSshConfig('/c', files)).toThrow(/^\/c line 1: Include nested more than 16 deep$/);
  });

  it('ProxyJump vs ProxyCommand: whichever comes first; none switches both off', () => {
    expect(lookup('Host hpc\n  ProxyCommand ssh -W %h:%p gw\n  ProxyJump gw\n', 'hpc')).toMatchObject({ proxyCommand: 'ssh -W %h:%p gw' });
    expect(lookup('Host hpc\n  ProxyJump gw\n  ProxyCommand ssh -W %h:%p gw\n', 'hpc')).toMatchObject({ proxyJump: 'gw' });
    const off = lookup('Host hpc\n  ProxyJump none\nHost *\n  ProxyJump gw\n', 'hpc');
    expect(off.proxyJump).toBeUndefined();
    expect(lookup('Host hpc\n  ProxyJump a, b\n', 'hpc').proxyJump).toBe('a,b');
  });

  it('UserKnownHostsFile none means no user file; other keywords are ignored', () => {
    expect(lookup('UserKnownHostsFile none\nForwardAgent yes\nControlMaster auto\n', 'x')).toMatchObject({ userKnownHostsFiles: [] });
  });

  it('bad values name the file and line', () => {
    expect(() => lookup('Host hpc\n  Port twenty\n', 'hpc')).toThrow(new SshConfigError('/home/alice/.ssh/config line 2: Port "twenty" is not a number from 1 to 65535'));
    expect(() => lookup('Port 70000\n', 'x')).toThrow(/line 1: Port "70000"/);
    expect(() => lookup('IdentitiesOnly maybe\n', 'x')).toThrow(/line 1: IdentitiesOnly must be yes or no, not "maybe"/);
    expect(() => lookup('User "alice\n', 'x')).toThrow(/line 1: unterminated quote/);
    expect(() => lookup('Host\n', 'x')).toThrow(/line 1: Host needs at least one pattern/);
    // A bad value in a block that does not apply is not looked at.
    expect(lookup('Host other\n  Port twenty\n', 'hpc').port).toBeUndefined();
  });

  it('a config file that does not exist says so', () => {
    expect(() => loadSshConfig('/nope', fakeFiles({}))).toThrow('ssh config /nope does not exist');
  });
});

describe('ProxyJump specs', () => {
  it('parses [user@]host[:port], ssh:// URIs and bracketed IPv6', () => {
    expect(parseProxyJump('gw', 'x')).toEqual([{ host: 'gw' }]);
    expect(parseProxyJump('bob@gw:2200,ssh://carol@inner:22,[::1]:2222', 'x')).toEqual([
      { user: 'bob', host: 'gw', port: 2200 },
      { user: 'carol', host: 'inner', port: 22 },
      { host: '::1', port: 2222 },
    ]);
  });

  it('refuses what is not a host', () => {
    expect(() => parseProxyJump('gw:port', 'f line 3')).toThrow('f line 3: ProxyJump "gw:port" is not [user@]host[:port]');
    expect(() => parseProxyJump('a,,b', 'f line 3')).toThrow(/ProxyJump "" is not/);
    expect(() => parseProxyJump('gw:0', 'f line 3')).toThrow(/has no valid port/);
  });
});
