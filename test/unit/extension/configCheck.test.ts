import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkConfigText, isInside } from '../../../src/extension/configCheck';

const ws = '/ws';
const file = '/ws/runs/a.selmix.json';
const present = new Set(['/ws/data/train_x.npy', '/ws/data/train_y.npy', '/ws/model/W.npy']);
const exists = (p: string): boolean => present.has(p);

const good = `{
  "objective": "minRecall",
  "data": { "kind": "npy", "train": { "features": "../data/train_x.npy", "labels": "../data/train_y.npy" } },
  "model": { "kind": "linear", "weights": "../model/W.npy" },
  "output": "out"
}`;

test('a valid config with existing inputs has no issues and an output inside the workspace', () => {
  const c = checkConfigText(good, file, { workspaceRoots: [ws], exists });
  assert.deepEqual(c.issues, []);
  assert.equal(c.outputDir, '/ws/runs/out');
  assert.equal(c.outputOutsideWorkspace, false);
  assert.equal(c.config?.objective, 'minRecall');
  assert.equal((c.raw as { output: string }).output, 'out');
});

test('a missing input file is an error on that field, at its line', () => {
  const text = good.replace('../model/W.npy', '../model/missing.npy');
  const c = checkConfigText(text, file, { workspaceRoots: [ws], exists });
  assert.equal(c.issues.length, 1);
  const i = c.issues[0]!;
  assert.equal(i.path, 'model.weights');
  assert.equal(i.severity, 'error');
  assert.equal(i.line, 4);
  assert.equal(text.split('\n')[3]!.slice(i.column - 1, i.endColumn - 1), '"../model/missing.npy"');
});

test('schema problems come with 1-based lines: wrong type, unknown key, invalid JSON', () => {
  const wrong = checkConfigText(good.replace('"minRecall"', '"bestRecall"'), file, { workspaceRoots: [ws], exists });
  assert.equal(wrong.config, null);
  assert.equal(wrong.issues[0]?.line, 2);
  assert.equal(wrong.issues[0]?.path, 'objective');
  const unknown = checkConfigText(good.replace('"output": "out"', '"output": "out", "stepz": 3'), file, { workspaceRoots: [ws], exists });
  assert.ok(unknown.issues.some((i) => i.line === 5 && i.path.includes('stepz')));
  const broken = checkConfigText('{\n  "objective": "minRecall",\n  "data": \n}', file, { workspaceRoots: [ws], exists });
  assert.equal(broken.raw, null);
  assert.ok(broken.issues.length > 0 && broken.issues.every((i) => i.severity === 'error' && i.line >= 1));
  assert.match(broken.issues[0]!.message, /invalid JSON/);
});

test('an output folder that escapes the workspace with .. is flagged', () => {
  const c = checkConfigText(good.replace('"out"', '"../../elsewhere"'), file, { workspaceRoots: [ws], exists });
  assert.equal(c.outputOutsideWorkspace, true);
  assert.equal(c.outputDir, '/elsewhere');
  const w = c.issues.find((i) => i.source === 'output');
  assert.equal(w?.severity, 'warning');
  assert.equal(w?.line, 5);
});

test('without "output" the default output folder is used', () => {
  const text = good.replace(',\n  "output": "out"', '');
  const c = checkConfigText(text, file, { workspaceRoots: [ws], exists, defaultOutputDir: '/ws/selmix-out/a' });
  assert.equal(c.outputDir, '/ws/selmix-out/a');
  assert.deepEqual(c.issues, []);
});

test('isInside', () => {
  assert.ok(isInside('/ws', '/ws'));
  assert.ok(isInside('/ws', '/ws/a/b'));
  assert.ok(!isInside('/ws', '/ws2'));
  assert.ok(!isInside('/ws', '/ws/../etc'));
});
