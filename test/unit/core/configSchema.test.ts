import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { configJsonSchema, parseConfig } from '../../../src/core/config';

const root = join(import.meta.dirname, '..', '..', '..');

test('the committed media/selmix.schema.json equals the schema generated from configSchema (run npm run gen:schema)', () => {
  const committed = readFileSync(join(root, 'media', 'selmix.schema.json'), 'utf8');
  assert.equal(committed, JSON.stringify(configJsonSchema(), null, 2) + '\n');
});

test('package.json wires the schema to *.selmix.json', () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    contributes: { jsonValidation: { fileMatch: string; url: string }[] };
  };
  assert.ok(
    pkg.contributes.jsonValidation.some(
      (v) => v.fileMatch === '*.selmix.json' && v.url === './media/selmix.schema.json',
    ),
  );
});

test("an ONNX model on image folders without preprocess is a config error at the model's line naming the presets; size and resize together are refused", () => {
  const text = '{\n  "data": { "kind": "images", "train": "t" },\n  "model": { "kind": "onnx", "path": "m.onnx" }\n}\n';
  assert.throws(
    () => parseConfig(text, '/w/c.selmix.json'),
    (e: Error) => {
      const issues = (e as unknown as { issues: { path: string; line: number; message: string }[] }).issues;
      assert.equal(e.name, 'ConfigError');
      assert.equal(issues[0]!.path, 'model.preprocess');
      assert.equal(issues[0]!.line, 3);
      assert.match(issues[0]!.message, /"preset": "imagenet".*"cifar", "mnist", "none"/);
      return true;
    },
  );
  assert.doesNotThrow(() =>
    parseConfig(text.replace('"m.onnx" }', '"m.onnx", "preprocess": { "preset": "cifar" } }'), '/w/c.selmix.json'),
  );
  assert.throws(
    () =>
      parseConfig(
        text.replace('"m.onnx" }', '"m.onnx", "preprocess": { "size": [8, 8], "resize": 8 } }'),
        '/w/c.selmix.json',
      ),
    /resize or size/,
  );
  // .npy inputs need none.
  assert.doesNotThrow(() =>
    parseConfig(
      '{ "data": { "kind": "npy", "train": { "features": "x.npy", "labels": "y.npy" } }, "model": { "kind": "onnx", "path": "m.onnx" } }',
      '/w/c.selmix.json',
    ),
  );
});

test('selmix.teacher and training.mixup "puzzle": defaults, accepted values, and bad values at their line', () => {
  const base =
    '{\n  "data": { "kind": "npy", "train": { "features": "x.npy", "labels": "y.npy" } }, "model": { "kind": "linear", "weights": "w.npy" },\n';
  const d = parseConfig(base + '  "selmix": {}\n}\n', '/w/c.selmix.json');
  assert.equal(d.selmix.teacher, 'self');
  assert.equal(d.selmix.teacherDecay, 0.99);
  assert.equal(d.training.mixup, 'feature');
  assert.equal(d.training.puzzleGrid, 4);
  const c = parseConfig(
    base +
      '  "selmix": { "teacher": "ema", "teacherDecay": 0.999, "pseudoLabelThreshold": 0.9 },\n' +
      '  "training": { "mixup": "puzzle", "puzzleGrid": 8 }\n}\n',
    '/w/c.selmix.json',
  );
  assert.equal(c.selmix.teacher, 'ema');
  assert.equal(c.selmix.teacherDecay, 0.999);
  assert.equal(c.training.mixup, 'puzzle');
  assert.equal(c.training.puzzleGrid, 8);
  for (const [field, bad] of [
    ['"teacher": "mean"', 'selmix.teacher'],
    ['"teacherDecay": 1', 'selmix.teacherDecay'],
  ] as const)
    assert.throws(
      () => parseConfig(base + `  "selmix": {\n    ${field}\n  }\n}\n`, '/w/c.selmix.json'),
      (e: Error) => {
        const issues = (e as unknown as { issues: { path: string; line: number }[] }).issues;
        assert.equal(issues[0]!.path, bad);
        assert.equal(issues[0]!.line, 4);
        return true;
      },
    );
  const schema = JSON.stringify(configJsonSchema());
  assert.ok(schema.includes('"puzzle"') && schema.includes('"ema"'), 'the editor schema offers them');
});
