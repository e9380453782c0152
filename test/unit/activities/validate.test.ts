import { ApplicationFailure } from '@temporalio/common';
import { chown, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkedActivities, inputChecks, remoteAllowed, type InputPolicy } from '../../../src/activities/validate.js';
import type { RunInput } from '../../../src/activities/types.js';
import type { Backend, JobHandle } from '../../../src/backends/types.js';
import { saveUserConfig } from '../../../src/backends/user-config.js';
import { makeProject, tempDir } from '../../helpers/project.js';

const noBackend = async (): Promise<Backend> => ({ kind: 'docker' }) as Backend;

/** The prepare and cleanup activities behind the checks, recording whether they ran. */
async function guarded(policy: Partial<InputPolicy> = {}) {
  const home = policy.home ?? (await tempDir('reprise-validate-home-'));
  const ran: string[] = [];
  const acts = checkedActivities(
    { prepare: async (input: RunInput) => void ran.push(input.runId), cleanup: async (input: RunInput, _handle?: JobHandle) => void ran.push(input.runId) },
    inputChecks({ home, backendOf: noBackend, ...policy }),
  );
  return { acts, ran, home };
}

async function refusal(p: Promise<unknown>): Promise<string> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ApplicationFailure);
  expect((err as ApplicationFailure).nonRetryable).toBe(true);
  expect((err as ApplicationFailure).type).toBe('BadInput');
  return (err as ApplicationFailure).message;
}

const input = (projectRoot: string, over: Partial<RunInput> = {}): RunInput => ({ runId: 'run-abc', projectRoot, backend: 'local', command: ['true'], resources: {}, ...over });

describe('workflow inputs checked at the activity boundary', () => {
  it('lets a well-formed run of an own project through', async () => {
    const { acts, ran } = await guarded();
    const p = await makeProject();
    await acts.prepare(input(p.root));
    expect(ran).toEqual(['run-abc']);
  });

  it.each([
    [{ runId: '../../x' }, 'prepare: refused workflow input: input.runId must be an id'],
    [{ runId: '..' }, 'input.runId must be an id'],
    [{ backend: '../x' }, 'input.backend backend names are lowercase'],
    [{ resources: { cpus: 1e308 } }, 'input.resources.cpus Number must be less than or equal to 1024'],
    [{ resources: { timeSeconds: 0 } }, 'input.resources.timeSeconds Number must be greater than 0'],
    [{ workdir: 'code', extra: 1 } as Partial<RunInput>, 'input Unrecognized key(s) in object: \'extra\''],
    [{ rerun: { runId: 'run-x', sourceCommit: 'HEAD', imageDigest: 'sha256:x' } }, 'input.rerun.sourceCommit must be a 40-hex commit id'],
    [{ attached: { handle: { kind: 'docker', runId: 'run-abc', jobId: '--all' } } }, 'input.attached.handle.jobId must be a job id of the backend'],
    // Modes that do not go together (src/workflows/run-origin.ts), refused by the field that makes them so.
    [{ attached: { handle: { kind: 'docker', runId: 'run-abc', jobId: 'a'.repeat(64) } } }, "input.attached needs sweep: only a sweep's points"],
    [{ rerun: { runId: 'run-x', sourceCommit: 'a'.repeat(40), imageDigest: `sha256:${'b'.repeat(64)}` }, reuse: true }, 'input.reuse is refused in a rerun'],
    [{ lab: { port: 8888, checkpointSeconds: 60 }, placementStart: 1 }, 'input.placementStart is refused in a lab session'],
  ])('refuses %j by name, before the activity runs', async (over, message) => {
    const { acts, ran } = await guarded();
    const p = await makeProject();
    expect(await refusal(acts.prepare(input(p.root, over)))).toContain(message);
    expect(ran).toEqual([]);
  });

  it("refuses a project root owned by another account, or not a project's top", async () => {
    const p = await makeProject();
    const other = await guarded({ uid: (process.getuid?.() ?? 0) + 1 });
    expect(await refusal(other.acts.prepare(input(p.root)))).toContain(`input.projectRoot ${p.root} is not owned by this worker's account`);
    const { acts } = await guarded();
    await mkdir(join(p.root, 'code', '.reprise'), { recursive: true });
    expect(await refusal(acts.prepare(input(join(p.root, 'code'))))).toContain('is not a Reprise project');
    expect(await refusal(acts.prepare(input('relative/dir')))).toContain('input.projectRoot must be an absolute, normalised path');
    expect(await refusal(acts.prepare(input('/nonexistent/reprise-project')))).toContain('does not exist');
  });

  // chown to another account needs root.
  it.skipIf(process.getuid?.() !== 0)('a project owned by another uid is refused even when it is a valid project', async () => {
    const p = await makeProject();
    await chown(p.root, 65534, 65534);
    const { acts } = await guarded();
    expect(await refusal(acts.prepare(input(p.root)))).toContain("is not owned by this worker's account");
  });

  it('refuses a handle of another run, another kind or another path', async () => {
    const { acts, home } = await guarded();
    const p = await makeProject();
    const own = { kind: 'docker', runId: 'run-abc', jobId: 'a'.repeat(64), sources: join(home, 'runs', 'run-abc', 'src'), timeSeconds: null };
    await acts.cleanup(input(p.root), own);
    expect(await refusal(acts.cleanup(input(p.root), { ...own, runId: 'run-other' }))).toContain('handle.runId "run-other" is not the run\'s id run-abc');
    expect(await refusal(acts.cleanup(input(p.root), { ...own, kind: 'slurm' }))).toContain('handle.kind "slurm" is not the kind of the run\'s backend (docker)');
    expect(await refusal(acts.cleanup(input(p.root), { ...own, sources: '/home/someone' }))).toContain(`handle.sources must be "${own.sources}"`);
  });

  it("a Kubernetes handle: the run's Job in the backend's namespace, and a worker's archive of this run (another team worker may have staged it)", async () => {
    const { acts, home } = await guarded();
    await saveUserConfig(home, { backends: { k8s: { kind: 'kubernetes', namespace: 'runs', registry: 'r.example/x' } } });
    const p = await makeProject();
    const own = { kind: 'kubernetes', runId: 'run-abc', jobId: 'reprise-run-abc', namespace: 'runs', sources: '/home/worker-a/.reprise/runs/run-abc/sources.k8s.tar', timeSeconds: null };
    const k8s = input(p.root, { backend: 'k8s' });
    await acts.cleanup(k8s, own);
    expect(await refusal(acts.cleanup(k8s, { ...own, sources: '/etc/passwd' }))).toContain("handle.sources must be a worker's runs/run-abc/sources.k8s.tar");
    expect(await refusal(acts.cleanup(k8s, { ...own, sources: '/x/runs/run-abc/../../etc/runs/run-abc/sources.k8s.tar' }))).toContain('handle.sources');
    expect(await refusal(acts.cleanup(k8s, { ...own, namespace: 'kube-system' }))).toContain('handle.namespace must be "runs"');
    expect(await refusal(acts.cleanup(k8s, { ...own, jobId: 'reprise-run-other' }))).toContain('handle.jobId must be "reprise-run-abc"');
  });

  it('team runs: only remotes the worker allows; a team worker takes no local project and only its backends', async () => {
    const home = await tempDir('reprise-validate-home-');
    const team = { remote: 'git@git.example.com:team/analysis.git', branch: 'refs/heads/main', sourceCommit: 'a'.repeat(40), image: { digest: `sha256:${'b'.repeat(64)}`, environment: 'c'.repeat(64), reused: true } };
    const { acts, ran } = await guarded({ home, servedBackends: ['local'] });
    expect(await refusal(acts.prepare(input('', { team })))).toContain('this worker allows no team remotes (set worker.allowedRemotes in its config.yaml)');
    await saveUserConfig(home, { backends: { spare: { kind: 'docker' } }, worker: { allowedRemotes: ['git@git.example.com:team/*.git'] } });
    await acts.prepare(input('', { team }));
    expect(ran).toEqual(['run-abc']);
    expect(await refusal(acts.prepare(input('', { team: { ...team, remote: 'git@git.example.com:other/x.git' } })))).toContain("matches none of this worker's worker.allowedRemotes");
    expect(await refusal(acts.prepare(input('', { team: { ...team, remote: '--upload-pack=touch /tmp/x' } })))).toContain('input.team.remote must be a git remote URL');
    // A remote with a password is refused without repeating it (clients send none: the worker uses its own credentials).
    await saveUserConfig(home, { backends: { spare: { kind: 'docker' } }, worker: { allowedRemotes: ['git@git.example.com:team/*.git', 'https://git.example.com/**'] } });
    const withPassword = await refusal(acts.prepare(input('', { team: { ...team, remote: 'https://alice:s3cret-token@git.example.com/team/x.git' } })));
    expect(withPassword).toContain('"https://alice:***@git.example.com/team/x.git" carries a password');
    expect(withPassword).not.toContain('s3cret-token');
    expect(await refusal(acts.prepare(input('', { team, backend: 'spare' })))).toContain('input.backend "spare" is not a backend this worker serves (it serves local)');
    expect(await refusal(acts.prepare(input((await makeProject()).root)))).toContain('a team worker reaches projects only through their remote');
    expect(await refusal(acts.prepare(input('/x', { team })))).toContain('input.projectRoot must be empty in a team run');
  });

  it("a notice's event: an id, a commit and a project this worker owns, nothing more", async () => {
    const home = await tempDir('reprise-validate-home-');
    const sent: string[] = [];
    const acts = checkedActivities({ notifyEnded: async (e: Record<string, unknown>) => void sent.push(String(e.id)) }, { notifyEnded: inputChecks({ home, backendOf: noBackend }).notifyEnded });
    const p = await makeProject();
    const event = { kind: 'run', id: 'run-abc', commit: 'c'.repeat(40), projectRoot: p.root };
    await acts.notifyEnded(event);
    expect(sent).toEqual(['run-abc']);
    expect(await refusal(acts.notifyEnded({ ...event, id: '../x' }))).toContain('event.id must be an id');
    expect(await refusal(acts.notifyEnded({ ...event, url: 'https://elsewhere.example.com/' }))).toContain("Unrecognized key(s) in object: 'url'");
    expect(await refusal(acts.notifyEnded({ ...event, projectRoot: '/etc' }))).toContain('event.projectRoot');
    expect(sent).toEqual(['run-abc']);
  });

  it('matches remotes by pattern: "*" within a path segment, "**" across, everything else literally', () => {
    expect(remoteAllowed('git@h:team/a.git', ['git@h:team/*.git'])).toBe(true);
    expect(remoteAllowed('git@h:team/sub/a.git', ['git@h:team/*.git'])).toBe(false);
    expect(remoteAllowed('https://h/team/sub/a.git', ['https://h/team/**'])).toBe(true);
    expect(remoteAllowed('https://hXteam/a', ['https://h.team/a'])).toBe(false);
    expect(remoteAllowed('https://h/team/a.git.evil', ['https://h/team/*.git'])).toBe(false);
    expect(remoteAllowed('anything', [])).toBe(false);
  });
});
