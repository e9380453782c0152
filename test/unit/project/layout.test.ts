import { describe, expect, it } from 'vitest';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { snapshotSources } from '../../../src/project/history.js';
import { git, makeProject } from '../../helpers/project.js';

describe('initProject', () => {
  it('commits a .gitignore that keeps secrets and notebook autosaves out of every run', async () => {
    const p = await makeProject();
    expect(git(p.root, 'ls-tree', '--name-only', 'HEAD')).toContain('.gitignore');
    await mkdir(join(p.root, 'code/.ipynb_checkpoints'));
    const ignored = ['.env', '.env.local', 'code/.ipynb_checkpoints/fit-checkpoint.ipynb', 'input/id_rsa', 'input/tls.key', 'code/cert.pem'];
    const kept = ['.env.example', 'input/id_rsa.pub', 'code/fit.py'];
    for (const path of [...ignored, ...kept]) await writeFile(join(p.root, path), 'not a key\n');
    const { sourceCommit } = await snapshotSources(p.root, 'run-g');
    const swept = git(p.root, 'ls-tree', '-r', '--name-only', sourceCommit).split('\n');
    for (const path of ignored) expect(swept).not.toContain(path);
    for (const path of kept) expect(swept).toContain(path);
  });
});
