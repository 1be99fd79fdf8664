// The lean linear-head SGD step (src/core/training/headStep.ts: mixing, targets, loss and bias in JS, products and the
// W
// update on the backend, weight decay carried as a scale) against the same step written with tfjs autograd.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend, tf } from '../../../../src/backend/backend';
import { LinearHeadTrainer } from '../../../../src/core/training/headStep';
import { Rng } from '../../../../src/core/numerics/rng';

/** Random features, a head, and batches drawn from them. */
function setup(seed: number, n: number, d: number, K: number) {
  const rng = new Rng(seed);
  const x = Float32Array.from({ length: n * d }, () => Math.max(0, rng.normal()));
  const pool = Float32Array.from({ length: n * d }, () => Math.max(0, rng.normal()));
  const y = Int32Array.from({ length: n }, (_, i) => i % K);
  const W0 = Float32Array.from({ length: d * K }, () => 0.3 * rng.normal());
  const b0 = Float32Array.from({ length: K }, () => 0.1 * rng.normal());
  const batch = (B: number) => {
    const anchors = Int32Array.from({ length: B }, () => rng.int(n));
    const partners = Int32Array.from({ length: B }, () => rng.int(n));
    const lam = Float32Array.from({ length: B }, () => rng.uniform(0.6, 1));
    return { anchors, partners, ya: Int32Array.from(anchors, (a) => y[a]!), lam };
  };
  return { x, pool, W0, b0, batch };
}

/** The reference step: tf.variableGrads of mean CE, then m = mu m + g + wd w (bias: no decay), w -= lr m. */
function referenceStep(
  W: tf.Variable,
  b: tf.Variable,
  mW: tf.Variable,
  mb: tf.Variable,
  f: Float32Array,
  B: number,
  d: number,
  ya: Int32Array,
  lr: number,
  mu: number,
  wd: number,
): number {
  return tf.tidy(() => {
    const ft = tf.tensor2d(f, [B, d]);
    const { value, grads } = tf.variableGrads(
      () =>
        tf.losses.softmaxCrossEntropy(
          tf.oneHot(tf.tensor1d(ya, 'int32'), W.shape[1]!),
          tf.add(tf.matMul(ft, W), b),
        ) as tf.Scalar,
      [W, b],
    );
    const upd = (v: tf.Variable, m: tf.Variable, g: tf.Tensor, decay: number) => {
      const full = decay > 0 ? tf.add(g, tf.mul(v, decay)) : g;
      if (mu > 0) {
        m.assign(tf.add(tf.mul(m, mu), full));
        v.assign(tf.sub(v, tf.mul(m, lr)));
      } else v.assign(tf.sub(v, tf.mul(full, lr)));
    };
    upd(W, mW, grads[W.name]!, wd);
    upd(b, mb, grads[b.name]!, 0);
    return value.dataSync()[0]!;
  });
}

/** W, b and their momenta as tf variables (in a tidy, so the initial tensors are released). */
function headVars(W0: Float32Array, b0: Float32Array, d: number, K: number) {
  return tf.tidy(() => ({
    W: tf.variable(tf.tensor2d(W0, [d, K])),
    b: tf.variable(tf.tensor1d(b0)),
    mW: tf.variable(tf.zeros([d, K])),
    mb: tf.variable(tf.zeros([K])),
  }));
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let e = 0;
  for (let i = 0; i < a.length; i++) e = Math.max(e, Math.abs(a[i]! - b[i]!));
  return e;
}

for (const mu of [0, 0.9]) {
  test(`LinearHeadTrainer matches tfjs autograd over 20 steps (mixup, weight decay, momentum ${mu})`, async () => {
    await initBackend({ choice: 'wasm' });
    const [n, d, K, B] = [200, 24, 7, 16];
    const s = setup(5 + mu * 10, n, d, K);
    const before = tf.memory().numTensors;
    const vars = headVars(s.W0, s.b0, d, K);
    const ref = headVars(s.W0, s.b0, d, K);
    const head = new LinearHeadTrainer(vars);
    for (let t = 0; t < 20; t++) {
      const bt = s.batch(B);
      const lr = 0.5 * (1 - t / 20);
      const loss = head.step(
        { anchorSet: s.x, partnerSet: s.pool, anchors: bt.anchors, partners: bt.partners, ya: bt.ya, lam: bt.lam },
        { lr, momentum: mu, wd: 5e-3 },
      );
      const f = new Float32Array(B * d);
      for (let i = 0; i < B; i++)
        for (let r = 0; r < d; r++) {
          f[i * d + r] =
            bt.lam[i]! * s.x[bt.anchors[i]! * d + r]! + (1 - bt.lam[i]!) * s.pool[bt.partners[i]! * d + r]!;
        }
      const refLoss = referenceStep(ref.W, ref.b, ref.mW, ref.mb, f, B, d, bt.ya, lr, mu, 5e-3);
      assert.ok(Math.abs(loss - refLoss) < 1e-4 * Math.max(1, refLoss), `step ${t}: loss ${loss} vs ${refLoss}`);
    }
    head.sync();
    const W = vars.W.dataSync();
    const moved = maxDiff(W, s.W0);
    assert.ok(moved > 0.05, `the head trained (max |dW| = ${moved})`);
    assert.ok(maxDiff(W, ref.W.dataSync()) < 1e-4 * Math.max(1, moved), `W: ${maxDiff(W, ref.W.dataSync())}`);
    assert.ok(maxDiff(vars.b.dataSync(), ref.b.dataSync()) < 1e-4, 'b');
    if (mu > 0) {
      assert.ok(maxDiff(vars.mW.dataSync(), ref.mW.dataSync()) < 1e-4, 'momentum of W');
      assert.ok(maxDiff(vars.mb.dataSync(), ref.mb.dataSync()) < 1e-4, 'momentum of b');
    }
    [...Object.values(vars), ...Object.values(ref)].forEach((v) => v.dispose());
    assert.equal(tf.memory().numTensors, before, 'no tensors leak from the step');
  });
}

test('LinearHeadTrainer without partners trains on the anchors alone, and lr 0 changes nothing', async () => {
  await initBackend({ choice: 'wasm' });
  const [n, d, K, B] = [50, 8, 3, 10];
  const s = setup(9, n, d, K);
  const vars = headVars(s.W0, s.b0, d, K);
  const head = new LinearHeadTrainer(vars);
  const bt = s.batch(B);
  const frozen = head.step(
    { anchorSet: s.x, partnerSet: s.pool, anchors: bt.anchors, partners: null, ya: bt.ya, lam: bt.lam },
    { lr: 0, momentum: 0, wd: 0.1 },
  );
  head.sync();
  assert.deepEqual(Array.from(vars.W.dataSync()), Array.from(s.W0));
  assert.deepEqual(Array.from(vars.b.dataSync()), Array.from(s.b0));
  // The loss of anchors alone: mean of logsumexp(a) - a_y with a = x W + b.
  let want = 0;
  for (let i = 0; i < B; i++) {
    const a = Array.from({ length: K }, (_, l) => {
      let v = s.b0[l]!;
      for (let r = 0; r < d; r++) v += s.x[bt.anchors[i]! * d + r]! * s.W0[r * K + l]!;
      return v;
    });
    const mx = Math.max(...a);
    want += mx + Math.log(a.reduce((z, v) => z + Math.exp(v - mx), 0)) - a[bt.ya[i]!]!;
  }
  assert.ok(Math.abs(frozen - want / B) < 1e-5, `${frozen} vs ${want / B}`);
  Object.values(vars).forEach((v) => v.dispose());
});

test('weight decay without momentum is carried as a scale and folded back: 300 steps with a large decay match autograd', async () => {
  await initBackend({ choice: 'wasm' });
  const [n, d, K, B] = [100, 10, 4, 12];
  const s = setup(21, n, d, K);
  const vars = headVars(s.W0, s.b0, d, K);
  const ref = headVars(s.W0, s.b0, d, K);
  const head = new LinearHeadTrainer(vars);
  // lr wd = 0.01 per step: the scale drops under 0.5 after about 70 steps and is folded back several times.
  for (let t = 0; t < 300; t++) {
    const bt = s.batch(B);
    head.step(
      { anchorSet: s.x, partnerSet: s.pool, anchors: bt.anchors, partners: bt.partners, ya: bt.ya, lam: bt.lam },
      { lr: 0.1, momentum: 0, wd: 0.1 },
    );
    const f = new Float32Array(B * d);
    for (let i = 0; i < B; i++)
      for (let r = 0; r < d; r++) {
        f[i * d + r] = bt.lam[i]! * s.x[bt.anchors[i]! * d + r]! + (1 - bt.lam[i]!) * s.pool[bt.partners[i]! * d + r]!;
      }
    referenceStep(ref.W, ref.b, ref.mW, ref.mb, f, B, d, bt.ya, 0.1, 0, 0.1);
    if (t === 150) {
      // A sync in the middle (as at a refresh) changes nothing but the representation.
      head.sync();
      assert.ok(maxDiff(vars.W.dataSync(), ref.W.dataSync()) < 1e-4, 'W at a mid-run sync');
    }
  }
  head.sync();
  const W = vars.W.dataSync();
  assert.ok(maxDiff(W, ref.W.dataSync()) < 1e-4, `W: ${maxDiff(W, ref.W.dataSync())}`);
  assert.ok(maxDiff(vars.b.dataSync(), ref.b.dataSync()) < 1e-4, 'b');
  [...Object.values(vars), ...Object.values(ref)].forEach((v) => v.dispose());
});

test('sync() hands the variables copies: on the cpu backend a clone taken after sync() does not move with later steps', async () => {
  await initBackend({ choice: 'cpu' });
  try {
    const [n, d, K, B] = [40, 6, 3, 8];
    const s = setup(13, n, d, K);
    const vars = headVars(s.W0, s.b0, d, K);
    const head = new LinearHeadTrainer(vars);
    const step = () => {
      const bt = s.batch(B);
      head.step(
        { anchorSet: s.x, partnerSet: s.pool, anchors: bt.anchors, partners: bt.partners, ya: bt.ya, lam: bt.lam },
        { lr: 0.5, momentum: 0, wd: 0 },
      );
    };
    step();
    head.sync();
    const best = tf.clone(vars.b);
    const snapshot = Array.from(best.dataSync());
    step();
    step();
    head.sync();
    assert.deepEqual(Array.from(best.dataSync()), snapshot, 'the clone kept its values');
    assert.notDeepEqual(Array.from(vars.b.dataSync()), snapshot, 'while the head moved on');
    best.dispose();
    Object.values(vars).forEach((v) => v.dispose());
  } finally {
    await initBackend({ choice: 'wasm' });
  }
});

test('a trainer rebuilt from the variables and wScale (as from a checkpoint) continues bit for bit', async () => {
  await initBackend({ choice: 'wasm' });
  const [n, d, K, B] = [60, 7, 3, 9];
  const s = setup(29, n, d, K);
  const batches = Array.from({ length: 30 }, () => s.batch(B));
  const params = { lr: 0.2, momentum: 0, wd: 0.05 };
  const stepOn = (h: LinearHeadTrainer, t: number) => {
    const bt = batches[t]!;
    return h.step(
      { anchorSet: s.x, partnerSet: s.pool, anchors: bt.anchors, partners: bt.partners, ya: bt.ya, lam: bt.lam },
      params,
    );
  };
  const whole = headVars(s.W0, s.b0, d, K);
  const h1 = new LinearHeadTrainer(whole);
  for (let t = 0; t < 30; t++) stepOn(h1, t);
  h1.sync();
  const split = headVars(s.W0, s.b0, d, K);
  const h2 = new LinearHeadTrainer(split);
  for (let t = 0; t < 13; t++) stepOn(h2, t);
  h2.writeBias();
  const scale = h2.wScale;
  assert.ok(scale < 1, 'weight decay is being carried as a scale');
  // "Resume": fresh variables with the saved values, a new trainer with the saved scale.
  const saved = tf.tidy(() => ({
    W: tf.variable(split.W.clone()),
    b: tf.variable(split.b.clone()),
    mW: tf.variable(split.mW.clone()),
    mb: tf.variable(split.mb.clone()),
  }));
  const h3 = new LinearHeadTrainer(saved, scale);
  for (let t = 13; t < 30; t++) stepOn(h3, t);
  h3.sync();
  assert.deepEqual(Array.from(saved.W.dataSync()), Array.from(whole.W.dataSync()));
  assert.deepEqual(Array.from(saved.b.dataSync()), Array.from(whole.b.dataSync()));
  assert.throws(() => new LinearHeadTrainer(saved, 0), /positive/);
  [...Object.values(whole), ...Object.values(split), ...Object.values(saved)].forEach((v) => v.dispose());
});
