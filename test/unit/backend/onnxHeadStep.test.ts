// The fused ONNX head step against the tfjs LinearHeadTrainer (src/core/training/headStep.ts) on the same batches: the
// same
// W, b and loss after several steps with mixup, weight decay and momentum (float32 tolerance).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { LinearHeadTrainer, type HeadBatch } from '../../../src/core/training/headStep';
import { OrtHeadStep, OrtHeadTrainer, type OrtHeadState } from '../../../src/backend/onnxHeadStep';
import { HEAD_STEP_WIDE_MACS, headStepThreads, OrtSession, probeOnnxRuntime } from '../../../src/backend/onnxRuntime';
import { encodeOnnx, floatTensor, int64Tensor, modelOf, node, valueInfo } from '../../../src/formats/onnx/proto';
import { withOrtThreads } from '../../helpers/ortThreads';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
}

for (const [momentum, mixup] of [
  [0, true],
  [0.9, true],
  [0, false],
] as const) {
  test(`fused ONNX step = LinearHeadTrainer (momentum ${momentum}, ${mixup ? 'mixup' : 'no partners'}), 5 steps`, async () => {
    await tf.setBackend('cpu');
    const [B, d, K, n] = [16, 24, 7, 50];
    const r = rng(11);
    const set = Float32Array.from({ length: n * d }, () => r() * 2 - 1);
    const W0 = Float32Array.from({ length: d * K }, () => (r() - 0.5) * 0.2);
    const b0 = Float32Array.from({ length: K }, () => r() - 0.5);
    const v = {
      W: tf.variable(tf.tensor2d(W0, [d, K])),
      b: tf.variable(tf.tensor1d(b0)),
      mW: tf.variable(tf.zeros([d, K])),
      mb: tf.variable(tf.zeros([K])),
    };
    const trainer = new LinearHeadTrainer(v);
    const fused = new OrtHeadStep(B, d, K);
    const state: OrtHeadState = { W: W0.slice(), b: b0.slice(), mW: new Float32Array(d * K), mb: new Float32Array(K) };
    const p = { lr: 0.1, momentum, wd: 5e-3 };
    for (let s = 0; s < 5; s++) {
      const batch: HeadBatch = {
        anchorSet: set,
        partnerSet: set,
        anchors: Array.from({ length: B }, () => Math.floor(r() * n)),
        partners: mixup ? Array.from({ length: B }, () => Math.floor(r() * n)) : null,
        ya: Array.from({ length: B }, () => Math.floor(r() * K)),
        lam: Array.from({ length: B }, () => 0.6 + 0.4 * r()),
      };
      const l1 = trainer.step(batch, p);
      const l2 = fused.step(state, batch, p);
      assert.ok(Math.abs(l1 - l2) < 1e-4, `loss ${l1} vs ${l2}`);
    }
    trainer.sync();
    const W = v.W.dataSync();
    const b = v.b.dataSync();
    for (let i = 0; i < W.length; i++)
      assert.ok(Math.abs(W[i]! - state.W[i]!) < 1e-5, `W[${i}] ${W[i]} vs ${state.W[i]}`);
    for (let k = 0; k < K; k++) assert.ok(Math.abs(b[k]! - state.b[k]!) < 1e-5, `b[${k}]`);
    fused.dispose();
    Object.values(v).forEach((t) => t.dispose());
  });
}

/** The four head variables of a LinearHeadTrainer or OrtHeadTrainer, W from W0, the rest zero. */
function headVariables(W0: Float32Array, d: number, K: number) {
  return {
    W: tf.variable(tf.tensor2d(W0, [d, K])),
    b: tf.variable(tf.zeros([K])),
    mW: tf.variable(tf.zeros([d, K])),
    mb: tf.variable(tf.zeros([K])),
  };
}

/** A mixup batch of B rows drawn from a set of n rows. */
function randomBatch(r: () => number, set: Float32Array, n: number, B: number, K: number): HeadBatch {
  return {
    anchorSet: set,
    partnerSet: set,
    anchors: Array.from({ length: B }, () => Math.floor(r() * n)),
    partners: Array.from({ length: B }, () => Math.floor(r() * n)),
    ya: Array.from({ length: B }, () => Math.floor(r() * K)),
    lam: Array.from({ length: B }, () => 0.6 + 0.4 * r()),
  };
}

test('OrtHeadTrainer (W in WebAssembly memory, dW written there by ONNX Runtime) gives the same bits as the plain host update', async () => {
  await tf.setBackend('cpu');
  assert.ok(await probeOnnxRuntime());
  const [d, K, n, B] = [10, 7, 40, 6];
  const r = rng(9);
  const set = Float32Array.from({ length: n * d }, () => r() * 2 - 1);
  const W0 = Float32Array.from({ length: d * K }, () => (r() - 0.5) * 0.2);
  const v = headVariables(W0, d, K);
  const trainer = new OrtHeadTrainer(v);
  const step = new OrtHeadStep(B, d, K);
  const plain: OrtHeadState = {
    W: W0.slice(),
    b: new Float32Array(K),
    mW: new Float32Array(d * K),
    mb: new Float32Array(K),
  };
  for (let s = 0; s < 5; s++) {
    const batch = randomBatch(r, set, n, B, K);
    const p = { lr: 0.05, momentum: 0.9, wd: 1e-3 };
    assert.equal(trainer.step(batch, p), step.step(plain, batch, p));
    const W = trainer.current().W;
    for (let i = 0; i < W.length; i++) assert.ok(Object.is(W[i], plain.W[i]), `step ${s}: W[${i}]`);
  }
  trainer.sync();
  const mW = v.mW.dataSync();
  for (let i = 0; i < mW.length; i++) assert.ok(Object.is(mW[i], plain.mW[i]), `mW[${i}]`);
  trainer.dispose();
  step.dispose();
  Object.values(v).forEach((t) => t.dispose());
});

test("OrtHeadTrainer (LinearHeadTrainer's surface) gives the same variables after sync, with batches of two sizes", async () => {
  await tf.setBackend('cpu');
  const [d, K, n] = [12, 5, 30];
  const r = rng(5);
  const set = Float32Array.from({ length: n * d }, () => r() * 2 - 1);
  const W0 = Float32Array.from({ length: d * K }, () => (r() - 0.5) * 0.2);
  const [va, vb] = [headVariables(W0, d, K), headVariables(W0, d, K)];
  const lin = new LinearHeadTrainer(va);
  const ort = new OrtHeadTrainer(vb);
  assert.equal(ort.wScale, 1);
  for (let s = 0; s < 6; s++) {
    const batch = randomBatch(r, set, n, s % 2 ? 8 : 5, K);
    const p = { lr: s === 3 ? 0 : 0.05, momentum: 0.5, wd: 1e-3 };
    assert.ok(Math.abs(lin.step(batch, p) - ort.step(batch, p)) < 1e-4);
  }
  // Before any sync the variables lag behind; current() gives both trainers' exact W and b (the Mean Teacher reads it).
  const [cl, co] = [lin.current(), ort.current()];
  assert.ok(
    co.W.some((w, i) => w !== vb.W.dataSync()[i]),
    "ONNX Runtime's W is ahead of its variable before sync",
  );
  for (const k of ['W', 'b'] as const)
    for (let i = 0; i < cl[k].length; i++) assert.ok(Math.abs(cl[k][i]! - co[k][i]!) < 1e-5, `current ${k}[${i}]`);
  lin.sync();
  ort.sync();
  for (const k of ['W', 'b'] as const) {
    const [x, y] = [va[k].dataSync(), vb[k].dataSync()];
    for (let i = 0; i < x.length; i++) {
      assert.ok(Math.abs(x[i]! - cl[k][i]!) < 1e-6, `linear current ${k}[${i}] = the synced variable`);
      assert.ok(Math.abs(y[i]! - co[k][i]!) === 0, `ONNX Runtime current ${k}[${i}] = the synced variable`);
    }
  }
  for (const k of ['W', 'b', 'mW', 'mb'] as const) {
    const [x, y] = [va[k].dataSync(), vb[k].dataSync()];
    for (let i = 0; i < x.length; i++) assert.ok(Math.abs(x[i]! - y[i]!) < 1e-5, `${k}[${i}]`);
  }
  ort.dispose();
  [va, vb].forEach((v) => Object.values(v).forEach((t) => t.dispose()));
});

/** The step with W's update inside the graph too (how it was run before hostUpdateW): the bit-exact reference. */
function wholeGraph(B: number, d: number, K: number): Uint8Array {
  const n = (op: string, ins: string[], out: string, attrs: Record<string, number> = {}, ints: string[] = []) =>
    node(op, ins, [out], attrs, ints);
  return encodeOnnx(
    modelOf({
      name: 'reference_head_step',
      initializer: [
        floatTensor('one', [1], Float32Array.of(1)),
        floatTensor('invB', [1], Float32Array.of(1 / B)),
        int64Tensor('axis0', [1], [0]),
      ],
      input: [
        ...(
          [
            ['W', [d, K]],
            ['b', [K]],
            ['mW', [d, K]],
            ['mb', [K]],
            ['Xa', [B, d]],
            ['Xp', [B, d]],
            ['lam', [B, 1]],
            ['Y', [B, K]],
            ['lr', [1]],
            ['mu', [1]],
            ['wd', [1]],
          ] as const
        ).map(([name, dims]) => valueInfo(name, [...dims])),
      ],
      output: [valueInfo('W_out', [d, K]), valueInfo('b_out', [K]), valueInfo('mW_out', [d, K])],
      node: [
        n('Sub', ['one', 'lam'], 'rest'),
        n('Mul', ['Xa', 'lam'], 'fa'),
        n('Mul', ['Xp', 'rest'], 'fp'),
        n('Add', ['fa', 'fp'], 'F'),
        n('Gemm', ['F', 'W', 'b'], 'A'),
        n('LogSoftmax', ['A'], 'logP', { axis: 1 }, ['axis']),
        n('Exp', ['logP'], 'P'),
        n('Sub', ['P', 'Y'], 'PmY'),
        n('Mul', ['PmY', 'invB'], 'G'),
        n('Gemm', ['F', 'G'], 'dW', { transA: 1 }, ['transA']),
        n('ReduceSum', ['G', 'axis0'], 'db', { keepdims: 0 }, ['keepdims']),
        n('Mul', ['W', 'wd'], 'wdW'),
        n('Add', ['dW', 'wdW'], 'gW'),
        n('Mul', ['mW', 'mu'], 'muMW'),
        n('Add', ['muMW', 'gW'], 'mW_out'),
        n('Mul', ['mW_out', 'lr'], 'stepW'),
        n('Sub', ['W', 'stepW'], 'W_out'),
        n('Mul', ['mb', 'mu'], 'muMb'),
        n('Add', ['muMb', 'db'], 'mb_out'),
        n('Mul', ['mb_out', 'lr'], 'stepB'),
        n('Sub', ['b', 'stepB'], 'b_out'),
      ],
    }),
  );
}

test("W's update on the host gives the very bits of the update inside the graph (mixup, momentum, weight decay)", () => {
  assert.ok(probeOnnxRuntime().ok, probeOnnxRuntime().detail);
  const [B, d, K, n] = [16, 40, 9, 60];
  const r = rng(23);
  const set = Float32Array.from({ length: n * d }, () => r() * 4 - 2);
  const W0 = Float32Array.from({ length: d * K }, () => (r() - 0.5) * 0.3);
  const b0 = Float32Array.from({ length: K }, () => r() - 0.5);
  const ref = new OrtSession(wholeGraph(B, d, K));
  const step = new OrtHeadStep(B, d, K);
  const host: OrtHeadState = { W: W0.slice(), b: b0.slice(), mW: new Float32Array(d * K), mb: new Float32Array(K) };
  let W: Float32Array = W0.slice(),
    b: Float32Array = b0.slice(),
    mW: Float32Array = new Float32Array(d * K),
    mb: Float32Array = new Float32Array(K);
  for (let s = 0; s < 6; s++) {
    const batch: HeadBatch = {
      anchorSet: set,
      partnerSet: set,
      anchors: Array.from({ length: B }, () => Math.floor(r() * n)),
      partners: s === 2 ? null : Array.from({ length: B }, () => Math.floor(r() * n)),
      ya: Array.from({ length: B }, () => Math.floor(r() * K)),
      lam: Array.from({ length: B }, () => 0.55 + 0.45 * r()),
    };
    const p = { lr: 0.3 / (s + 1), momentum: 0.9, wd: 5e-3 };
    const xa = new Float32Array(B * d),
      xp = new Float32Array(B * d),
      lam = new Float32Array(B),
      y = new Float32Array(B * K);
    for (let i = 0; i < B; i++) {
      xa.set(set.subarray(batch.anchors[i]! * d, (batch.anchors[i]! + 1) * d), i * d);
      if (batch.partners) xp.set(set.subarray(batch.partners[i]! * d, (batch.partners[i]! + 1) * d), i * d);
      lam[i] = batch.partners ? batch.lam[i]! : 1;
      y[i * K + batch.ya[i]!] = 1;
    }
    const o = ref.run({
      W: { data: W, dims: [d, K] },
      b: { data: b, dims: [K] },
      mW: { data: mW, dims: [d, K] },
      mb: { data: mb, dims: [K] },
      Xa: { data: xa, dims: [B, d] },
      Xp: { data: xp, dims: [B, d] },
      lam: { data: lam, dims: [B, 1] },
      Y: { data: y, dims: [B, K] },
      lr: { data: Float32Array.of(p.lr), dims: [1] },
      mu: { data: Float32Array.of(p.momentum), dims: [1] },
      wd: { data: Float32Array.of(p.wd), dims: [1] },
    });
    // The bias momentum is not an output of the reference; it follows from b's change.
    [W, b, mW] = [o.W_out!.data, o.b_out!.data, o.mW_out!.data];
    step.step(host, batch, p);
    mb = host.mb.slice();
    assert.deepEqual(Array.from(host.W), Array.from(W), `W after step ${s}`);
    assert.deepEqual(Array.from(host.mW), Array.from(mW), `mW after step ${s}`);
    assert.deepEqual(Array.from(host.b), Array.from(b), `b after step ${s}`);
  }
  // With update false the state stays as it is.
  const before = { W: host.W.slice(), mW: host.mW.slice(), b: host.b, mb: host.mb };
  const batch: HeadBatch = {
    anchorSet: set,
    partnerSet: set,
    anchors: [...Array(B).keys()],
    partners: null,
    ya: Array(B).fill(1),
    lam: Array(B).fill(1),
  };
  assert.ok(Number.isFinite(step.step(host, batch, { lr: 0, momentum: 0.9, wd: 5e-3 }, false)));
  assert.deepEqual(Array.from(host.W), Array.from(before.W));
  assert.deepEqual(Array.from(host.mW), Array.from(before.mW));
  assert.equal(host.b, before.b);
  assert.equal(host.mb, before.mb);
  step.dispose();
  ref.dispose();
});

test('a large head step takes every core (headStepThreads) and gives the bits of one thread: W, mW, b and the losses over five steps', () => {
  assert.equal(probeOnnxRuntime().ok, true);
  // 128 x 2048 x 300: 7.9e7 multiply-adds a product, over HEAD_STEP_WIDE_MACS.
  const [B, d, K, n] = [128, 2048, 300, 512];
  assert.equal(headStepThreads(B, d, K), 'all');
  assert.equal(B * d * K >= HEAD_STEP_WIDE_MACS, true);
  assert.equal(headStepThreads(128, 512, 100), 'one');
  const run = (threads: string | undefined): { state: OrtHeadState; losses: number[] } =>
    withOrtThreads(threads, () => {
      const r = rng(5);
      const step = new OrtHeadStep(B, d, K);
      const set = Float32Array.from({ length: n * d }, () => r() * 2 - 1);
      const state: OrtHeadState = {
        W: Float32Array.from({ length: d * K }, () => (r() - 0.5) * 0.02),
        b: new Float32Array(K),
        mW: new Float32Array(d * K),
        mb: new Float32Array(K),
      };
      const losses: number[] = [];
      for (let s = 0; s < 5; s++) {
        const pick = (): Int32Array => Int32Array.from({ length: B }, () => Math.floor(r() * n));
        const batch: HeadBatch = {
          anchorSet: set,
          partnerSet: set,
          anchors: pick(),
          partners: pick(),
          ya: Int32Array.from({ length: B }, () => Math.floor(r() * K)),
          lam: Float32Array.from({ length: B }, () => 0.6 + 0.4 * r()),
        };
        losses.push(step.step(state, batch, { lr: 0.1, momentum: 0.9, wd: 1e-4 }));
      }
      step.dispose();
      return { state, losses };
    });
  const one = run('1');
  const all = run(undefined);
  assert.deepEqual(all.losses, one.losses);
  for (const k of ['W', 'mW', 'b', 'mb'] as const) {
    const a = one.state[k],
      b = all.state[k];
    for (let i = 0; i < a.length; i++) assert.ok(Object.is(a[i], b[i]), `${k}[${i}]: ${b[i]} against ${a[i]}`);
  }
  assert.ok(one.losses.every(Number.isFinite) && one.losses[4] !== one.losses[0], 'the steps moved the loss');
});
