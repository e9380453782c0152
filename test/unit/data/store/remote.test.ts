import { describe, expect, it } from 'vitest';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readDataRemote, requireDataRemote, setDataRemote } from '../../../../src/data/store/remote.js';
import { makeProject } from '../../../helpers/project.js';
import { userError } from '../../../helpers/sync.js';

describe('data remote in .dvc/config', () => {
  it('set writes it as `dvc remote add -d` would, and keeps what DVC wrote', async () => {
    const { root } = await makeProject();
    await mkdir(join(root, '.dvc'), { recursive: true });
    await writeFile(join(root, '.dvc/config'), '[cache]\n    type = hardlink\n');
    expect(await readDataRemote(root)).toBeUndefined();
    const remote = await setDataRemote(root, 's3://lab-data/fit/', 'http://127.0.0.1:9000/');
    expect(remote).toEqual({ name: 'storage', url: 's3://lab-data/fit', endpoint: 'http://127.0.0.1:9000' });
    expect(await readFile(join(root, '.dvc/config'), 'utf8')).toBe(
      "[cache]\n    type = hardlink\n[core]\n    remote = storage\n['remote \"storage\"']\n    url = s3://lab-data/fit\n    endpointurl = http://127.0.0.1:9000\n",
    );
    // Again: the same remote is updated in place; the endpoint stays unless changed or dropped.
    expect(await setDataRemote(root, 's3://lab-data/other', undefined)).toEqual({ name: 'storage', url: 's3://lab-data/other', endpoint: 'http://127.0.0.1:9000' });
    expect(await setDataRemote(root, 's3://lab-data/other', null)).toEqual({ name: 'storage', url: 's3://lab-data/other' });
  });

  it("reads a DVC user's remote, with .dvc/config.local over it", async () => {
    const { root } = await makeProject();
    await mkdir(join(root, '.dvc'), { recursive: true });
    await writeFile(join(root, '.dvc/config'), "[core]\n    remote = myremote\n['remote \"myremote\"']\n    url = s3://bucket/path\n    region = eu-west-1\n");
    await writeFile(join(root, '.dvc/config.local'), "['remote \"myremote\"']\n    profile = lab\n    endpointurl = https://s3.lab.example\n");
    expect(await requireDataRemote(root)).toEqual({ name: 'myremote', url: 's3://bucket/path', endpoint: 'https://s3.lab.example', region: 'eu-west-1', profile: 'lab' });
  });

  it('bad input changes nothing: a non-S3 URL, an endpoint with credentials in it, no remote at all', async () => {
    const { root } = await makeProject();
    expect((await userError(setDataRemote(root, '/mnt/data', undefined))).message).toBe('"/mnt/data" is not an object store URL; give s3://bucket/prefix');
    const err = await userError(setDataRemote(root, 's3://b-1/p', 'http://key:secret@host:9000'));
    expect(err.exitCode).toBe(2);
    expect(err.message).toMatch(/^"http:\/\/key:secret@host:9000" is not an endpoint URL; give http\(s\):\/\/host\[:port\] \(no credentials in it/);
    expect((await userError(requireDataRemote(root))).message).toBe('this project has no data remote; set one: reprise data remote set s3://bucket/prefix [--endpoint URL]');
    await expect(readFile(join(root, '.dvc/config'), 'utf8')).rejects.toThrow();
  });
});
