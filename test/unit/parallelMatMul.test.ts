// The two-thread gain matmul (src/backend/parallelMatMul.ts): same products as the one-thread provider, a helper
// that really runs in another thread, a clean fallback when the helper cannot start, and the refresh through it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeParallelMatMul, defaultWasmDir, initBackend, prepareGainMatMul, PARALLEL_GAIN_MIN_K, tfMatMul } from '../../src/backend/backend';
import { ParallelMatMul, PARALLEL_MIN_MACS } from '../../src/backend/parallelMatMul';
import { gainMatrix } from '../../src/core/gain';
import { Rng } from '../../src/core/rng';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

function rand(rng: Rng, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal());
}

/** Max |x - y| / max |y|. */
function relErr(x: ArrayLike<number>, y: ArrayLike<number>): number {
  let e = 0, s = 0;
  for (let t = 0; t < y.length; t++) { e = Math.max(e, Math.abs(x[t]! - y[t]!)); s = Math.max(s, Math.abs(y[t]!)); }
  return e / s;
}

test('the parallel provider gives the one-thread products (odd sizes, views, float64 operands) and splits the big ones', async () => {
  await initBackend({ choice: 'wasm' });
  const p = await ParallelMatMul.start({ wasmDir: defaultWasmDir(), local: tfMatMul });
  assert.ok(p, 'the helper thread starts on this machine (2 cores)');
  try {
    const rng = new Rng(4);
    const localK: number[] = [];
    const counting = Object.assign((A: Float32Array | Float64Array, B: Float32Array | Float64Array, m: number, k: number, n: number) => {
      localK.push(k);
      return tfMatMul(A, B, m, k, n);
    }, { precision: 'float32' as const });
    const q = await ParallelMatMul.start({ wasmDir: defaultWasmDir(), local: counting });
    assert.ok(q);
    for (const [m, k, n] of [[301, 257, 263], [64, 1001, 333], [5, 7, 3]] as const) {
      const A = rand(rng, m * k + 10).subarray(10); // a view with an offset
      const B = Float64Array.from(rand(rng, k * n));
      const want = tfMatMul(A, B, m, k, n);
      localK.length = 0;
      const got: Float32Array | Float64Array = q.mm(A, B, m, k, n);
      assert.equal(got.length, m * n);
      assert.ok(relErr(got, want) < 1e-5, `${m}x${k}x${n}: ${relErr(got, want)}`);
      // Above the threshold this thread computes the first half of the inner dimension (the helper the rest);
      // below it the whole product.
      assert.deepEqual(localK, [m * k * n >= PARALLEL_MIN_MACS ? Math.ceil(k / 2) : k], `${m}x${k}x${n}`);
    }
    // A product large enough to need a bigger shared buffer than the initial 4 MiB.
    const [m, k, n] = [900, 1100, 1000];
    const A = rand(rng, m * k), B = rand(rng, k * n);
    assert.ok(relErr(p.mm(A, B, m, k, n), tfMatMul(A, B, m, k, n)) < 1e-5, 'after the shared buffer grew');
    await q.close();
  } finally {
    await p.close();
  }
  // After close the provider still answers, on this thread alone.
  const A = rand(new Rng(1), 400 * 300), B = rand(new Rng(2), 300 * 200);
  assert.ok(relErr(p.mm(A, B, 400, 300, 200), tfMatMul(A, B, 400, 300, 200)) < 1e-6);
});

test('the bundled helper (dist/matmulWorker.js, as the extension and the CLI start it) computes the same products', async () => {
  const dist = join(__dirname, '..', '..', 'dist');
  assert.ok(existsSync(join(dist, 'matmulWorker.js')), 'npm run build writes dist/matmulWorker.js (the test runner builds first)');
  await initBackend({ choice: 'wasm' });
  const p = await ParallelMatMul.start({ wasmDir: dist, local: tfMatMul, dir: dist });
  assert.ok(p, 'the bundled helper starts with the wasm binaries beside it');
  try {
    const rng = new Rng(6);
    const A = rand(rng, 500 * 400), B = rand(rng, 400 * 300);
    assert.ok(relErr(p.mm(A, B, 500, 400, 300), tfMatMul(A, B, 500, 400, 300)) < 1e-5);
  } finally {
    await p.close();
  }
});

test('a helper that cannot load its backend is reported as unavailable, not as an error', async () => {
  await initBackend({ choice: 'wasm' });
  const p = await ParallelMatMul.start({ wasmDir: '/nonexistent/wasm/dir', local: tfMatMul, timeoutMs: 20_000 });
  assert.equal(p, null);
});

test('prepareGainMatMul: exact below 100 classes, one thread below PARALLEL_GAIN_MIN_K, two threads above; G matches the exact path', async () => {
  await initBackend({ choice: 'wasm' });
  assert.equal(await prepareGainMatMul(10), undefined);
  assert.equal(await prepareGainMatMul(150), tfMatMul);
  const mm = await prepareGainMatMul(PARALLEL_GAIN_MIN_K);
  assert.ok(mm && mm !== tfMatMul && mm.precision === 'float32', 'the two-thread provider');
  const K = 300, d = 256;
  const rng = new Rng(8);
  const Z = Float64Array.from({ length: K * d }, () => Math.max(0, rng.normal()));
  const W = Float64Array.from({ length: d * K }, () => 0.05 * rng.normal());
  const b = Float64Array.from({ length: K }, () => 0.1 * rng.normal());
  const D = Float64Array.from({ length: K * K }, () => rng.normal());
  const exact = gainMatrix({ K, d, Z, W, b, D });
  assert.ok(relErr(gainMatrix({ K, d, Z, W, b, D, matmul: mm }), exact) < 1e-4);
  await closeParallelMatMul();
});
