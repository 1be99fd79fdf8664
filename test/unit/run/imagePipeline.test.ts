// The tool's image pipeline against torchvision's: the fixture images through the preset "imagenet" (PIL decode,
// Resize(256), CenterCrop(224), ToTensor, Normalize) into a small PyTorch CNN on ONNX Runtime give PyTorch's logits
// (test/fixtures/images/make_transform_fixtures.py exported the model and the expected logits). And the checks of
// model.preprocess against the model input, made before any image is read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configSchema } from '../../../src/core/config';
import { loadImageFolder } from '../../../src/data/images';
import { readOnnxModel } from '../../../src/data/onnxModel';
import { encodeOnnx, floatTensor, modelOf, node, valueInfo } from '../../../src/formats/onnx/proto';
import { imageTransform, onnxFeaturize, onnxLogits, resolveImagePlan } from '../../../src/run/onnxStage';
import { loadInputs } from '../../../src/run/inputs';
import { inputBatch, lazyImageSet } from '../../../src/run/imageSource';
import { initBackend } from '../../../src/backend/backend';

const DIR = join(__dirname, '..', '..', 'fixtures', 'images');
const MODEL = join(DIR, 'tiny_imagenet_cnn.onnx');
const expected = JSON.parse(readFileSync(join(DIR, 'imagenet_logits.json'), 'utf8')) as {
  files: string[];
  logits: number[][];
};

type OnnxCfg = Extract<NonNullable<ReturnType<typeof configSchema.parse>['model']>, { kind: 'onnx' }>;
const onnxCfg = (preprocess: Record<string, unknown>): OnnxCfg =>
  configSchema.parse({ data: { kind: 'images', train: 'x' }, model: { kind: 'onnx', path: 'm.onnx', preprocess } })
    .model as OnnxCfg;

test('preset "imagenet": the tool\'s logits equal torchvision\'s pipeline through the same ONNX model within 1e-3', async () => {
  const root = mkdtempSync(join(tmpdir(), 'selmix-pipeline-'));
  try {
    mkdirSync(join(root, 'all'));
    for (const f of expected.files) copyFileSync(join(DIR, f), join(root, 'all', f));
    const onnx = readOnnxModel(MODEL);
    const plan = resolveImagePlan(onnxCfg({ preset: 'imagenet' }), onnx, false);
    assert.deepEqual(plan.plan.centerCrop, [224, 224]);
    assert.equal(plan.plan.resize, 256);
    const d = await loadImageFolder(join(root, 'all'), { labeled: false, transform: imageTransform(plan, onnx) });
    assert.deepEqual(d.shape, [3, 224, 224]);
    const logits = await onnxLogits(onnx, { x: d.x, y: null, n: d.n, shape: d.shape });
    let max = 0;
    d.files.forEach((f, i) => {
      const want = expected.logits[expected.files.indexOf(f.split('/').pop()!)]!;
      want.forEach((v, k) => {
        max = Math.max(max, Math.abs(v - logits[i * want.length + k]!));
      });
    });
    assert.ok(max < 1e-3, `max |logit difference| ${max}`);
    if (process.env.SELMIX_SHOW) process.stdout.write(`max |logit difference| ${max}\n`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('model.preprocess is checked against the model input without any image: size, channels, layout, mean length', () => {
  const onnx = readOnnxModel(MODEL);
  const err = (pp: Record<string, unknown>, gray: boolean, re: RegExp): void => {
    assert.throws(
      () => resolveImagePlan(onnxCfg(pp), onnx, gray),
      (e: Error) => e.name === 'DataError' && re.test(e.message),
    );
  };
  err(
    { preset: 'cifar', centerCrop: 32 },
    false,
    /takes 224x224 images .* makes them 32x32; set model.preprocess.centerCrop to \[224, 224\]/,
  );
  err({ preset: 'imagenet' }, true, /takes 3 channels \(RGB\) but data.grayscale is true; set data.grayscale to false/);
  err(
    { preset: 'imagenet', layout: 'NHWC' },
    false,
    /has 3 channels first \(NCHW\); set model.preprocess.layout to "NCHW"/,
  );
  err({ preset: 'imagenet', mean: [0.5, 0.5] }, false, /mean has 2 values but .* takes 3 channel\(s\)/);
  // The advice followed: each of these resolves.
  assert.deepEqual(
    resolveImagePlan(onnxCfg({ preset: 'cifar', centerCrop: [224, 224] }), onnx, false).plan.centerCrop,
    [224, 224],
  );
  assert.equal(resolveImagePlan(onnxCfg({ preset: 'imagenet' }), onnx, false).mode, 'RGB');
  assert.equal(resolveImagePlan(onnxCfg({ preset: 'imagenet', layout: 'NCHW' }), onnx, false).channels, 3);
  // size, the older name of resize [H, W], still works.
  assert.deepEqual(resolveImagePlan(onnxCfg({ size: [224, 224] }), onnx, false).plan.resize, [224, 224]);
});

test('image splits of an ONNX model are decoded in batches when needed; a second run takes the features from the cache without decoding', async () => {
  await initBackend({ choice: 'cpu' });
  const root = mkdtempSync(join(tmpdir(), 'selmix-lazy-'));
  try {
    for (const c of ['a', 'b']) {
      mkdirSync(join(root, 'imgs', c), { recursive: true });
      for (const f of expected.files) copyFileSync(join(DIR, f), join(root, 'imgs', c, f));
    }
    copyFileSync(MODEL, join(root, 'm.onnx'));
    const cfg = configSchema.parse({
      data: { kind: 'images', train: 'imgs', val: 'imgs' },
      model: { kind: 'onnx', path: 'm.onnx', preprocess: { preset: 'imagenet' } },
    });
    const load = async () => loadInputs(cfg, root, join(root, 'c.selmix.json'));
    const first = await load();
    assert.equal(first.data.train.x.length, 0, 'no image held');
    assert.deepEqual(first.data.train.shape, [3, 224, 224]);
    const m = first.model!;
    assert.ok(m.kind === 'loaded' && m.onnx);
    // The lazy batches equal the eagerly transformed images.
    const plan = resolveImagePlan(onnxCfg({ preset: 'imagenet' }), m.onnx, false);
    const eager = await loadImageFolder(join(root, 'imgs'), { labeled: true, transform: imageTransform(plan, m.onnx) });
    assert.deepEqual(await inputBatch(first.data.train, 0, first.data.train.n), eager.x);
    const cacheDir = join(root, 'cache');
    const f1 = await onnxFeaturize(m.onnx, m.model, first.data, { cacheDir });
    assert.equal(f1.data.train.x.length, 6 * 16);
    // Corrupt every image but keep its size and time: a run that decoded would fail; the cached one does not.
    for (const c of ['a', 'b'])
      for (const f of expected.files) {
        const p = join(root, 'imgs', c, f);
        const st = statSync(p);
        writeFileSync(p, Buffer.alloc(st.size, 0x55));
        utimesSync(p, st.atime, st.mtime);
      }
    const second = await load().catch((e: Error) => e);
    // The first image of each split is decoded to learn the input shape; corrupt, it is reported.
    assert.ok(second instanceof Error && /unreadable or truncated image/.test(second.message));
    const f2 = await onnxFeaturize(m.onnx, m.model, first.data, { cacheDir });
    assert.deepEqual(f2.data.train.x, f1.data.train.x);
    assert.ok(f2.notes.some((n) => /train features from the cache/.test(n)));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('an NHWC model with the default layout: the message says to set layout "NHWC", and with it the images run channels last', async () => {
  // x [N, 4, 4, 3] -> ReduceMean over H, W -> [N, 3] -> Gemm -> [N, 2].
  const g = modelOf(
    {
      name: 'nhwc',
      node: [
        node('ReduceMean', ['x'], ['f'], { axes: [1, 2], keepdims: 0 }, ['keepdims']),
        node('Gemm', ['f', 'W', 'c'], ['y'], { transB: 1 }, ['transB']),
      ],
      initializer: [
        floatTensor('W', [2, 3], Float32Array.from([1, 0, 0, 0, 0, 1])),
        floatTensor('c', [2], new Float32Array(2)),
      ],
      input: [valueInfo('x', ['N', 4, 4, 3])],
      output: [valueInfo('y', ['N', 2])],
    },
    13,
  );
  const root = mkdtempSync(join(tmpdir(), 'selmix-nhwc-'));
  try {
    const path = join(root, 'nhwc.onnx');
    writeFileSync(path, encodeOnnx(g));
    const onnx = readOnnxModel(path);
    assert.throws(
      () => resolveImagePlan(onnxCfg({ preset: 'none' }), onnx, false),
      /has 3 channels last \(NHWC\).*set model.preprocess.layout to "NHWC"/,
    );
    const plan = resolveImagePlan(onnxCfg({ preset: 'none', layout: 'NHWC' }), onnx, false);
    mkdirSync(join(root, 'imgs'));
    copyFileSync(join(DIR, 'rgb8.png'), join(root, 'imgs', 'a.png'));
    const t = imageTransform({ ...plan, plan: { ...plan.plan, resize: [4, 4] } }, onnx);
    const d = await loadImageFolder(join(root, 'imgs'), { labeled: false, transform: t });
    assert.deepEqual(d.shape, [4, 4, 3]);
    const y = await onnxLogits(onnx, { x: d.x, y: null, n: 1, shape: d.shape });
    // Logit 0 is the mean red value and logit 1 the mean blue one, in [0, 1].
    const mean = (k: number) => Array.from({ length: 16 }, (_, p) => d.x[p * 3 + k]!).reduce((a, b) => a + b) / 16;
    assert.ok(Math.abs(y[0]! - mean(0)) < 1e-6 && Math.abs(y[1]! - mean(2)) < 1e-6);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("a lazy set's key changes with a file's size or time and with the preprocessing, not with nothing", () => {
  const root = mkdtempSync(join(tmpdir(), 'selmix-key-'));
  try {
    const f = join(root, 'a.jpg');
    copyFileSync(join(DIR, 't_small.jpg'), f);
    const onnx = readOnnxModel(MODEL);
    const t = imageTransform(resolveImagePlan(onnxCfg({ preset: 'imagenet' }), onnx, false), onnx);
    const key = () => lazyImageSet([f], null, [3, 224, 224], t, 'p').sourceKey;
    const k0 = key();
    assert.equal(key(), k0);
    assert.notEqual(lazyImageSet([f], null, [3, 224, 224], t, 'q').sourceKey, k0);
    const st = statSync(f);
    utimesSync(f, st.atime, new Date(st.mtimeMs + 5000));
    assert.notEqual(key(), k0, 'a newer file');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
