// The fused ONNX head step against the tfjs LinearHeadTrainer (src/core/training/headStep.ts) on the same batches: the
// same
// W, b and loss after several steps with mixup, weight decay and momentum (float32 tolerance).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { LinearHeadTrainer, type HeadBatch } from '../../../src/core/training/headStep';
import { OrtHeadStep, OrtHeadTrainer, type OrtHeadState } from '../../../src/backend/onnxHeadStep';

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

test("OrtHeadTrainer (LinearHeadTrainer's surface) gives the same variables after sync, with batches of two sizes", async () => {
  await tf.setBackend('cpu');
  const [d, K, n] = [12, 5, 30];
  const r = rng(5);
  const set = Float32Array.from({ length: n * d }, () => r() * 2 - 1);
  const W0 = Float32Array.from({ length: d * K }, () => (r() - 0.5) * 0.2);
  const mk = () => ({
    W: tf.variable(tf.tensor2d(W0, [d, K])),
    b: tf.variable(tf.zeros([K])),
    mW: tf.variable(tf.zeros([d, K])),
    mb: tf.variable(tf.zeros([K])),
  });
  const [va, vb] = [mk(), mk()];
  const lin = new LinearHeadTrainer(va);
  const ort = new OrtHeadTrainer(vb);
  assert.equal(ort.wScale, 1);
  for (let s = 0; s < 6; s++) {
    const B = s % 2 ? 8 : 5;
    const batch: HeadBatch = {
      anchorSet: set,
      partnerSet: set,
      anchors: Array.from({ length: B }, () => Math.floor(r() * n)),
      partners: Array.from({ length: B }, () => Math.floor(r() * n)),
      ya: Array.from({ length: B }, () => Math.floor(r() * K)),
      lam: Array.from({ length: B }, () => 0.6 + 0.4 * r()),
    };
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
