import { mkdtemp, readFile, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureDvcRepository, formatIni, parseIni, readDvcConfig, remoteSection, writeDvcConfig } from '../../../src/data/dvc-config.js';

// What `dvc remote add -d origin s3://bucket/prefix` and `dvc config cache.type hardlink` write.
const dvcWritten = "[core]\n    remote = origin\n['remote \"origin\"']\n    url = s3://bucket/prefix\n[cache]\n    type = hardlink\n";

describe('.dvc/config', () => {
  it('reads what DVC writes and writes it back unchanged', () => {
    const config = parseIni(dvcWritten);
    expect(config.get('core', 'remote')).toBe('origin');
    expect(config.get(remoteSection('origin'), 'url')).toBe('s3://bucket/prefix');
    expect(formatIni(config)).toBe(dvcWritten);
  });

  it('sets and deletes keys and sections, keeping the others in order', () => {
    const config = parseIni(dvcWritten);
    config.set(remoteSection('origin'), 'endpointurl', 'http://127.0.0.1:8333');
    config.delete('cache');
    config.set('core', 'autostage', 'true');
    expect(formatIni(config)).toBe(
      "[core]\n    remote = origin\n    autostage = true\n['remote \"origin\"']\n    url = s3://bucket/prefix\n    endpointurl = http://127.0.0.1:8333\n",
    );
  });

  it('refuses a line that is neither a section nor a key in one line', () => {
    expect(() => parseIni('[core]\nnonsense\n')).toThrow(/\.dvc\/config line 2 is not/);
  });

  it('creates what dvc init does, keeps what is there, round-trips through the file', async () => {
    const root = await mkdtemp(join(tmpdir(), 'reprise-dvc-config-'));
    await mkdir(join(root, '.dvc'));
    await writeFile(join(root, '.dvc/config'), dvcWritten);
    expect(await ensureDvcRepository(root)).toEqual(['.dvc/config', '.dvc/.gitignore', '.dvcignore']);
    expect(await readFile(join(root, '.dvc/config'), 'utf8')).toBe(dvcWritten);
    expect(await readFile(join(root, '.dvc/.gitignore'), 'utf8')).toBe('/config.local\n/tmp\n/cache\n');
    const config = await readDvcConfig(root);
    config.set('core', 'remote', 'other');
    await writeDvcConfig(root, config);
    expect((await readDvcConfig(root)).get('core', 'remote')).toBe('other');
  });
});
