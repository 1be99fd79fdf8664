// prepareRun as the editor's diagnostics use it: every problem of a request (schema, overrides, input paths,
// the output folder) at once, each at its line in the user's own text, one issue per problem.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isInside, prepareRun } from '../../../src/request/prepare';
import type { PrepareOptions } from '../../../src/request/prepare';
import type { RunOverrides } from '../../../src/protocol/messages';

const ws = '/ws';
const file = '/ws/runs/a.selmix.json';
const present = new Set(['/ws/data/train_x.npy', '/ws/data/train_y.npy', '/ws/model/W.npy']);
const exists = (p: string): boolean => present.has(p);
const opts: PrepareOptions = { workspaceRoots: [ws], exists };
const prep = (text: string, overrides?: RunOverrides) =>
  prepareRun({ configText: text, configPath: file, ...(overrides ? { overrides } : {}) }, opts);

const good = `{
  "objective": "minRecall",
  "data": { "kind": "npy", "train": { "features": "../data/train_x.npy", "labels": "../data/train_y.npy" } },
  "model": { "kind": "linear", "weights": "../model/W.npy" },
  "output": "out"
}`;

test('a valid config with existing inputs has no issues and an output inside the workspace', () => {
  const c = prep(good);
  assert.deepEqual(c.issues, []);
  assert.equal(c.outputDir, '/ws/runs/out');
  assert.equal(c.baseDir, '/ws/runs');
  assert.equal(c.outputOutsideWorkspace, false);
  assert.equal(c.config?.objective, 'minRecall');
  assert.equal(c.config?.output, 'out');
});

test('a missing input file is an error on that field, at its line', () => {
  const text = good.replace('../model/W.npy', '../model/missing.npy');
  const c = prep(text);
  assert.equal(c.issues.length, 1);
  const i = c.issues[0]!;
  assert.equal(i.path, 'model.weights');
  assert.equal(i.severity, 'error');
  assert.equal(i.source, 'input');
  assert.equal(i.line, 4);
  assert.match(i.message, /not found: \/ws\/model\/missing\.npy/);
  assert.ok(
    text
      .split('\n')[3]!
      .slice(i.column - 1, i.endColumn - 1)
      .includes('"../model/missing.npy"'),
    'the range covers the value',
  );
});

test('every missing input is its own issue', () => {
  const c = prep(
    good.replace('../model/W.npy', '../model/missing.npy').replace('../data/train_y.npy', '../data/nope.npy'),
  );
  assert.deepEqual(
    c.issues.map((i) => [i.path, i.line]),
    [
      ['data.train.labels', 3],
      ['model.weights', 4],
    ],
  );
});

test('schema problems come with 1-based lines: wrong type, unknown key, invalid JSON', () => {
  const wrong = prep(good.replace('"minRecall"', '"bestRecall"'));
  assert.equal(wrong.config, null);
  assert.equal(wrong.outputDir, null);
  assert.equal(wrong.issues[0]?.line, 2);
  assert.equal(wrong.issues[0]?.path, 'objective');
  assert.equal(wrong.issues[0]?.source, 'schema');
  const unknown = prep(good.replace('"output": "out"', '"output": "out", "stepz": 3'));
  assert.ok(unknown.issues.some((i) => i.line === 5 && i.path.includes('stepz')));
  const broken = prep('{\n  "objective": "minRecall",\n  "data": \n}');
  assert.equal(broken.config, null);
  assert.ok(broken.issues.length > 0 && broken.issues.every((i) => i.severity === 'error' && i.line >= 1));
  assert.match(broken.issues[0]!.message, /invalid JSON/);
});

test('schema problems and override problems come together, one issue each', () => {
  const c = prep(good.replace('"minRecall"', '"bestRecall"'), { temperature: 0 });
  assert.deepEqual(
    c.issues.map((i) => i.source),
    ['schema', 'overrides'],
  );
  assert.match(c.issues[1]!.message, /^--temperature: /);
});

test('an output folder that escapes the workspace with .. is flagged', () => {
  const c = prep(good.replace('"out"', '"../../elsewhere"'));
  assert.equal(c.outputOutsideWorkspace, true);
  assert.equal(c.outputDir, '/elsewhere');
  const w = c.issues.find((i) => i.source === 'output');
  assert.equal(w?.severity, 'warning');
  assert.equal(w?.line, 5);
  assert.equal(c.issues.length, 1, 'a warning, and only one');
});

test('without "output", the output override (selmix.outputFolder in the editor) is used', () => {
  const text = good.replace(',\n  "output": "out"', '');
  const c = prep(text, { output: '/ws/selmix-out/a' });
  assert.equal(c.outputDir, '/ws/selmix-out/a');
  assert.deepEqual(c.issues, []);
  const outside = prep(text, { output: '/tmp/a' });
  assert.equal(outside.outputOutsideWorkspace, true);
  assert.equal(
    outside.issues[0]?.line,
    1,
    'an override has no line of its own: the warning sits at the top of the file',
  );
});

test('selmix.teacher "ema" without an unlabeled set, or with oracle labels, is a warning at its line; with one, nothing', () => {
  const teacher = (extra: string) =>
    good.replace('"output": "out"', `"selmix": {\n    "teacher": "ema"${extra}\n  },\n  "output": "out"`);
  const c = prep(teacher(''));
  assert.equal(c.issues.length, 1);
  const w = c.issues[0]!;
  assert.equal(w.severity, 'warning');
  assert.equal(w.path, 'selmix.teacher');
  assert.equal(w.line, 6);
  assert.match(w.message, /no effect: .*has none \(data\.unlabeled\)/);
  assert.ok(c.config, 'a warning does not stop the run');
  const withSet = (extra: string) =>
    teacher(extra).replace(
      '"labels": "../data/train_y.npy" }',
      '"labels": "../data/train_y.npy" }, "unlabeled": { "features": "../data/train_x.npy" }',
    );
  assert.deepEqual(prep(withSet('')).issues, []);
  const oracle = prep(withSet(', "partnerLabels": "oracle"'));
  assert.equal(oracle.issues.length, 1);
  assert.match(oracle.issues[0]!.message, /no effect with selmix\.partnerLabels "oracle"/);
});

test('isInside', () => {
  assert.ok(isInside('/ws', '/ws'));
  assert.ok(isInside('/ws', '/ws/a/b'));
  assert.ok(!isInside('/ws', '/ws2'));
  assert.ok(!isInside('/ws', '/ws/../etc'));
});
