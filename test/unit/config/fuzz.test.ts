// Property-based fuzzing of everything a user types or writes by hand: the YAML files, the
// `backend add` flags of every kind and the resource flags. Each generated input either parses
// or fails as Reprise's bad-input error (exit 2) whose first line says what is wrong: never
// another exception, never a crash. In process (parsers write nothing); test/e2e/fuzz.test.ts
// spawns the CLI on a sample.
import fc from 'fast-check';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { parseDuration, parseMemory } from '../../../src/config/resources.js';
import { userConfigSchema } from '../../../src/backends/user-config.js';
import { parseYaml } from '../../../src/config/yaml-file.js';
import { resolveResources } from '../../../src/cli/run-flags.js';
import { settingsFromFlags } from '../../../src/cli/backend-settings.js';
import type { FlagSpec } from '../../../src/backends/definition.js';
import { backendKinds } from '../../../src/backends/kinds.js';
import { resourceDirectives } from '../../../src/backends/slurm/scheduler.js';
import { RESOURCE_LIMITS } from '../../../src/config/resources.js';
import { ErrorKind, RepriseError } from '../../../src/errors.js';
import { environmentSchema, projectSchema } from '../../../src/project/schema.js';

const RUNS = { numRuns: 1000 };
/** The backend settings and run flags: 10,000 cases each, given the time a shared CI machine needs. */
const SLOW = { timeout: 180_000 };

/** 10,000 cases in ten batches, yielding between them so the test runner's worker can still report. */
async function assertMany<T>(property: fc.IProperty<T>): Promise<void> {
  for (let batch = 0; batch < 10; batch++) {
    fc.assert(property, { numRuns: 1000 });
    await new Promise((resolve) => setImmediate(resolve));
  }
}

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

describe('fuzzing the hand-written files (1,000+ cases each; config.yaml 10,000)', () => {
  it('.reprise/project.yaml', () => {
    const valid = 'name: demo\nid: 0f3a\nbackend: hpc\nresources:\n  cpus: 2\n  memory: 4G\n  time: 1h\n';
    fc.assert(fc.property(texts(['name', 'id', 'backend', 'resources'], valid), (t) => acceptsOrRefuses(() => parseYaml(t, projectSchema, '.reprise/project.yaml'))), RUNS);
  });

  it('.reprise/environment.yaml', () => {
    const valid = 'base: python:3.12-slim\npackages:\n  pip: [numpy==2.1.0]\n  apt: [curl]\ndockerfile: ["ENV A=1"]\nlocked: true\n';
    fc.assert(fc.property(texts(['base', 'packages', 'dockerfile', 'locked'], valid), (t) => acceptsOrRefuses(() => parseYaml(t, environmentSchema, '.reprise/environment.yaml'))), RUNS);
  });

  it('the user config.yaml', SLOW, async () => {
    const valid =
      'registry: {url: 127.0.0.1:5000/team}\nbuild: {caFile: /etc/ssl/ca.pem}\nbackends:\n  hpc: {kind: slurm, host: login, user: me, knownHostsFile: ~/.ssh/known_hosts}\n  k8s: {kind: kubernetes, namespace: runs, registry: r.example/x}\n';
    await assertMany(fc.property(texts(['registry', 'build', 'backends', 'worker'], valid), (t) => acceptsOrRefuses(() => parseYaml(t, userConfigSchema, 'config.yaml'))));
  });
});

describe('fuzzing the resource flags (10,000 cases each)', () => {
  const project = { name: 'p', id: 'x' };
  const flagText = fc.oneof(fc.fullUnicodeString({ maxLength: 20 }), fc.stringMatching(/^-?[0-9.]{0,6}[a-zA-Z:]{0,3}[0-9]{0,3}$/), fc.double().map(String));

  it('--cpus, --memory and --time: a finite positive resource or a one-line bad-input error', SLOW, async () => {
    await assertMany(
      fc.property(fc.option(flagText, { nil: undefined }), fc.option(flagText, { nil: undefined }), fc.option(flagText, { nil: undefined }), (cpus, memory, time) =>
        acceptsOrRefuses(() => {
          const r = resolveResources({ cpus, memory, time }, project);
          for (const n of [r.cpus, r.memoryBytes, r.timeSeconds]) if (n !== undefined) expect(Number.isFinite(n) && n > 0).toBe(true);
          // Accepted means sane: within the bounds workers check, and a SLURM script can say it.
          for (const key of ['cpus', 'memoryBytes', 'timeSeconds'] as const) expect(r[key] ?? 0).toBeLessThanOrEqual(RESOURCE_LIMITS[key]);
          expect(() => resourceDirectives({ resources: r })).not.toThrow();
        }),
      ),
    );
  });

  it('memory and duration parsers: positive finite numbers, or an Error saying which value', SLOW, async () => {
    for (const parse of [parseMemory, parseDuration]) {
      await assertMany(
        fc.property(flagText, (t) => {
          try {
            const n = parse(t);
            expect(Number.isFinite(n) && n > 0).toBe(true);
          } catch (err) {
            expect(err).toBeInstanceOf(Error);
            expect((err as Error).message).toContain(t.slice(0, 5));
          }
        }),
      );
    }
  });
});

describe('fuzzing the backend settings of every kind (10,000 cases each)', () => {
  // Values as people mistype them, as attackers write them, and at random.
  const hostile = fc.constantFrom('', ' ', '-', '--x', 'a b', 'debug\n#SBATCH --uid=0', '$(id)', '`id`', "'", '"', '\\', 'é', '\u0000', '1e308', 'NaN', '-1', '0', 'gpu,debug', '--constraint=haswell', '-Cx', '../..', '~/x');
  const text = fc.oneof(hostile, fc.fullUnicodeString({ maxLength: 24 }), fc.stringMatching(/^[-a-z0-9.,=_ ]{0,12}$/));
  const flagValue = (spec: FlagSpec) =>
    spec.type === 'string' ? (spec.multiple ? fc.array(text, { maxLength: 3 }) : spec.options ? fc.oneof(fc.constantFrom(...spec.options), text) : text) : fc.oneof(fc.integer(), fc.double(), fc.constant(Number('x')));

  for (const definition of backendKinds) {
    const flags = definition.flags as Record<string, FlagSpec>;
    const given = fc.record(Object.fromEntries(Object.entries(flags).map(([name, spec]) => [name, flagValue(spec)])), { requiredKeys: [] });

    it(`backend add --kind ${definition.kind}: a config the loader accepts too, or one line naming the flag`, SLOW, async () => {
      await assertMany(
        fc.property(given, (values) => {
          const result = settingsFromFlags(definition as never, values);
          if ('error' in result) {
            expect(result.error).not.toContain('\n');
            expect(result.error).toMatch(/^invalid backend settings for --kind \S+: --[a-z-]+ \S|does not apply/);
            return;
          }
          // What `backend add` saves, the config loader reads back (a pool's members aside: they must exist).
          const loaded = userConfigSchema.safeParse({ backends: { b: result.config } });
          if (definition.kind !== 'pool') expect(loaded.success, JSON.stringify(loaded.error?.issues[0])).toBe(true);
          // And a SLURM config that is accepted makes a batch script at submit, never an error there.
          if (result.config.kind === 'slurm') {
            const c = result.config as { partition?: string; account?: string; qos?: string; sbatchArgs?: string[] };
            expect(() => resourceDirectives({ resources: {}, partition: c.partition, account: c.account, qos: c.qos, extraArgs: c.sbatchArgs })).not.toThrow();
          }
        }),
      );
    });
  }

  it('config.yaml backends of every kind: loaded, or one line naming the key', SLOW, async () => {
    const keys = [...new Set(backendKinds.flatMap((d) => Object.values(d.flags as Record<string, FlagSpec>).map((f) => f.key)))];
    const backend = fc.record({ kind: fc.oneof(fc.constantFrom(...backendKinds.map((d) => d.kind)), text), settings: fc.dictionary(fc.constantFrom(...keys), fc.oneof(text, fc.array(text, { maxLength: 2 }), fc.integer(), fc.double())) });
    await assertMany(
      fc.property(fc.dictionary(fc.stringMatching(/^[a-z][a-z0-9-]{0,6}$/), backend, { maxKeys: 3 }), (backends) => {
        const doc = stringify({ backends: Object.fromEntries(Object.entries(backends).map(([name, b]) => [name, { kind: b.kind, ...b.settings }])) });
        acceptsOrRefuses(() => parseYaml(doc, userConfigSchema, 'config.yaml'));
      }),
    );
  });
});
