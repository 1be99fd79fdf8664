// The matmul-provider path of gainMatrix against the exact float64 path (SELMIX.md section 3, 7.18):
// a float64 JS provider must reproduce it to rounding, tfjs float32 on wasm to 1e-4 of max |G|.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend, tf, tfMatMul } from '../../../src/backend/backend';
import { gainMatrix, FAST_GAIN_MIN_K, type GainArgs, type MatMul } from '../../../src/core/gain';
import { computeRefresh, type RefreshInput } from '../../../src/core/refresh';
import { samplingDistribution } from '../../../src/core/distribution';
import { defaultObjectiveOptions } from '../../../src/core/objectives';
import { Rng } from '../../../src/core/rng';
import { assertClose, maxAbs, randn } from '../../helpers/numerics';

/** Plain float64 row-major product: the reference provider. */
const jsMatMul: MatMul = (A, B, m, k, n) => {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let t = 0; t < k; t++) {
      const a = A[i * k + t]!;
      for (let j = 0; j < n; j++) out[i * n + j]! += a * B[t * n + j]!;
    }
  }
  return out;
};

/** Centroids, a diagonal-dominant head scaled by headScale, and a random D. */
function randomArgs(seed: number, K: number, d: number, headScale: number): GainArgs {
  const rng = new Rng(seed);
  const Z = randn(rng, K * d, 1);
  const W = randn(rng, d * K, 0.3);
  for (let k = 0; k < K; k++) for (let r = 0; r < d; r++) W[r * K + k]! += 0.25 * Z[k * d + r]!;
  for (let t = 0; t < W.length; t++) W[t]! *= headScale;
  return { K, d, Z, W, b: randn(rng, K, 0.3), D: randn(rng, K * K) };
}

/** Max |x - y| / max |y|. */
function relErr(x: Float64Array, y: Float64Array): number {
  let e = 0;
  for (let t = 0; t < x.length; t++) e = Math.max(e, Math.abs(x[t]! - y[t]!));
  return e / maxAbs(y);
}

/** A provider that counts its calls and checks that no operand is ever passed transposed (shapes only). */
function countingProvider(inner: MatMul): { mm: MatMul; calls: number[][] } {
  const calls: number[][] = [];
  const mm: MatMul = (A, B, m, k, n) => {
    assert.equal(A.length, m * k);
    assert.equal(B.length, k * n);
    calls.push([m, k, n]);
    return inner(A, B, m, k, n);
  };
  return { mm, calls };
}

test('fast path with a float64 provider equals the default path to 1e-10 (both E orders, both variants, odd K)', () => {
  // (K, d): d >= K goes through S = Z Z^T by blocks, d < K through Z (Z^T D).
  for (const [K, d] of [[7, 9], [13, 40], [33, 5], [64, 64], [90, 20]] as const) {
    for (const variant of ['prototype', 'mixed'] as const) {
      for (const lambdaBar of [0.8, 0.6, 1, 0]) {
        const args = { ...randomArgs(K * 7 + d, K, d, 1), variant, lambdaBar };
        const { mm, calls } = countingProvider(jsMatMul);
        const fast = gainMatrix({ ...args, matmul: mm });
        assert.ok(calls.length >= 4, 'the provider is used');
        assert.ok(relErr(fast, gainMatrix(args)) < 1e-10, `K=${K} d=${d} ${variant} lambdaBar=${lambdaBar}: ${relErr(fast, gainMatrix(args))}`);
      }
    }
  }
});

test('fast path underflow guard: extreme logits (head x 3000) with a float64 provider still match the default path', () => {
  for (const variant of ['prototype', 'mixed'] as const) {
    const args = { ...randomArgs(5, 12, 6, 3000), variant };
    const fast = gainMatrix({ ...args, matmul: jsMatMul });
    assert.ok(fast.every(Number.isFinite));
    assert.ok(relErr(fast, gainMatrix(args)) < 1e-10);
  }
});

test('given centroid logits A are used when they match Z W + b and ignored when they do not', () => {
  const args = randomArgs(9, 20, 8, 1);
  const exact = gainMatrix(args);
  // The true A, rounded to float32 as a tfjs forward pass would give it.
  const A = new Float64Array(20 * 20);
  for (let k = 0; k < 20; k++) for (let l = 0; l < 20; l++) {
    let a = args.b[l]!;
    for (let r = 0; r < 8; r++) a += args.Z[k * 8 + r]! * args.W[r * 20 + l]!;
    A[k * 20 + l] = Math.fround(a);
  }
  const used = countingProvider(jsMatMul);
  const withA = gainMatrix({ ...args, A, matmul: used.mm });
  assert.ok(relErr(withA, exact) < 1e-5);
  const wrong = A.map((x) => x * 1.5);
  const ignored = countingProvider(jsMatMul);
  assert.ok(relErr(gainMatrix({ ...args, A: wrong, matmul: ignored.mm }), exact) < 1e-10, 'a mismatching A is recomputed');
  assert.equal(ignored.calls.length, used.calls.length + 1, 'one product (Z W) fewer when a matching A is given');
  // trustA: the caller vouches for A (it computed the logits from this head); no check, the same G.
  const trusted = countingProvider(jsMatMul);
  assert.deepEqual(Array.from(gainMatrix({ ...args, A, trustA: true, matmul: trusted.mm })), Array.from(withA));
  assert.equal(trusted.calls.length, used.calls.length);
  assert.ok(relErr(gainMatrix({ ...args, A: wrong, trustA: true, matmul: jsMatMul }), exact) > 1e-3, 'a trusted A is taken as is, unchecked');
});

test('a provider returning the wrong size is rejected', () => {
  const args = randomArgs(3, 6, 4, 1);
  assert.throws(() => gainMatrix({ ...args, matmul: (_A, _B, m) => new Float64Array(m) }), /matmul provider returned/);
});

test('tfMatMul on wasm: G agrees with the float64 path to 1e-4 max|G| at K = 64 and 200, incl. extreme logits; P keeps its mass', async () => {
  const info = await initBackend({ choice: 'wasm' });
  assert.equal(info.tfName, 'wasm');
  const before = tf.memory().numTensors;
  for (const K of [64, 200]) {
    for (const headScale of [1, 30]) {
      for (const variant of ['prototype', 'mixed'] as const) {
        const args = { ...randomArgs(K + headScale, K, 64, headScale), variant };
        const exact = gainMatrix(args);
        const fast = gainMatrix({ ...args, matmul: tfMatMul });
        const label = `K=${K} head x${headScale} ${variant}`;
        assert.ok(fast.every(Number.isFinite), label);
        const mx = maxAbs(exact);
        const err = relErr(fast, exact);
        assert.ok(err < 1e-4, `${label}: max |dG| = ${err} max|G|`);
        // P = masked softmax of s G. On entries clear of the noise floor (|G| > 1e-3 max|G|) the mask is the same
        // and P, renormalised over those entries, is the same. The entries below it are zero up to rounding in
        // both paths (many, for 'mixed' with saturated logits); their sign is noise (SELMIX.md 7.18), so the
        // share of P they take is not compared.
        const s = 3 / mx;
        const P0 = samplingDistribution(exact, K, s, 1e-8);
        const P1 = samplingDistribution(fast, K, s, 1e-8);
        const sig: number[] = [];
        let mass0 = 0, mass1 = 0;
        for (let t = 0; t < K * K; t++) {
          if (Math.abs(exact[t]!) <= 1e-3 * mx) continue;
          assert.equal(fast[t]! > 0, exact[t]! > 0, `${label}: sign of G[${t}]`);
          sig.push(t);
          mass0 += P0[t]!;
          mass1 += P1[t]!;
        }
        assert.ok(sig.some((t) => exact[t]! > 0), `${label}: some significant positive gains`);
        for (const t of sig) {
          if (exact[t]! > 0) assert.ok(Math.abs(P1[t]! / mass1 - P0[t]! / mass0) <= 1e-3 * (P0[t]! / mass0), `${label}: P[${t}] ${P1[t]} vs ${P0[t]}`);
          else assert.ok(P1[t]! < 1e-6 * mass1 && P0[t]! < 1e-6 * mass0, `${label}: P[${t}] on a negative gain`);
        }
      }
    }
  }
  assert.equal(tf.memory().numTensors, before, 'tfMatMul leaks no tensors');
});

test('computeRefresh with tfMatMul (class-mean logits as A) matches the default refresh', async () => {
  await initBackend({ choice: 'wasm' });
  const rng = new Rng(77);
  const K = FAST_GAIN_MIN_K, d = 32, N = 4 * K;
  const mu = randn(rng, K * d, 1);
  const features = new Float32Array(N * d);
  const labels = new Int32Array(N);
  for (let n = 0; n < N; n++) {
    labels[n] = n % (K - 1); // the last class has no validation examples
    for (let r = 0; r < d; r++) features[n * d + r] = mu[labels[n]! * d + r]! + rng.normal();
  }
  const W = randn(rng, d * K, 0.1);
  for (let k = 0; k < K; k++) for (let r = 0; r < d; r++) W[r * K + k]! += 0.2 * mu[k * d + r]!;
  const b = randn(rng, K, 0.1);
  const logits = new Float32Array(N * K);
  for (let n = 0; n < N; n++) for (let l = 0; l < K; l++) {
    let a = b[l]!;
    for (let r = 0; r < d; r++) a += features[n * d + r]! * W[r * K + l]!;
    logits[n * K + l] = a;
  }
  const inp: RefreshInput = { K, d, features, labels, logits, W, b, objective: 'meanRecall', prevMultipliers: null, options: defaultObjectiveOptions(), s: 10 };
  const exact = computeRefresh(inp);
  const fast = computeRefresh({ ...inp, matmul: tfMatMul });
  assert.ok(relErr(fast.G, exact.G) < 1e-4, `G: ${relErr(fast.G, exact.G)}`);
  assertClose(fast.C, exact.C, 0, 'C does not depend on the provider');
});

test('the K^3 operands handed to a float32 provider have no entry under 1e-18 but 0 (so no subnormal float32 products)', async () => {
  await initBackend({ choice: 'wasm' });
  const K = 120;
  // A confident head (x 30): many softmax factors exp(lb (a - max)) are far below 1e-18 before flushing.
  const args = randomArgs(11, K, 64, 30);
  let tinyBefore = 0;
  const A = new Float64Array(K * K);
  for (let k = 0; k < K; k++) for (let l = 0; l < K; l++) {
    let a = args.b[l]!;
    for (let r = 0; r < 64; r++) a += args.Z[k * 64 + r]! * args.W[r * K + l]!;
    A[k * K + l] = a;
  }
  for (let k = 0; k < K; k++) {
    let mx = -Infinity;
    for (let l = 0; l < K; l++) mx = Math.max(mx, A[k * K + l]!);
    for (let l = 0; l < K; l++) if (Math.exp(0.2 * (A[k * K + l]! - mx)) < 1e-18) tinyBefore++;
  }
  assert.ok(tinyBefore > K, `the head is confident enough to test the flush (${tinyBefore} tiny factors)`);
  let k3Calls = 0;
  const checking = Object.assign((X: Float64Array | Float32Array, Y: Float64Array | Float32Array, m: number, k: number, n: number) => {
    assert.ok(X instanceof Float32Array && Y instanceof Float32Array, 'operands are built in the provider precision');
    if (k === K && n === K) {
      k3Calls++;
      for (const M of [X, Y]) for (let t = 0; t < M.length; t++) {
        const v = Math.abs(M[t]!);
        assert.ok(v === 0 || v >= 1e-18, `operand entry ${M[t]} of a ${m} x ${k} x ${n} product`);
      }
    }
    return tfMatMul(X, Y, m, k, n);
  }, { precision: 'float32' as const });
  const fast = gainMatrix({ ...args, matmul: checking });
  assert.ok(k3Calls >= 2, 'the K^3 products went through the provider');
  assert.ok(relErr(fast, gainMatrix(args)) < 1e-4, `flushed operands keep G to 1e-4 max|G|: ${relErr(fast, gainMatrix(args))}`);
});

test('fast path with a gram cache: the second call skips the Gram products and gives the same G', () => {
  const args = randomArgs(17, 40, 80, 1); // d = 2K: E goes through S
  const gram: { S?: Float64Array | Float32Array } = {};
  const first = countingProvider(jsMatMul);
  const g1 = gainMatrix({ ...args, matmul: first.mm, gram });
  assert.ok(gram.S, 'S cached');
  const second = countingProvider(jsMatMul);
  const g2 = gainMatrix({ ...args, D: args.D, matmul: second.mm, gram });
  assert.equal(second.calls.length, first.calls.length - 2, 'the two Gram blocks are not recomputed');
  assert.deepEqual(Array.from(g2), Array.from(g1));
  assert.ok(relErr(g1, gainMatrix(args)) < 1e-10);
});
