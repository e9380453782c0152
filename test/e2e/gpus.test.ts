// --gpus as a user types it, on the local Docker engine of this machine (no GPU, no NVIDIA
// runtime): bad values and what Docker cannot give are one line, exit 2, before any container
// is made; nothing is recorded.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { useCliProject } from '../helpers/cli-project.js';
import { repoState } from '../helpers/project.js';

const runtimes = Object.keys(JSON.parse(execFileSync('docker', ['info', '--format', '{{json .Runtimes}}'], { encoding: 'utf8' })) as Record<string, unknown>);
const containersOf = (runId: string) => execFileSync('docker', ['ps', '-a', '-q', '--filter', `label=org.reprise.run=${runId}`], { encoding: 'utf8' }).trim();

describe('the built CLI: --gpus on Docker', () => {
  const p = useCliProject('gpus-docker');

  it.each([
    ['a100:0', 'invalid gpus "a100:0": a GPU type needs at least 1 GPU, e.g. a100:1'],
    [':2', 'invalid gpus ":2": name the type before ":", e.g. a100:2'],
    ['A100:x', 'invalid gpus "A100:x": the type "A100" must be a lowercase name (letters, digits, ".", "_", "-"), e.g. a100:2'],
    ['-1', 'invalid gpus "-1": give a whole number of GPUs, at most 64, as N or TYPE:N (e.g. 2 or a100:2)'],
  ])('--gpus=%s is refused in one line, exit 2', async (value, message) => {
    const r = await p.cli.run(['run', `--gpus=${value}`, '--', 'true'], p.root);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`Error: --gpus: ${message}`);
  });

  it('--gpus 1 without an NVIDIA runtime on the engine: one line naming it, exit 2, no container, nothing recorded', async () => {
    expect(runtimes.some((r) => /nvidia/i.test(r)), 'this test needs an engine without an NVIDIA runtime').toBe(false);
    const before = repoState(p.root);
    const r = await p.cli.run(['run', '--gpus', '1', '--', 'true'], p.root);
    expect(r.code, r.stderr).toBe(2);
    const last = r.stderr.trimEnd().split('\n').at(-1)!;
    expect(last).toMatch(/^Error: --gpus 1: the Docker engine at .+ has no NVIDIA runtime \(its runtimes: .+\); install the NVIDIA Container Toolkit and run `nvidia-ctk runtime configure --runtime=docker` there, or run elsewhere \(--on\)$/);
    for (const name of runtimes) expect(last).toContain(name);
    const runId = /run (run-[a-z2-7]+) on local/.exec(r.stderr)![1]!;
    expect(containersOf(runId)).toBe('');
    expect(repoState(p.root)).toEqual(before);
    expect(await p.cli.json<unknown[]>(['log'], p.root)).toEqual([]);
  });

  it('--gpus a100:1: Docker cannot choose a type, said in one line, exit 2', async () => {
    const r = await p.cli.run(['run', '--gpus', 'a100:1', '--', 'true'], p.root);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.trimEnd().split('\n').at(-1)).toBe(
      'Error: --gpus a100:1: the Docker backend cannot choose GPUs by type (the engine gives any 1 of its GPUs); ask for --gpus 1, or run on a SLURM or Kubernetes backend that maps GPU types (--on)',
    );
    expect(await p.cli.json<unknown[]>(['log'], p.root)).toEqual([]);
  });
});
