import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend, tf } from '../../../../src/backend/backend';
import { conv2d, dense } from '../../../../src/core/training/nn';

/** Max absolute difference of two tensors' values. */
async function maxDiff(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  const [x, y] = [await a.data(), await b.data()];
  assert.equal(x.length, y.length);
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!));
  return m;
}

for (const [stride, padding, hw] of [
  [1, 'same', 9],
  [1, 'valid', 8],
  [2, 'same', 9],
  [2, 'valid', 10],
] as const) {
  test(`conv2d gradients written as forward convolutions match tfjs's own (cpu) at stride ${stride}, ${padding}`, async () => {
    await initBackend({ choice: 'cpu' });
    const x = tf.randomNormal([3, hw, hw, 2], 0, 1, 'float32', 1) as tf.Tensor4D;
    const w = tf.randomNormal([3, 3, 2, 4], 0, 1, 'float32', 2) as tf.Tensor4D;
    const ours = tf.grads((a, b) => tf.sum(tf.square(conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, padding))))([
      x,
      w,
    ]);
    const ref = tf.grads((a, b) => tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, padding))))([
      x,
      w,
    ]);
    assert.ok((await maxDiff(conv2d(x, w, stride, padding), tf.conv2d(x, w, stride, padding))) < 1e-4);
    assert.ok((await maxDiff(ours[0]!, ref[0]!)) < 1e-3, 'dx');
    assert.ok((await maxDiff(ours[1]!, ref[1]!)) < 1e-3, 'dw');
    // and the same numbers on wasm, which has no Conv2DBackpropFilter kernel
    const refVals = await Promise.all(ref.map((t) => t.data()));
    await initBackend({ choice: 'wasm' });
    const xw = tf.tensor4d(await x.data(), x.shape);
    const ww = tf.tensor4d(await w.data(), w.shape);
    const onWasm = tf.grads((a, b) => tf.sum(tf.square(conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, padding))))([
      xw,
      ww,
    ]);
    for (let k = 0; k < 2; k++) {
      const got = await onWasm[k]!.data();
      let m = 0;
      for (let i = 0; i < got.length; i++) m = Math.max(m, Math.abs(got[i]! - refVals[k]![i]!));
      assert.ok(m < 1e-3, `wasm grad ${k} differs by ${m}`);
    }
  });
}

test('dense gradient matches matMul autodiff', async () => {
  await initBackend({ choice: 'wasm' });
  const x = tf.randomNormal([5, 7], 0, 1, 'float32', 3) as tf.Tensor2D;
  const w = tf.randomNormal([7, 3], 0, 1, 'float32', 4) as tf.Tensor2D;
  const a = tf.grads((p, q) => tf.sum(tf.square(dense(p as tf.Tensor2D, q as tf.Tensor2D))))([x, w]);
  const b = tf.grads((p, q) => tf.sum(tf.square(tf.matMul(p as tf.Tensor2D, q as tf.Tensor2D))))([x, w]);
  assert.ok((await maxDiff(a[0]!, b[0]!)) < 1e-4);
  assert.ok((await maxDiff(a[1]!, b[1]!)) < 1e-4);
});

test('conv2d without an input gradient (a first layer) still gives the exact filter gradient', async () => {
  await initBackend({ choice: 'wasm' });
  const x = tf.randomNormal([2, 7, 7, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
  const w = tf.randomNormal([3, 3, 3, 2], 0, 1, 'float32', 6) as tf.Tensor4D;
  const a = tf.grads((p, q) => tf.sum(tf.square(conv2d(p as tf.Tensor4D, q as tf.Tensor4D, 1, 'same', false))))([x, w]);
  const b = tf.grads((p, q) => tf.sum(tf.square(conv2d(p as tf.Tensor4D, q as tf.Tensor4D, 1, 'same'))))([x, w]);
  assert.ok((await maxDiff(a[1]!, b[1]!)) < 1e-4);
  assert.equal(
    (await a[0]!.data()).every((v) => v === 0),
    true,
  );
});
