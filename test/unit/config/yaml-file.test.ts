import { describe, expect, it } from 'vitest';
import { parseYaml } from '../../../src/config/yaml-file.js';
import { RepriseError } from '../../../src/errors.js';
import { environmentSchema, projectSchema } from '../../../src/project/schema.js';
import { userConfigSchema } from '../../../src/backends/user-config.js';

function errorOf(fn: () => unknown): RepriseError {
  try {
    fn();
  } catch (err) {
    return err as RepriseError;
  }
  throw new Error('expected an error');
}

describe('config files: errors name the file and the key', () => {
  it('unknown top-level key', () => {
    const err = errorOf(() => parseYaml('name: demo\nid: x\nbackned: local\n', projectSchema, '.reprise/project.yaml'));
    expect(err).toBeInstanceOf(RepriseError);
    expect(err.exitCode).toBe(2);
    expect(err.message).toBe('.reprise/project.yaml: unknown key "backned"; fix the file and retry');
  });

  it('unknown nested key', () => {
    const err = errorOf(() => parseYaml('base: x\npackages:\n  npm: [left-pad]\n', environmentSchema, '.reprise/environment.yaml'));
    expect(err.message).toBe('.reprise/environment.yaml: unknown key "npm" under "packages"; fix the file and retry');
  });

  it('wrong type names the key path', () => {
    const err = errorOf(() => parseYaml('name: demo\nid: x\nresources:\n  cpus: many\n', projectSchema, 'project.yaml'));
    expect(err.message).toMatch(/^project.yaml: key "resources.cpus": Expected number, received string/);
  });

  it('missing key', () => {
    expect(errorOf(() => parseYaml('id: x\n', projectSchema, 'p.yaml')).message).toBe('p.yaml: missing key "name"; fix the file and retry');
  });

  it('malformed YAML gives the line', () => {
    const err = errorOf(() => parseYaml('name: demo\n  id: [\n', projectSchema, 'p.yaml'));
    expect(err.message).toMatch(/^p.yaml is not valid YAML \(line \d+\)/);
    expect(err.message.split('\n')).toHaveLength(1);
  });

  it('backend config rejects unknown kinds', () => {
    const err = errorOf(() => parseYaml('backends:\n  hpc:\n    kind: lsf\n', userConfigSchema, 'config.yaml'));
    expect(err.message).toMatch(/^config.yaml: key "backends.hpc.kind"/);
  });
});
