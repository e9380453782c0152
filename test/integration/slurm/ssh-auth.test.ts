// SSH logins to the test cluster the ways users hold their keys: a plain key file, a real
// ssh-agent (OpenSSH's), and a key with a passphrase, which only works through the agent.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SshClient } from '../../../src/backends/slurm/ssh-client.js';
import type { SshTarget } from '../../../src/backends/slurm/ssh-target.js';
import { RepriseError } from '../../../src/errors.js';
import { tempDir } from '../../helpers/project.js';
import { clusterConfig, clusterTarget } from './slurm-backend-env.js';

const config = clusterConfig('~/reprise-it/ssh-auth');
const base = clusterTarget();
let dir: string;
let loadedAgent: string;
let emptyAgent: string;
let encryptedKey: string;
let otherKey: string;

const agentPids: number[] = [];

/** Start an OpenSSH agent on its own socket; returns the socket. */
function startAgent(socket: string): string {
  const out = execFileSync('ssh-agent', ['-s', '-a', socket], { encoding: 'utf8' });
  const pid = Number(/SSH_AGENT_PID=(\d+)/.exec(out)?.[1]);
  if (!pid) throw new Error(`ssh-agent printed no pid: ${out}`);
  agentPids.push(pid);
  return socket;
}

async function whoami(target: SshTarget): Promise<string> {
  const ssh = new SshClient(target);
  try {
    return (await ssh.run(['whoami'])).trim();
  } finally {
    ssh.close();
  }
}

async function failure(target: SshTarget): Promise<RepriseError> {
  const err = await whoami(target).then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(RepriseError);
  expect((err as RepriseError).kind).toBe('BackendUnavailable');
  return err as RepriseError;
}

beforeAll(async () => {
  dir = await tempDir('reprise-ssh-auth-');
  // The same key as the cluster's authorized one, with a passphrase added (a copy: the original stays).
  encryptedKey = join(dir, 'id_encrypted');
  await copyFile(config.identityFile, encryptedKey);
  await chmod(encryptedKey, 0o600);
  execFileSync('ssh-keygen', ['-q', '-p', '-P', '', '-N', 'correct horse', '-f', encryptedKey]);
  await copyFile(`${config.identityFile}.pub`, `${encryptedKey}.pub`);
  otherKey = join(dir, 'id_other');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', otherKey]);
  loadedAgent = startAgent(join(dir, 'agent.sock'));
  const add = spawnSync('ssh-add', [config.identityFile], { env: { ...process.env, SSH_AUTH_SOCK: loadedAgent }, encoding: 'utf8' });
  if (add.status !== 0) throw new Error(`ssh-add failed: ${add.stderr}`);
  emptyAgent = startAgent(join(dir, 'empty-agent.sock'));
});

afterAll(() => {
  for (const pid of agentPids) {
    try {
      process.kill(pid);
    } catch {
      /* gone */
    }
  }
});

describe('SSH credentials for the SLURM login node', () => {
  it('logs in with a plain identity file', async () => {
    expect(await whoami({ ...base, identityFiles: [config.identityFile] })).toBe(config.user);
  });

  it('logs in through ssh-agent alone, with no identity file', async () => {
    expect(await whoami({ ...base, identityAgent: loadedAgent })).toBe(config.user);
  });

  it('a key with a passphrase is used through the agent that holds it', async () => {
    expect(await whoami({ ...base, identityFiles: [encryptedKey], identityAgent: loadedAgent })).toBe(config.user);
  });

  it('several identity files are tried in order, as ssh does', async () => {
    expect(await whoami({ ...base, identityFiles: [otherKey, config.identityFile] })).toBe(config.user);
  });

  it('IdentitiesOnly: the agent offers only the keys named by the identity files', async () => {
    // The agent holds the cluster key; the passphrase key named here is that key (its .pub says so).
    expect(await whoami({ ...base, identityFiles: [encryptedKey], identitiesOnly: true, identityAgent: loadedAgent })).toBe(config.user);
    // Named only another key: the agent's cluster key is not offered, so the login is refused.
    const err = await failure({ ...base, identityFiles: [otherKey], identitiesOnly: true, identityAgent: loadedAgent });
    expect(err.message).toMatch(/^SSH login as .* with .*id_other or the ssh-agent at .* was refused/);
    expect(await whoami({ ...base, identityFiles: [otherKey], identitiesOnly: false, identityAgent: loadedAgent })).toBe(config.user);
  });

  it('a key with a passphrase and no agent: says to ssh-add it', async () => {
    const err = await failure({ ...base, identityFiles: [encryptedKey] });
    expect(err.message).toBe(
      `identityFile ${encryptedKey} has a passphrase; load it into ssh-agent (ssh-add ${encryptedKey}) and give the agent to Reprise (SSH_AUTH_SOCK where the worker starts, or identityAgent in the backend)`,
    );
  });

  it('an agent without the key: the login is refused, naming what was tried', async () => {
    const err = await failure({ ...base, identityFiles: [encryptedKey], identityAgent: emptyAgent });
    expect(err.message).toMatch(new RegExp(`^SSH login as ${config.user}@${config.host}:${config.port} with ${encryptedKey} or the ssh-agent at ${emptyAgent} was refused; add your public key`));
  });

  it('no identity file and no agent', async () => {
    const err = await failure(base);
    expect(err.message).toBe(`no SSH credentials for ${config.user}@${config.host}: set identityFile in the backend (or IdentityFile in your ssh config), or run ssh-agent with your key loaded (SSH_AUTH_SOCK)`);
  });
});
