import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findLab, labView, readLabs, readLabSession, recordLabCheckpoint, type LabCheckpoint } from '../../../src/project/lab-history.js';
import { labCommitMessage, type LabRecord } from '../../../src/project/lab-record.js';
import { git, makeProject, tempDir } from '../../helpers/project.js';

const LAB = 'lab-abcdefghijkl';

/** What a checkpoint copies back from the job: code/, output/ and the capture's log, as files. */
async function collected(files: Record<string, string | Buffer>): Promise<string> {
  const dir = await tempDir('lab-collected-');
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(dir, path, '..'), { recursive: true });
    await writeFile(join(dir, path), content);
  }
  return dir;
}

function checkpoint(root: string, sourceCommit: string, n: number, collectedDir: string, extra: Partial<LabCheckpoint> = {}): LabCheckpoint {
  return {
    record: {
      version: 1,
      kind: 'lab',
      labId: LAB,
      project: { name: 'proj', id: 'p1' },
      backend: { name: 'local', kind: 'docker', jobId: 'c0ffee' },
      sourceCommit,
      image: { digest: 'sha256:aaa' },
      labImage: { digest: 'sha256:bbb' },
      environment: 'env1',
      checkpoint: n,
      state: 'running',
      startedAt: '2026-12-01T00:00:00.000Z',
      at: `2026-12-01T00:0${n}:00.000Z`,
    },
    collectedDir,
    skipped: [],
    complete: true,
    always: false,
    ...extra,
  };
}

const exec = (n: number, code: string, more: object = {}) => JSON.stringify({ kernel: 'k1', n, code, status: 'ok', started: '2026-12-01T00:00:00Z', duration: 0.1, images: [], ...more }) + '\n';

describe('recordLabCheckpoint', () => {
  it('hashes each file as itself when a name holds a newline: a git-ignored .env at the project root is never committed', async () => {
    const p = await makeProject({ files: { '.gitignore': '.env\n', 'code/a.py': 'a = 1\n' } });
    const secret = `SECRET-${Date.now()}`;
    await writeFile(join(p.root, '.env'), `${secret}\n`);
    const source = git(p.root, 'rev-parse', 'HEAD').trim();
    // "code/x\n.env" read as two paths would hash x, then the root's .env (git's cwd) for the next file.
    const dir = await collected({ 'code/a.py': 'a = 1\n', 'code/x': 'x\n', 'code/x\n.env': 'nl\n', 'code/y': 'y\n' });
    const r = await recordLabCheckpoint(p.root, checkpoint(p.root, source, 1, dir, { always: true }));
    expect(git(p.root, 'log', '--all', '-p', '--binary')).not.toContain(secret);
    for (const [path, content] of [['code/x', 'x\n'], ['code/x\n.env', 'nl\n'], ['code/y', 'y\n']] as const) {
      expect(git(p.root, 'cat-file', 'blob', `${r.commit}:${path}`)).toBe(content);
    }
  });

  it('deletes nothing when collect left files out for its limits or refused a folder (a link)', async () => {
    const p = await makeProject({ files: { 'code/a.py': 'a\n', 'code/sub/b.py': 'b\n', 'code/c.py': 'c\n' } });
    const source = git(p.root, 'rev-parse', 'HEAD').trim();
    const dir = await collected({ 'code/a.py': 'a2\n' });
    const cut = await recordLabCheckpoint(p.root, checkpoint(p.root, source, 1, dir, { complete: false }));
    expect(cut.files).toEqual([expect.objectContaining({ path: 'code/a.py', change: 'modified' })]);
    const other = await makeProject({ files: { 'code/a.py': 'a\n', 'code/sub/b.py': 'b\n' } });
    const refused = await recordLabCheckpoint(other.root, checkpoint(other.root, git(other.root, 'rev-parse', 'HEAD').trim(), 1, await collected({ 'code/.gitkeep': '', 'code/a.py': 'a\n' }), { skipped: ['code/sub'], always: true }));
    expect(refused.files).toEqual([]);
    expect(git(other.root, 'ls-files', 'code')).toContain('code/sub/b.py');
    expect(git(p.root, 'ls-files', 'code')).toContain('code/sub/b.py');
  });

  it('commits the files the lab changed and the cells executed since the last checkpoint, and writes them into the working tree', async () => {
    const p = await makeProject({ files: { 'code/a.py': 'a = 1\n', 'code/gone.py': 'x\n' } });
    const source = git(p.root, 'rev-parse', 'HEAD').trim();
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]);
    const dir = await collected({
      'code/.gitkeep': '',
      'code/a.py': 'a = 2\n',
      'code/n.ipynb': '{"cells": []}\n',
      'output/x.csv': 'a,b\n1,2\n',
      '.reprise-lab/executions.jsonl': exec(1, "print('hi')", { stdout: 'hi\n' }) + exec(2, 'plot()', { images: ['images/k1-2-0.png'] }) + '{"partial": tr',
      '.reprise-lab/images/k1-2-0.png': png,
    });
    const r = await recordLabCheckpoint(p.root, checkpoint(p.root, source, 1, dir));
    expect(r.commit).toBeTruthy();
    expect(r.executions).toBe(2);
    expect(r.files.map((f) => `${f.change} ${f.path}`).sort()).toEqual(['added code/n.ipynb', 'added output/x.csv', 'deleted code/gone.py', 'modified code/a.py']);
    // The commit: files, record and image; the branch moved; the working tree has them.
    expect(git(p.root, 'rev-parse', 'HEAD').trim()).toBe(r.commit);
    expect(git(p.root, 'show', 'HEAD:code/a.py')).toBe('a = 2\n');
    expect(git(p.root, 'ls-tree', '-r', '--name-only', 'HEAD')).not.toContain('code/gone.py');
    expect(await readFile(join(p.root, 'output/x.csv'), 'utf8')).toBe('a,b\n1,2\n');
    expect(await readFile(join(p.root, 'code/a.py'), 'utf8')).toBe('a = 2\n');
    expect(existsSync(join(p.root, 'code/gone.py'))).toBe(false);
    expect(await readFile(join(p.root, `.reprise/activity/${LAB}/k1-2-0.png`))).toEqual(png);
    expect(git(p.root, 'status', '--porcelain')).toBe('');
    const record = JSON.parse(git(p.root, 'show', `HEAD:.reprise/activity/${LAB}.json`)) as LabRecord;
    expect(record.executions.map((e) => e.code)).toEqual(["print('hi')", 'plot()']);
    expect(record.executions[1]!.images).toEqual([`.reprise/activity/${LAB}/k1-2-0.png`]);
    // The partial last line is left for the next checkpoint.
    expect(record.executionsThrough).toBe(Buffer.byteLength(exec(1, "print('hi')", { stdout: 'hi\n' }) + exec(2, 'plot()', { images: ['images/k1-2-0.png'] })));
    const trailers = git(p.root, 'log', '-1', '--format=%(trailers:only,unfold)');
    expect(trailers).toContain('Reprise-Kind: lab');
    expect(trailers).toContain(`Reprise-Lab: ${LAB}`);
    expect(trailers).toContain('Reprise-Executions: 2');

    // Repeating checkpoint 1 (a retried activity) returns the same commit.
    expect((await recordLabCheckpoint(p.root, checkpoint(p.root, source, 1, dir))).commit).toBe(r.commit);

    // Checkpoint 2: only what is new since 1.
    await appendFile(join(dir, '.reprise-lab/executions.jsonl'), 'ue}\n' + exec(3, 'x = 3'));
    await writeFile(join(dir, 'code/a.py'), 'a = 3\n');
    const r2 = await recordLabCheckpoint(p.root, checkpoint(p.root, source, 2, dir));
    const second = JSON.parse(git(p.root, 'show', `HEAD:.reprise/activity/${LAB}.json`)) as LabRecord;
    expect(r2.files.map((f) => f.path)).toEqual(['code/a.py']);
    expect(second.executions.map((e) => e.n)).toEqual([3]); // the broken line is skipped, not fatal

    // Nothing new: no commit.
    const head = git(p.root, 'rev-parse', 'HEAD').trim();
    expect((await recordLabCheckpoint(p.root, checkpoint(p.root, source, 3, dir))).commit).toBeUndefined();
    expect(git(p.root, 'rev-parse', 'HEAD').trim()).toBe(head);

    // The last checkpoint is always committed, with how the session ended.
    const last = await recordLabCheckpoint(p.root, checkpoint(p.root, source, 3, dir, { always: true, record: { ...checkpoint(p.root, source, 3, dir).record, state: 'stopped' } }));
    expect(last.commit).toBeTruthy();
    const labs = await readLabs(p.root);
    expect(labs).toHaveLength(1);
    // A record without an app was made before apps were recorded: a JupyterLab session.
    expect(labs[0]).toMatchObject({ labId: LAB, checkpoints: 3, state: 'stopped', executions: 3, app: 'jupyterlab' });
    expect((await findLab(p.root, 'abcd')).labId).toBe(LAB);
    const session = await readLabSession(p.root, labs[0]!);
    expect(session.flatMap((s) => s.executions).map((e) => e.n)).toEqual([1, 2, 3]);
  });

  it('keeps both versions when the branch changed a file the lab changed too, and never overwrites uncommitted edits', async () => {
    const p = await makeProject({ files: { 'code/a.py': 'a = 1\n', 'code/b.py': 'b = 1\n' } });
    const source = git(p.root, 'rev-parse', 'HEAD').trim();
    // Meanwhile on the laptop: a.py committed with another change, b.py edited and not committed.
    await writeFile(join(p.root, 'code/a.py'), 'a = "laptop"\n');
    git(p.root, 'commit', '-qam', 'laptop edit');
    await writeFile(join(p.root, 'code/b.py'), 'b = "uncommitted"\n');
    const dir = await collected({ 'code/.gitkeep': '', 'code/a.py': 'a = "lab"\n', 'code/b.py': 'b = "lab"\n' });
    const r = await recordLabCheckpoint(p.root, checkpoint(p.root, source, 1, dir));
    expect(git(p.root, 'show', 'HEAD:code/a.py')).toBe('a = "laptop"\n');
    expect(git(p.root, 'show', `HEAD:code/a.lab-abcdefgh.py`)).toBe('a = "lab"\n');
    expect(r.files.find((f) => f.path === 'code/a.py')?.keptAs).toBe('code/a.lab-abcdefgh.py');
    expect(git(p.root, 'show', 'HEAD:code/b.py')).toBe('b = "lab"\n');
    expect(r.notWritten).toEqual(['code/b.py']);
    expect(await readFile(join(p.root, 'code/b.py'), 'utf8')).toBe('b = "uncommitted"\n');
    expect(await readFile(join(p.root, 'code/a.lab-abcdefgh.py'), 'utf8')).toBe('a = "lab"\n');
  });

  it('takes no deletion from a copy without code/ (a job gone before its files were copied)', async () => {
    const p = await makeProject({ files: { 'code/a.py': 'a = 1\n' } });
    const source = git(p.root, 'rev-parse', 'HEAD').trim();
    const dir = await collected({});
    const r = await recordLabCheckpoint(p.root, checkpoint(p.root, source, 1, dir, { always: true }));
    expect(r.files).toEqual([]);
    expect(git(p.root, 'show', 'HEAD:code/a.py')).toBe('a = 1\n');
    await rm(dir, { recursive: true, force: true });
  });

  it('writes a commit message with the trailers of a lab', () => {
    const msg = labCommitMessage({ ...checkpoint('', 'abc', 2, '').record, files: [], executions: [], executionsThrough: 0, synced: {}, state: 'timed out', reason: 'time limit 1m exceeded' });
    expect(msg.split('\n')[0]).toBe('lab abcdefgh: checkpoint 2, 0 cells executed, 0 files changed [timed out]');
    expect(msg).toContain('time limit 1m exceeded');
    expect(msg).toContain('Reprise-Lab-Checkpoint: 2');
    expect(msg).not.toContain('Reprise-Lab-App');
  });

  it('names the app the session opened in its record and trailer, and reads it back for lab list and show', async () => {
    const p = await makeProject({ files: { 'code/a.py': 'a\n' } });
    const source = git(p.root, 'rev-parse', 'HEAD').trim();
    const base = checkpoint(p.root, source, 1, await collected({ 'code/a.py': 'b\n' }), { always: true });
    await recordLabCheckpoint(p.root, { ...base, record: { ...base.record, app: 'vscode' } });
    expect(git(p.root, 'log', '-1', '--format=%(trailers:key=Reprise-Lab-App,valueonly)').trim()).toBe('vscode');
    expect((JSON.parse(git(p.root, 'show', `HEAD:.reprise/activity/${LAB}.json`)) as LabRecord).app).toBe('vscode');
    expect((await readLabs(p.root))[0]).toMatchObject({ labId: LAB, app: 'vscode' });
    expect((await labView(p.root, LAB)).app).toBe('vscode');
  });
});
