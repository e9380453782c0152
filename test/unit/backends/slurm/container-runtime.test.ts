import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { apptainer, charliecloud } from '../../../../src/backends/slurm/container-runtime.js';

describe('GPU jobs: charliecloud runs the image with the node\'s NVIDIA libraries injected, apptainer passes --nv', () => {
  it('only charliecloud with gpus > 0 prepares and runs <image>-nvidia; CPU jobs run the plain image', () => {
    const gpu = charliecloud.runCommand('/w/images/abc', '/r/project', ['nvidia-smi'], 1);
    expect(gpu).toMatch(/^'sh' '-c' '[\s\S]*ch-fromhost --nvidia [\s\S]*' 'reprise-nvidia' '\/w\/images\/abc' && 'ch-run' '--set-env' '-b' '\/r\/project:\/project' '-c' '\/project' '\/w\/images\/abc-nvidia' '--' /);
    const cpu = charliecloud.runCommand('/w/images/abc', '/r/project', ['nvidia-smi'], 0);
    expect(cpu).not.toMatch(/ch-fromhost|nvidia'/);
    expect(cpu).toContain(`'/w/images/abc' '--'`);
    // With secrets, the mount point is made in the image that runs.
    expect(charliecloud.runCommand('/w/images/abc', '/r/project', ['x'], 2, '/project', [], '/r/secrets')).toMatch(/' 'reprise-nvidia' '\/w\/images\/abc' && mkdir -p '\/w\/images\/abc-nvidia\/run\/secrets' && 'unshare' /);
    const sif = apptainer.runCommand('/w/images/abc.sif', '/r/project', ['nvidia-smi'], 1);
    expect(sif).not.toContain('ch-fromhost');
    expect(sif).toContain(`'--nv' '/w/images/abc.sif'`);
  });
});

// The generated command run by sh with fakes of the cluster's tools first on PATH: ch-run prints
// the image it was given, ch-fromhost marks the image it injected into (and logs the call),
// nvidia-container-cli succeeds unless FAKE_NVIDIA_CLI=fail.
describe('the GPU image step, run', () => {
  let dir: string;
  const images = () => join(dir, 'images');
  const plain = () => join(images(), 'abc');
  const calls = () => (existsSync(join(dir, 'calls')) ? readFileSync(join(dir, 'calls'), 'utf8').trim().split('\n') : []);
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'reprise-nvidia-'));
    mkdirSync(join(plain(), 'project'), { recursive: true });
    writeFileSync(join(plain(), 'etc-file'), 'plain\n');
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    const fake = (name: string, body: string) => {
      writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`);
      chmodSync(join(bin, name), 0o755);
    };
    fake('nvidia-container-cli', '[ "$FAKE_NVIDIA_CLI" != fail ] || { echo "nvidia-container-cli: initialization error" >&2; exit 1; }; echo /usr/bin/nvidia-smi');
    fake('ch-fromhost', `echo "ch-fromhost $*" >> '${dir}/calls'; [ "$FAKE_FROMHOST" != fail ] || { echo "ch-fromhost: empty path from ldconfig" >&2; exit 1; }; echo injected > "$2/injected"`);
    fake('ch-run', 'while [ "$1" != -- ]; do last=$1; shift; done; echo "ran $last"');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const run = (env: Record<string, string> = {}) =>
    spawnSync('sh', ['-c', charliecloud.runCommand(plain(), '/r/project', ['nvidia-smi'], 1)], { env: { PATH: `${join(dir, 'bin')}:/usr/bin:/bin`, ...env }, encoding: 'utf8' });

  it('makes <image>-nvidia once, runs it, and reuses it on the next GPU job; the plain image is untouched', () => {
    const first = run();
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toBe(`ran ${plain()}-nvidia\n`);
    expect(readFileSync(join(`${plain()}-nvidia`, 'injected'), 'utf8')).toBe('injected\n');
    expect(readFileSync(join(`${plain()}-nvidia`, 'etc-file'), 'utf8')).toBe('plain\n');
    expect(existsSync(join(plain(), 'injected'))).toBe(false);
    const second = run();
    expect(second.status, second.stderr).toBe(0);
    expect(second.stdout).toBe(`ran ${plain()}-nvidia\n`);
    expect(calls()).toHaveLength(1);
    expect(calls()[0]).toMatch(/^ch-fromhost --nvidia .*\/images\/abc-nvidia\.tmp-\w+$/);
    expect(readdirSync(images()).sort()).toEqual(['abc', 'abc-nvidia']);
  });

  it('a node without working NVIDIA container libraries: exit 125, one line with the fix, nothing made', () => {
    const r = run({ FAKE_NVIDIA_CLI: 'fail' });
    expect(r.status).toBe(125);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^reprise: node \S+ lacks the NVIDIA container libraries \('nvidia-container-cli list' failed\): install libnvidia-container on the GPU nodes; or use runtime apptainer, which passes --nv\n$/);
    expect(readdirSync(images())).toEqual(['abc']);
  });

  it('ch-fromhost failing: exit 125, one line with its last words, and its copy removed (read-only directories too)', () => {
    mkdirSync(join(plain(), 'ro'));
    chmodSync(join(plain(), 'ro'), 0o555);
    const r = run({ FAKE_FROMHOST: 'fail' });
    expect(r.status).toBe(125);
    expect(r.stderr).toMatch(/^reprise: ch-fromhost --nvidia failed on node \S+ \(ch-fromhost: empty path from ldconfig\): the image needs \/sbin\/ldconfig .*; or use runtime apptainer, which passes --nv\n$/);
    expect(readdirSync(images())).toEqual(['abc']);
    execFileSync('chmod', ['-R', 'u+w', dir]);
  });

  it('a job that lost the race to another drops its copy and runs the winner\'s', () => {
    // ch-fromhost here also makes the finished image, as a job converting at the same time would.
    writeFileSync(join(dir, 'bin', 'ch-fromhost'), `#!/bin/sh\nmkdir -p '${plain()}-nvidia' && echo theirs > '${plain()}-nvidia/injected'\n`);
    const r = run();
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(`ran ${plain()}-nvidia\n`);
    expect(readFileSync(join(`${plain()}-nvidia`, 'injected'), 'utf8')).toBe('theirs\n');
    expect(readdirSync(images()).sort()).toEqual(['abc', 'abc-nvidia']);
  });
});
