import assert from 'node:assert/strict';
import { test } from 'node:test';
import { configSchema } from '../../../src/core/config';
import { CONFIG_TEMPLATES } from '../../../src/extension/templates';
import { imageConfig, modelKind, PREPROCESS_PRESETS } from '../../../src/extension/wizard';

const template = CONFIG_TEMPLATES.find((t) => t.config.data.kind === 'images')!.config;

test('an ONNX model gets its preprocessing preset and what to train; the folders go to train, val and test', () => {
  const c = imageConfig(template, {
    train: 'data/cifar10/train',
    val: 'data/cifar10/val',
    test: 'data/cifar10/test',
    model: 'models/resnet.onnx',
    preset: 'cifar',
    wholeNetwork: true,
  });
  assert.deepEqual(c.data, {
    kind: 'images',
    train: 'data/cifar10/train',
    val: 'data/cifar10/val',
    test: 'data/cifar10/test',
  });
  assert.deepEqual(c.model, {
    kind: 'onnx',
    path: 'models/resnet.onnx',
    preprocess: { preset: 'cifar' },
    freezeBackbone: false,
  });
  assert.deepEqual(
    PREPROCESS_PRESETS.map((p) => p.id),
    ['imagenet', 'cifar', 'mnist', 'none'],
  );
  assert.equal(modelKind('a/B.ONNX'), 'onnx');
  assert.equal(modelKind('a/model.json'), 'tfjs');
});

test('a tfjs model, head only, no validation folder: a config the schema accepts', () => {
  const c = imageConfig(template, { train: 'imgs/train', model: 'model/model.json', wholeNetwork: false });
  assert.deepEqual(c.data, { kind: 'images', train: 'imgs/train' });
  assert.deepEqual(c.model, { kind: 'tfjs', path: 'model/model.json', freezeBackbone: true });
  assert.ok(configSchema.safeParse(c).success);
  // No model file in the workspace: the template's placeholder stays.
  assert.deepEqual(imageConfig(template, { train: 'imgs/train' }).model, template.model);
});
