// Property tests of the config parser: whatever the text, parseConfig returns a config or throws a
// ConfigError whose every issue has a JSON path and a line; valid configs round-trip; a bad value is reported
// at its own path and line. (The .npy and IDX readers have their property tests in test/unit/data.)
import { parse as parseJsonc, type ParseError } from 'jsonc-parser';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requestFromFile } from '../../src/request/configFile';
import { prepareRun } from '../../src/request/prepare';
import { OBJECTIVE_IDS } from '../../src/core/objectives/objectiveIds';
import { parseConfig, type SelmixConfig } from '../../src/core/config';
import { ConfigError } from '../../src/core/errors';

const FILE = '/ws/run.selmix.json';

/** parseConfig's outcome: a config, or the ConfigError (anything else thrown fails the property). */
function outcome(text: string): SelmixConfig | ConfigError {
  try {
    return parseConfig(text, FILE);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw new Error(
      `parseConfig threw ${(e as Error).name}, not ConfigError, for ${JSON.stringify(text).slice(0, 300)}: ${(e as Error).message}`,
    );
  }
}

/** Every issue names a path (possibly the root) and a 1-based line and column inside the text. */
function assertWellFormed(e: ConfigError, text: string): void {
  assert.equal(e.file, FILE);
  assert.ok(e.issues.length > 0);
  const lines = text.split('\n').length;
  for (const i of e.issues) {
    assert.equal(typeof i.path, 'string');
    assert.ok(i.message.length > 0);
    assert.ok(
      Number.isInteger(i.line) && i.line! >= 1 && i.line! <= Math.max(1, lines),
      `line ${i.line} of ${lines}: ${JSON.stringify(i)}`,
    );
    assert.ok(Number.isInteger(i.column) && i.column! >= 1, JSON.stringify(i));
    assert.ok(e.message.includes(`line ${i.line}:${i.column}: ${i.path || '(root)'}: `), e.message);
  }
}

const positive = fc.double({ min: 1e-6, max: 1e6, noNaN: true });
const path = fc.stringMatching(/^[a-z][a-z0-9_/]{0,20}\.npy$/);

/** Valid config inputs: every enum value, numbers across their ranges, optional sections present or not. */
const validConfig = fc.record(
  {
    name: fc.option(fc.string({ minLength: 1, maxLength: 40 }), { nil: undefined }),
    objective: fc.constantFrom(...OBJECTIVE_IDS),
    data: fc.record(
      {
        kind: fc.constant('npy' as const),
        train: fc.record({ features: path, labels: path }),
        val: fc.option(fc.record({ features: path, labels: path }), { nil: undefined }),
        classes: fc.option(fc.array(fc.string({ minLength: 1, maxLength: 8 }), { minLength: 2, maxLength: 6 }), {
          nil: undefined,
        }),
      },
      { requiredKeys: ['kind', 'train'] },
    ),
    model: fc.record(
      { kind: fc.constant('linear' as const), weights: path, bias: fc.option(path, { nil: undefined }) },
      { requiredKeys: ['kind', 'weights'] },
    ),
    training: fc.record(
      {
        steps: fc.integer({ min: 1, max: 1_000_000 }),
        batchSize: fc.integer({ min: 1, max: 4096 }),
        lr: fc.double({ min: 1e-6, max: 10, noNaN: true }),
        lambdaMin: fc.double({ min: 1e-9, max: 1, noNaN: true }),
        seed: fc.nat(),
        schedule: fc.constantFrom('cosine' as const, 'constant' as const),
        earlyStop: fc.option(fc.record({ window: fc.integer({ min: 1, max: 50 }), tol: positive }), { nil: null }),
      },
      { requiredKeys: [] },
    ),
    selmix: fc.record(
      { temperature: positive, policy: fc.constantFrom('selmix' as const, 'uniformMixup' as const, 'plain' as const) },
      { requiredKeys: [] },
    ),
    output: fc.option(fc.string({ minLength: 1, maxLength: 30 }), { nil: undefined }),
  },
  { requiredKeys: ['data', 'model'] },
);

/** Drops undefined fields, as JSON does. */
const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v));

test('arbitrary JSON values never make parseConfig throw anything but a well-formed ConfigError', () => {
  fc.assert(
    fc.property(fc.jsonValue(), fc.boolean(), (v, pretty) => {
      const text = JSON.stringify(v, null, pretty ? 2 : undefined) ?? 'null';
      const r = outcome(text);
      if (r instanceof ConfigError) assertWellFormed(r, text);
    }),
    { numRuns: 400 },
  );
});

test('arbitrary objects with config-like keys give a ConfigError at a path and line, never another error', () => {
  const key = fc.constantFrom(
    'objective',
    'data',
    'model',
    'training',
    'selmix',
    'pretrain',
    'output',
    'task',
    'name',
    'kind',
    'train',
    'steps',
    'x',
  );
  const tree = fc.letrec((tie) => ({
    node: fc.oneof(
      { depthSize: 'small' },
      fc.jsonValue({ maxDepth: 1 }),
      fc.dictionary(key, tie('node'), { maxKeys: 5 }),
    ),
  })).node;
  fc.assert(
    fc.property(fc.dictionary(key, tree, { maxKeys: 6 }), (v) => {
      const text = JSON.stringify(v, null, 2);
      const r = outcome(text);
      if (r instanceof ConfigError) assertWellFormed(r, text);
    }),
    { numRuns: 400 },
  );
});

test('arbitrary strings, and valid configs with random edits, give a config or a ConfigError with a line (invalid JSON: every issue)', () => {
  const edited = fc
    .tuple(
      validConfig,
      fc.array(fc.tuple(fc.nat(), fc.nat({ max: 3 }), fc.string({ maxLength: 3, unit: 'binary' })), {
        minLength: 1,
        maxLength: 4,
      }),
    )
    .map(([c, edits]) => {
      let s = JSON.stringify(c, null, 2);
      for (const [at, del, ins] of edits) {
        const i = at % (s.length + 1);
        s = s.slice(0, i) + ins + s.slice(i + del);
      }
      return s;
    });
  const text = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 60 }),
    fc.string({
      unit: fc.constantFrom('{', '}', '[', ']', '"', ':', ',', ' ', '\n', '1', 'a', '/', '*', '\\', '-', 'e', '.'),
      maxLength: 40,
    }),
    edited,
  );
  fc.assert(
    fc.property(text, (s) => {
      const r = outcome(s);
      if (!(r instanceof ConfigError)) return;
      assertWellFormed(r, s);
      // Configs are JSON with comments (no trailing commas): "1//" is a number, not invalid JSON.
      const errors: ParseError[] = [];
      parseJsonc(s, errors, { disallowComments: false, allowTrailingComma: false });
      if (errors.length > 0)
        assert.ok(
          r.issues.every((i) => i.message.startsWith('invalid JSON')),
          r.message,
        );
    }),
    { numRuns: 1500 },
  );
});

test('valid configs parse, keep their values, and round-trip through JSON unchanged', () => {
  fc.assert(
    fc.property(validConfig, (c) => {
      const text = JSON.stringify(c, null, 2);
      const r = outcome(text);
      assert.ok(!(r instanceof ConfigError), r instanceof ConfigError ? r.message : '');
      assert.equal(r.objective, c.objective ?? 'minRecall');
      assert.deepEqual(plain(r.data), plain(c.data));
      assert.deepEqual(plain(r.model), plain(c.model));
      for (const [k, v] of Object.entries(c.training ?? {}))
        assert.deepEqual(plain((r.training as Record<string, unknown>)[k]), plain(v), `training.${k}`);
      for (const [k, v] of Object.entries(c.selmix ?? {}))
        assert.deepEqual(plain((r.selmix as Record<string, unknown>)[k]), plain(v), `selmix.${k}`);
      // A parsed config (defaults filled in) is itself a valid config, and parsing it again changes nothing.
      const again = outcome(JSON.stringify(r));
      assert.ok(!(again instanceof ConfigError), again instanceof ConfigError ? again.message : '');
      assert.deepEqual(again, r);
    }),
    { numRuns: 300 },
  );
});

test('one bad value in a valid config is reported at its JSON path and on its line', () => {
  const bad = fc.oneof(
    fc.record({
      at: fc.constant(['training', 'steps']),
      v: fc.oneof(fc.integer({ max: 0 }), fc.double({ min: 0.01, max: 1000, noInteger: true }), fc.string()),
    }),
    fc.record({
      at: fc.constant(['selmix', 'temperature']),
      v: fc.oneof(fc.double({ max: 0, noNaN: true, noDefaultInfinity: true }), fc.boolean()),
    }),
    fc.record({
      at: fc.constant(['training', 'lambdaMin']),
      v: fc.oneof(
        fc.double({ max: 0, noNaN: true, noDefaultInfinity: true }),
        fc.double({ min: 1.0000001, max: 1e9, noNaN: true }),
      ),
    }),
    fc.record({
      at: fc.constant(['objective']),
      v: fc.string().filter((s) => !(OBJECTIVE_IDS as readonly string[]).includes(s)),
    }),
    fc.record({
      at: fc.constantFrom(['training', 'stpes'], ['selmix', 'temprature'], ['data', 'trian'], ['epochs']),
      v: fc.jsonValue(),
    }),
  );
  fc.assert(
    fc.property(validConfig, bad, (c, { at, v }) => {
      const cfg = plain(c) as Record<string, Record<string, unknown>>;
      let o: Record<string, unknown> = cfg;
      for (const k of at.slice(0, -1)) o = (o[k] ??= {}) as Record<string, unknown>;
      o[at[at.length - 1]!] = v;
      const text = JSON.stringify(cfg, null, 2);
      const r = outcome(text);
      assert.ok(r instanceof ConfigError, `accepted ${at.join('.')} = ${JSON.stringify(v)}`);
      assertWellFormed(r, text);
      const issue = r.issues.find((i) => i.path === at.join('.'));
      assert.ok(issue, `no issue at ${at.join('.')}: ${r.message}`);
      // Its line is the line of the key (the last key of the path; unique in these configs except "kind", never used
      // here).
      const keyLine =
        text
          .split('\n')
          .findIndex((l, n) => l.includes(`"${at[at.length - 1]}":`) && (at.length === 1 ? /^ {2}"/.test(l) : n > 0)) +
        1;
      assert.equal(issue.line, keyLine, `${r.message}\n${text}`);
    }),
    { numRuns: 300 },
  );
});

test('a config file saved with a UTF-8 byte-order mark is read; a missing one is named', () => {
  const dir = mkdtempSync(join(tmpdir(), 'selmix-bom-'));
  const p = join(dir, 'bom.selmix.json');
  writeFileSync(
    p,
    '\uFEFF' +
      JSON.stringify({
        data: { kind: 'npy', train: { features: 'x.npy', labels: 'y.npy' } },
        model: { kind: 'linear', weights: 'W.npy' },
      }),
  );
  assert.equal(prepareRun(requestFromFile(p), { exists: () => true }).config?.model?.kind, 'linear');
  assert.throws(
    () => requestFromFile(join(dir, 'missing.selmix.json')),
    (e: unknown) =>
      e instanceof ConfigError && e.message.includes(join(dir, 'missing.selmix.json')) && /ENOENT/.test(e.message),
  );
});
