import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hostUpdateW, simdWUpdate } from '../../../src/backend/wUpdate';
import { Rng } from '../../../src/core/numerics/rng';

test('the WebAssembly SIMD update of W and its momentum gives the same bits as the JS one, tail included', () => {
  for (const n of [1, 4, 7, 2048 * 10 + 3]) {
    const fast = simdWUpdate(n);
    assert.ok(fast, 'WebAssembly SIMD is available in this Node');
    const rng = new Rng(n);
    const W = Float32Array.from({ length: n }, () => rng.normal());
    const mW = Float32Array.from({ length: n }, () => 0.1 * rng.normal());
    fast.W.set(W);
    fast.mW.set(mW);
    for (let step = 0; step < 5; step++) {
      // Gradients of every size, signed zeros and subnormals among them.
      const dW = Float32Array.from({ length: n }, (_, i) =>
        i % 11 === 0 ? -0 : i % 13 === 0 ? 1e-40 : rng.normal() * 10 ** ((i % 7) - 3),
      );
      const p = { lr: 0.05 / (step + 1), momentum: 0.9, wd: 5e-4 };
      hostUpdateW(W, mW, dW, p);
      fast.update(dW, p);
      for (let i = 0; i < n; i++) {
        assert.ok(Object.is(fast.W[i], W[i]), `n ${n}, step ${step}: W[${i}] ${fast.W[i]} against ${W[i]}`);
        assert.ok(Object.is(fast.mW[i], mW[i]), `n ${n}, step ${step}: mW[${i}] ${fast.mW[i]} against ${mW[i]}`);
      }
    }
    assert.throws(() => fast.update(new Float32Array(n + 1), { lr: 0.1, momentum: 0, wd: 0 }), /dW has/);
  }
});

test('hostUpdateW from an index leaves the entries before it as they were', () => {
  const W = Float32Array.of(1, 2, 3, 4);
  const mW = new Float32Array(4);
  hostUpdateW(W, mW, Float32Array.of(1, 1, 1, 1), { lr: 0.5, momentum: 0, wd: 0 }, 2);
  assert.deepEqual(Array.from(W), [1, 2, 2.5, 3.5]);
  assert.deepEqual(Array.from(mW), [0, 0, 1, 1]);
});
