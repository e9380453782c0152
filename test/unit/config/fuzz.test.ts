// Property-based fuzzing of everything a user types or writes by hand: the YAML files and the
// resource flags. Each generated input either parses or fails as Reprise's bad-input error
// (exit 2) whose first line says what is wrong: never another exception, never a crash.
import fc from 'fast-check';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { parseDuration, parseMemory } from '../../../src/config/resources.js';
import { userConfigSchema } from '../../../src/config/user-config.js';
import { parseYaml } from '../../../src/config/yaml-file.js';
import { resolveResources } from '../../../src/cli/run-flags.js';
import { ErrorKind, RepriseError } from '../../../src/errors.js';
import { environmentSchema, projectSchema } from '../../../src/project/schema.js';

const RUNS = { numRuns: 1000 };

/** Parses, or throws the bad-input error with a non-empty first line. */
function acceptsOrRefuses(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(RepriseError);
    expect((err as RepriseError).kind).toBe(ErrorKind.badInput);
    expect((err as RepriseError).message.split('\n')[0]!.trim().length).toBeGreaterThan(10);
  }
}

// YAML-shaped input: arbitrary values in the shape of each file (right keys, wrong types, extra
// keys), arbitrary text, and valid documents with one character changed.
const scalar = fc.oneof(fc.string(), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.fullUnicodeString({ maxLength: 40 }));
const value = fc.letrec((tie) => ({ v: fc.oneof({ depthSize: 'small' }, scalar, fc.array(tie('v'), { maxLength: 4 }), fc.dictionary(fc.string({ maxLength: 12 }), tie('v'), { maxKeys: 4 })) })).v;
const shaped = (keys: string[]) => fc.dictionary(fc.constantFrom(...keys, 'extra', ''), value, { maxKeys: keys.length + 1 }).map((o) => stringify(o));
const mutated = (valid: string) =>
  fc.tuple(fc.nat({ max: valid.length - 1 }), fc.fullUnicodeString({ maxLength: 3 })).map(([at, text]) => valid.slice(0, at) + text + valid.slice(at + 1));
const texts = (keys: string[], valid: string) => fc.oneof(shaped(keys), fc.fullUnicodeString({ maxLength: 200 }), mutated(valid));

describe('fuzzing the hand-written files (1,000+ cases each)', () => {
  it('.reprise/project.yaml', () => {
    const valid = 'name: demo\nid: 0f3a\nbackend: hpc\nresources:\n  cpus: 2\n  memory: 4G\n  time: 1h\n';
    fc.assert(fc.property(texts(['name', 'id', 'backend', 'resources'], valid), (t) => acceptsOrRefuses(() => parseYaml(t, projectSchema, '.reprise/project.yaml'))), RUNS);
  });

  it('.reprise/environment.yaml', () => {
    const valid = 'base: python:3.12-slim\npackages:\n  pip: [numpy==2.1.0]\n  apt: [curl]\ndockerfile: ["ENV A=1"]\nlocked: true\n';
    fc.assert(fc.property(texts(['base', 'packages', 'dockerfile', 'locked'], valid), (t) => acceptsOrRefuses(() => parseYaml(t, environmentSchema, '.reprise/environment.yaml'))), RUNS);
  });

  it('the user config.yaml', () => {
    const valid =
      'registry: {url: 127.0.0.1:5000/team}\nbuild: {caFile: /etc/ssl/ca.pem}\nbackends:\n  hpc: {kind: slurm, host: login, user: me, knownHostsFile: ~/.ssh/known_hosts}\n  k8s: {kind: kubernetes, namespace: runs, registry: r.example/x}\n';
    fc.assert(fc.property(texts(['registry', 'build', 'backends'], valid), (t) => acceptsOrRefuses(() => parseYaml(t, userConfigSchema, 'config.yaml'))), RUNS);
  });
});

describe('fuzzing the resource flags (1,000+ cases each)', () => {
  const project = { name: 'p', id: 'x' };
  const flagText = fc.oneof(fc.fullUnicodeString({ maxLength: 20 }), fc.stringMatching(/^-?[0-9.]{0,6}[a-zA-Z:]{0,3}[0-9]{0,3}$/), fc.double().map(String));

  it('--cpus, --memory and --time: a finite positive resource or a one-line bad-input error', () => {
    fc.assert(
      fc.property(fc.option(flagText, { nil: undefined }), fc.option(flagText, { nil: undefined }), fc.option(flagText, { nil: undefined }), (cpus, memory, time) =>
        acceptsOrRefuses(() => {
          const r = resolveResources({ cpus, memory, time }, project);
          for (const n of [r.cpus, r.memoryBytes, r.timeSeconds]) if (n !== undefined) expect(Number.isFinite(n) && n > 0).toBe(true);
        }),
      ),
      RUNS,
    );
  });

  it('memory and duration parsers: positive finite numbers, or an Error saying which value', () => {
    for (const parse of [parseMemory, parseDuration]) {
      fc.assert(
        fc.property(flagText, (t) => {
          try {
            const n = parse(t);
            expect(Number.isFinite(n) && n > 0).toBe(true);
          } catch (err) {
            expect(err).toBeInstanceOf(Error);
            expect((err as Error).message).toContain(t.slice(0, 5));
          }
        }),
        RUNS,
      );
    }
  });
});
