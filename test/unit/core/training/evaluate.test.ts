// forwardAll on a head over features: through a float32 matmul provider (ONNX Runtime's in a run) the logits are
// X W + b to float32 rounding, the same as the tensor path; an exact (float64) provider leaves the tensor path in
// place.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend, tfMatMul } from '../../../../src/backend/backend';
import { forwardAll } from '../../../../src/core/training/evaluate';
import { float64MatMul } from '../../../../src/core/numerics/gain';
import { disposeModel, linearModel } from '../../../../src/core/training/model';
import { Rng } from '../../../../src/core/numerics/rng';

test("the provider path gives the tensor path's logits to float32 rounding; the features are the set's own array", async () => {
  await initBackend({ choice: 'wasm' });
  const rng = new Rng(5);
  const [n, d, K] = [300, 40, 120];
  const x = Float32Array.from({ length: n * d }, () => rng.normal());
  const model = linearModel(
    Float32Array.from({ length: d * K }, () => rng.normal() * 0.3),
    Float32Array.from({ length: K }, () => rng.normal()),
    d,
    K,
  );
  try {
    const set = { x, y: null, n, shape: [d] };
    const tensor = forwardAll(model, set);
    const provider = forwardAll(model, set, 256, tfMatMul);
    assert.equal(provider.features, x);
    let worst = 0;
    for (let i = 0; i < n * K; i++)
      worst = Math.max(worst, Math.abs(provider.logits[i]! - tensor.logits[i]!) / (1 + Math.abs(tensor.logits[i]!)));
    assert.ok(worst < 1e-5, `largest relative difference ${worst}`);
    // An exact provider is not a float32 one: the tensor path runs, bit for bit.
    assert.deepEqual(forwardAll(model, set, 256, float64MatMul).logits, tensor.logits);
  } finally {
    disposeModel(model);
  }
});
