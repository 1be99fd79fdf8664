import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend, tf } from '../../../../src/backend/backend';
import { fromLayersModel, disposeModel, headValues, linearModel, writeBack } from '../../../../src/core/training/model';
import { ModelShapeError } from '../../../../src/core/errors';

function net(): tf.LayersModel {
  return tf.sequential({
    layers: [
      tf.layers.conv2d({
        inputShape: [12, 12, 2],
        filters: 4,
        kernelSize: 3,
        strides: 2,
        padding: 'valid',
        activation: 'relu',
        kernelInitializer: tf.initializers.glorotNormal({ seed: 1 }),
      }),
      tf.layers.batchNormalization({
        movingMeanInitializer: tf.initializers.constant({ value: 0.1 }),
        movingVarianceInitializer: tf.initializers.constant({ value: 2 }),
      }),
      tf.layers.conv2d({
        filters: 3,
        kernelSize: 2,
        padding: 'same',
        kernelInitializer: tf.initializers.glorotNormal({ seed: 2 }),
      }),
      tf.layers.activation({ activation: 'tanh' }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dropout({ rate: 0.5 }),
      tf.layers.dense({ units: 6, activation: 'relu', kernelInitializer: tf.initializers.glorotNormal({ seed: 3 }) }),
      tf.layers.dense({
        units: 5,
        activation: 'softmax',
        kernelInitializer: tf.initializers.glorotNormal({ seed: 4 }),
      }),
    ],
  });
}

test('the backbone interpreter reproduces LayersModel.predict (conv, stride, BN, pooling, dropout, softmax head) and leaks nothing', async () => {
  await initBackend({ choice: 'wasm' });
  const lm = net();
  const x = tf.randomUniform([7, 12, 12, 2], 0, 1, 'float32', 9);
  const want = await (lm.predict(x) as tf.Tensor).data();
  const before = tf.memory().numTensors;
  const m = fromLayersModel(lm);
  assert.equal(m.K, 5);
  assert.equal(m.d, 6);
  assert.deepEqual(m.inputShape, [12, 12, 2]);
  const out = tf.tidy(() => tf.softmax(tf.add(tf.matMul(m.backbone!.apply(x), m.W), m.b)));
  const got = await out.data();
  out.dispose();
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) < 1e-5, `${i}: ${got[i]} vs ${want[i]}`);
  // the head is split off: 2 conv + 1 dense layers give 6 backbone variables
  assert.equal(m.backbone!.variables.length, 6);
  disposeModel(m);
  assert.equal(tf.memory().numTensors, before, 'tensors left behind by fromLayersModel + disposeModel');
  x.dispose();
});

test('writeBack puts trained weights into the source model', async () => {
  await initBackend({ choice: 'wasm' });
  const lm = net();
  const m = fromLayersModel(lm);
  m.W.assign(tf.onesLike(m.W));
  m.backbone!.variables[0]!.assign(tf.zerosLike(m.backbone!.variables[0]!));
  writeBack(m);
  const head = lm.layers[lm.layers.length - 1]!.getWeights()[0]!;
  assert.equal(
    (await head.data()).every((v) => v === 1),
    true,
  );
  assert.equal(
    (await lm.layers[0]!.getWeights()[0]!.data()).every((v) => v === 0),
    true,
  );
  disposeModel(m);
});

test('a model whose last layer is not Dense is refused, naming the layer', () => {
  const lm = tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [3], units: 2 }),
      tf.layers.activation({ activation: 'relu', name: 'act_last' }),
    ],
  });
  assert.throws(
    () => fromLayersModel(lm),
    (e: Error) => e instanceof ModelShapeError && /last layer must be Dense.*Activation "act_last"/.test(e.message),
  );
});

test('a linear head stays on the host until its variables are read, then the variables hold it', async () => {
  await initBackend({ choice: 'cpu' });
  const [d, K] = [3, 2];
  const W = Float64Array.of(1, 2, 3, 4, 5, 6);
  const before = tf.memory().numTensors;
  const m = linearModel(W, Float32Array.of(0.5, -1), d, K);
  const host = headValues(m);
  assert.ok(host);
  assert.deepEqual(Array.from(host.W), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(Array.from(host.b), [0.5, -1]);
  assert.equal(tf.memory().numTensors, before, 'no tensor before the variables are read');
  // Disposing a head that never became variables releases nothing and leaves nothing behind.
  disposeModel(m);
  assert.equal(tf.memory().numTensors, before);

  const m2 = linearModel(W, Float32Array.of(0.5, -1), d, K);
  assert.deepEqual(m2.W.shape, [d, K]);
  assert.equal(headValues(m2), null, 'the variables hold the head once made');
  assert.deepEqual(Array.from(m2.W.dataSync()), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(Array.from(m2.b.dataSync()), [0.5, -1]);
  assert.equal(m2.W, m2.W, 'made once');
  assert.equal(tf.memory().numTensors, before + 2);
  disposeModel(m2);
  assert.equal(tf.memory().numTensors, before);
  assert.throws(() => linearModel(W, Float32Array.of(0), d, K), /b 1 for d = 3, K = 2/);
});
