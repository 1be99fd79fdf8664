import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../../../src/core/config';
import {
  CONFIG_TEMPLATES,
  commentedJson,
  npyConfig,
  onnxModelConfig,
  rankForRole,
  templateText,
} from '../../../src/extension/templates';

const files = [
  'data/head_W.npy',
  'data/head_b.npy',
  'data/test_x.npy',
  'data/test_y.npy',
  'data/train_x.npy',
  'data/train_y.npy',
  'data/val_x.npy',
  'data/val_y.npy',
];

test('each .npy role gets the file that fits it first', () => {
  assert.equal(rankForRole('trainX', files)[0], 'data/train_x.npy');
  assert.equal(rankForRole('trainY', files)[0], 'data/train_y.npy');
  assert.equal(rankForRole('valX', files)[0], 'data/val_x.npy');
  assert.equal(rankForRole('valY', files)[0], 'data/val_y.npy');
  assert.equal(rankForRole('weights', files)[0], 'data/head_W.npy');
  assert.equal(rankForRole('bias', files)[0], 'data/head_b.npy');
  assert.equal(rankForRole('trainX', ['emb/features_train.npy', 'emb/labels_train.npy'])[0], 'emb/features_train.npy');
});

test('a config from picked files is commented JSONC that the runtime parser accepts as it is', () => {
  const cfg = npyConfig(
    {
      trainX: 'data/train_x.npy',
      trainY: 'data/train_y.npy',
      valX: 'data/val_x.npy',
      valY: 'data/val_y.npy',
      weights: 'data/head_W.npy',
      bias: 'data/head_b.npy',
    },
    'My Project',
  );
  const text = templateText({ ...CONFIG_TEMPLATES[0]!, config: cfg });
  assert.match(text, /\/\/ N x d float32/);
  const parsed = parseConfig(text, '/w/run.selmix.json');
  assert.equal(parsed.data.kind, 'npy');
  assert.equal(parsed.output, 'selmix-out/my-project');
  for (const t of CONFIG_TEMPLATES)
    assert.doesNotThrow(() => parseConfig(templateText(t), '/w/x.selmix.json'), t.label);
});

test('commentedJson keeps values exact and puts each comment above its field', () => {
  const v = { a: 1, b: { c: 'x', d: [1, 2] }, e: null };
  const text = commentedJson(v, { a: 'the a', 'b.c': 'the c' });
  assert.match(text, /\/\/ the a\n {2}"a": 1,/);
  assert.match(text, /\/\/ the c\n {4}"c": "x"/);
  assert.deepEqual(JSON.parse(text.replace(/^\s*\/\/.*$/gm, '')), v);
});

test("the ONNX template asks for a preset (not labelled tfjs), and the wizard's ONNX model entry carries one", () => {
  const t = CONFIG_TEMPLATES.find((x) => x.config.model?.kind === 'onnx');
  assert.ok(t && /ONNX/.test(t.label) && !/tfjs/.test(t.label));
  assert.match(templateText(t), /"preset": "imagenet"/);
  assert.match(templateText(t), /\/\/ "imagenet": Resize\(256\), CenterCrop\(224\)/);
  assert.deepEqual(onnxModelConfig('m.onnx'), {
    kind: 'onnx',
    path: 'm.onnx',
    preprocess: { preset: 'imagenet', layout: 'NCHW' },
  });
  const noPreset = { ...t.config, model: { kind: 'onnx' as const, path: 'm.onnx' } };
  assert.throws(
    () => parseConfig(templateText({ ...t, config: noPreset }), '/w/x.selmix.json'),
    /needs "preprocess".*"imagenet", "cifar", "mnist", "none"/,
  );
});
