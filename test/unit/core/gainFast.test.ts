// gainMatrix through its matmul providers (docs/ALGORITHM.md sections 3 and 7): any float64 provider reproduces the
// default (float64MatMul) to rounding, tfjs float32 on wasm to 1e-4 of max |G|; on logits with gaps of hundreds
// and thousands both match the brute-force construction (test/helpers/bruteForceGain.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend, prepareGainMatMul, tf, tfMatMul } from '../../../src/backend/backend';
import { ortMatMul, probeOnnxRuntime } from '../../../src/backend/onnxRuntime';
import {
  float64MatMul,
  gainMatrix,
  pairSum,
  FAST_GAIN_MIN_K,
  GainScratch,
  type GainArgs,
  type MatMul,
} from '../../../src/core/numerics/gain';
import { clipConfusion } from '../../../src/core/numerics/confusion';
import { bruteForceGain } from '../../helpers/bruteForceGain';
import { computeRefresh, type RefreshInput } from '../../../src/core/numerics/refresh';
import { samplingDistribution } from '../../../src/core/numerics/distribution';
import { defaultObjectiveOptions, objectiveD, updateMultipliers } from '../../../src/core/objectives/objectives';
import type { ObjectiveId } from '../../../src/core/objectives/objectiveIds';
import { Rng } from '../../../src/core/numerics/rng';
import { affineRows, assertClose, maxAbs, randn } from '../../helpers/numerics';

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
  for (const [K, d] of [
    [7, 9],
    [13, 40],
    [33, 5],
    [64, 64],
    [90, 20],
  ] as const) {
    for (const variant of ['prototype', 'mixed'] as const) {
      for (const lambdaBar of [0.8, 0.6, 1, 0]) {
        const args = { ...randomArgs(K * 7 + d, K, d, 1), variant, lambdaBar };
        const { mm, calls } = countingProvider(jsMatMul);
        const fast = gainMatrix({ ...args, matmul: mm });
        assert.ok(calls.length >= 4, 'the provider is used');
        assert.ok(
          relErr(fast, gainMatrix(args)) < 1e-10,
          `K=${K} d=${d} ${variant} lambdaBar=${lambdaBar}: ${relErr(fast, gainMatrix(args))}`,
        );
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
  for (let k = 0; k < 20; k++)
    for (let l = 0; l < 20; l++) {
      let a = args.b[l]!;
      for (let r = 0; r < 8; r++) a += args.Z[k * 8 + r]! * args.W[r * 20 + l]!;
      A[k * 20 + l] = Math.fround(a);
    }
  const used = countingProvider(jsMatMul);
  const withA = gainMatrix({ ...args, A, matmul: used.mm });
  assert.ok(relErr(withA, exact) < 1e-5);
  const wrong = A.map((x) => x * 1.5);
  const ignored = countingProvider(jsMatMul);
  assert.ok(
    relErr(gainMatrix({ ...args, A: wrong, matmul: ignored.mm }), exact) < 1e-10,
    'a mismatching A is recomputed',
  );
  assert.equal(ignored.calls.length, used.calls.length + 1, 'one product (Z W) fewer when a matching A is given');
  // trustA: the caller vouches for A (it computed the logits from this head); no check, the same G.
  const trusted = countingProvider(jsMatMul);
  assert.deepEqual(Array.from(gainMatrix({ ...args, A, trustA: true, matmul: trusted.mm })), Array.from(withA));
  assert.equal(trusted.calls.length, used.calls.length);
  assert.ok(
    relErr(gainMatrix({ ...args, A: wrong, trustA: true, matmul: jsMatMul }), exact) > 1e-3,
    'a trusted A is taken as is, unchecked',
  );
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
        // both paths (many, for 'mixed' with saturated logits); their sign is noise (docs/ALGORITHM.md section 7.18),
        // so the
        // share of P they take is not compared.
        const s = 3 / mx;
        const P0 = samplingDistribution(exact, K, s, 1e-8);
        const P1 = samplingDistribution(fast, K, s, 1e-8);
        const sig: number[] = [];
        let mass0 = 0,
          mass1 = 0;
        for (let t = 0; t < K * K; t++) {
          if (Math.abs(exact[t]!) <= 1e-3 * mx) continue;
          assert.equal(fast[t]! > 0, exact[t]! > 0, `${label}: sign of G[${t}]`);
          sig.push(t);
          mass0 += P0[t]!;
          mass1 += P1[t]!;
        }
        assert.ok(
          sig.some((t) => exact[t]! > 0),
          `${label}: some significant positive gains`,
        );
        for (const t of sig) {
          if (exact[t]! > 0)
            assert.ok(
              Math.abs(P1[t]! / mass1 - P0[t]! / mass0) <= 1e-3 * (P0[t]! / mass0),
              `${label}: P[${t}] ${P1[t]} vs ${P0[t]}`,
            );
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
  const K = FAST_GAIN_MIN_K,
    d = 32,
    N = 4 * K;
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
  const logits = affineRows(features, W, b, N, d, K, new Float32Array(N * K));
  const inp: RefreshInput = {
    K,
    d,
    features,
    labels,
    logits,
    W,
    b,
    objective: 'meanRecall',
    prevMultipliers: null,
    options: defaultObjectiveOptions(),
    s: 10,
  };
  const exact = computeRefresh(inp);
  const fast = computeRefresh({ ...inp, matmul: tfMatMul });
  assert.ok(relErr(fast.G, exact.G) < 1e-4, `G: ${relErr(fast.G, exact.G)}`);
  assertClose(fast.C, exact.C, 0, 'C does not depend on the provider');
});

test('a float32 provider gets softmax factors whose products are never subnormal: every entry is 0 or at least 2^-63', async () => {
  await initBackend({ choice: 'wasm' });
  const K = 120;
  // A confident head (x 15): many softmax factors exp(lb (a - max)) are far below 1e-18 before flushing, while
  // under half the pairs are far apart (more, and every pair is summed directly, with no products to check).
  const args = randomArgs(11, K, 64, 15);
  let tinyBefore = 0;
  const A = affineRows(args.Z, args.W, args.b, K, 64, K, new Float64Array(K * K));
  for (let k = 0; k < K; k++) {
    let mx = -Infinity;
    for (let l = 0; l < K; l++) mx = Math.max(mx, A[k * K + l]!);
    for (let l = 0; l < K; l++) if (Math.exp(0.2 * (A[k * K + l]! - mx)) < 1e-18) tinyBefore++;
  }
  assert.ok(tinyBefore > K, `the head is confident enough to test the flush (${tinyBefore} tiny factors)`);
  let softmaxCalls = 0;
  const checking = Object.assign(
    (X: Float64Array | Float32Array, Y: Float64Array | Float32Array, m: number, k: number, n: number) => {
      assert.ok(X instanceof Float32Array && Y instanceof Float32Array, 'operands are built in the provider precision');
      // The softmax products are [U; U.E] V^T (2K rows) and U (V.E)^T, one pair per column block.
      if (m === 2 * K) softmaxCalls++;
      for (const M of [X, Y])
        for (let t = 0; t < M.length; t++) {
          const v = Math.abs(M[t]!);
          assert.ok(v === 0 || v >= 2 ** -63, `operand entry ${M[t]} of a ${m} x ${k} x ${n} product`);
        }
      return tfMatMul(X, Y, m, k, n);
    },
    { precision: 'float32' as const },
  );
  const fast = gainMatrix({ ...args, matmul: checking });
  assert.ok(softmaxCalls >= 1, 'the softmax products went through the provider');
  assert.ok(
    relErr(fast, gainMatrix(args)) < 1e-4,
    `flushed operands keep G to 1e-4 max|G|: ${relErr(fast, gainMatrix(args))}`,
  );
});

test('fast path with a gram cache: the second call skips the Gram products and gives the same G', () => {
  const args = randomArgs(17, 40, 80, 1); // d = 2K: E goes through S
  const gram: { S?: Float64Array | Float32Array } = {};
  const first = countingProvider(jsMatMul);
  const g1 = gainMatrix({ ...args, matmul: first.mm, gram });
  assert.ok(gram.S, 'S cached');
  const second = countingProvider(jsMatMul);
  const g2 = gainMatrix({ ...args, D: args.D, matmul: second.mm, gram });
  // Products over the feature dimension d: Z W and the Gram blocks on the first call, Z W alone on the second.
  const overD = (calls: number[][]): number => calls.filter(([, k]) => k === args.d).length;
  assert.ok(overD(first.calls) >= 2, 'the first call computes S');
  assert.equal(overD(second.calls), 1, 'the second call does not recompute S');
  assert.equal(second.calls.length, first.calls.length - (overD(first.calls) - 1));
  assert.deepEqual(Array.from(g2), Array.from(g1));
  assert.ok(relErr(g1, gainMatrix(args)) < 1e-10);
});

/** The largest gap max_l a_kl - a_kl' over the centroid logits of args. */
function largestGap(args: GainArgs): number {
  const { K, d, Z, W, b } = args;
  const A = affineRows(Z, W, b, K, d, K, new Float64Array(K * K));
  let gap = 0;
  for (let k = 0; k < K; k++) {
    let mx = -Infinity,
      mn = Infinity;
    for (let l = 0; l < K; l++) {
      mx = Math.max(mx, A[k * K + l]!);
      mn = Math.min(mn, A[k * K + l]!);
    }
    gap = Math.max(gap, mx - mn);
  }
  return gap;
}

/** D of an objective at the hard-prediction confusion matrix of the centroids (one validation row per class). */
function objectiveDOf(args: GainArgs, id: ObjectiveId): Float64Array {
  const { K, d, Z, W, b } = args;
  const A = affineRows(Z, W, b, K, d, K, new Float64Array(K * K));
  const C = new Float64Array(K * K);
  for (let k = 0; k < K; k++) {
    let best = 0,
      bv = -Infinity;
    for (let l = 0; l < K; l++) {
      const a = A[k * K + l]!;
      if (a > bv) {
        bv = a;
        best = l;
      }
    }
    C[k * K + best]! += 1 / K;
  }
  const Cc = clipConfusion(C);
  const o = defaultObjectiveOptions();
  return objectiveD(id, Cc, K, updateMultipliers(id, Cc, K, null, o), o);
}

/**
 * Max |x - y| over the scale of G: max |y|, but at least floor max |E| (E = Z Z^T D, the terms whose difference G
 * is), so that a G that is zero up to rounding (a saturated model) is compared at the rounding of its terms:
 * floor 1e-6 for float64, 1e-3 for float32 (whose E alone carries about 1e-7 max |E|).
 */
function relErrFloor(x: Float64Array, y: Float64Array, args: GainArgs, floor: number): number {
  const { K, d, Z, D } = args;
  let eMax = 0;
  for (let i = 0; i < K; i++)
    for (let l = 0; l < K; l++) {
      let e = 0;
      for (let k = 0; k < K; k++) {
        let s = 0;
        for (let r = 0; r < d; r++) s += Z[i * d + r]! * Z[k * d + r]!;
        e += s * D[k * K + l]!;
      }
      eMax = Math.max(eMax, Math.abs(e));
    }
  let err = 0;
  for (let t = 0; t < x.length; t++) err = Math.max(err, Math.abs(x[t]! - y[t]!));
  return err / Math.max(maxAbs(y), floor * eMax);
}

test('logit gaps of hundreds and thousands: G equals the brute force, float64 to 1e-10, float32 (tfMatMul) to 1e-3 of max |G|', async () => {
  await initBackend({ choice: 'wasm' });
  const before = tf.memory().numTensors;
  // headScale 40 gives gaps of a few hundred (float32 factors exp(-0.2 gap) underflow); 600 gives thousands
  // (over 3800, so that exp(-0.2 gap) underflows float64 too).
  const cases = [
    [10, 6, 40],
    [23, 9, 40],
    [30, 12, 40],
    [12, 5, 600],
    [29, 8, 600],
  ] as const;
  const objectives: ObjectiveId[] = ['meanRecall', 'minRecall', 'gMean', 'meanRecallMinCoverage'];
  const seen = { hundreds: false, thousands: false };
  for (const [K, d, headScale] of cases) {
    const base = randomArgs(K * 13 + headScale, K, d, headScale);
    const gap = largestGap(base);
    if (headScale === 40) {
      assert.ok(gap > 150 && gap < 2000, `gaps of hundreds: ${gap}`);
      seen.hundreds = true;
    } else {
      assert.ok(gap > 3800, `gaps of thousands: ${gap}`);
      seen.thousands = true;
    }
    for (const id of objectives) {
      const D = objectiveDOf(base, id);
      for (const variant of ['prototype', 'mixed'] as const) {
        for (const lambdaBar of [0.8, 0.6, 0.3]) {
          const args = { ...base, D, variant, lambdaBar };
          const brute = bruteForceGain(args);
          const label = `K=${K} gap ${gap.toFixed(0)} ${id} ${variant} lambdaBar=${lambdaBar}`;
          const g64 = gainMatrix(args);
          assert.ok(g64.every(Number.isFinite), label);
          assert.ok(
            relErrFloor(g64, brute, args, 1e-6) < 1e-10,
            `${label} float64: ${relErrFloor(g64, brute, args, 1e-6)}`,
          );
          const g32 = gainMatrix({ ...args, matmul: tfMatMul });
          assert.ok(g32.every(Number.isFinite), label);
          assert.ok(
            relErrFloor(g32, brute, args, 1e-3) < 1e-3,
            `${label} float32: ${relErrFloor(g32, brute, args, 1e-3)}`,
          );
        }
      }
    }
  }
  assert.ok(seen.hundreds && seen.thousands);
  assert.equal(tf.memory().numTensors, before, 'no tensors left behind');
});

test('rows far apart: every pair summed directly, no softmax products; where that would cost more, the products run; both match the brute force', async () => {
  await initBackend({ choice: 'wasm' });
  // Counts the softmax products ([U; U.E] V^T has 2K rows; no E product here has 2K rows: d is not 2K).
  const counting = (inner: MatMul, K: number): { mm: MatMul; softmax: () => number } => {
    let n = 0;
    const mm = Object.assign(
      (X: Float64Array | Float32Array, Y: Float64Array | Float32Array, m: number, k: number, nn: number) => {
        if (m === 2 * K) n++;
        return inner(X, Y, m, k, nn);
      },
      inner.precision ? { precision: inner.precision } : {},
    );
    return { mm, softmax: () => n };
  };
  // A confident head: most pairs' two rows disagree by thousands of nats (enough for float64 too).
  const far = randomArgs(7, 40, 12, 3000);
  // Three groups of classes: a row's logits within 30 nats across its own group, thousands below elsewhere (Z = I,
  // so W's rows are the centroid logits). Two thirds of the pairs are far apart, yet each needs a dozen or more
  // columns: the direct sums pass their budget and the products take over.
  const K = 40;
  const rng = new Rng(3);
  const group = (k: number): number => (k < 14 ? 0 : k < 27 ? 1 : 2);
  const W = new Float64Array(K * K);
  for (let r = 0; r < K; r++)
    for (let l = 0; l < K; l++)
      W[r * K + l] = l === r ? 0 : group(l) === group(r) ? -30 * rng.next() : -4000 - 1000 * rng.next();
  const Z = new Float64Array(K * K);
  for (let k = 0; k < K; k++) Z[k * K + k] = 1;
  const grouped: GainArgs = { K, d: K, Z, W, b: new Float64Array(K), D: randn(rng, K * K) };
  for (const [name, args, softmaxProducts] of [
    ['far apart', far, false],
    ['groups', grouped, true],
  ] as const) {
    const brute = bruteForceGain(args);
    for (const [prov, inner, tol] of [
      ['float64', jsMatMul, 1e-10],
      ['float32', tfMatMul, 1e-3],
    ] as const) {
      const c = counting(inner, args.K);
      const g = gainMatrix({ ...args, matmul: c.mm });
      const label = `${name} ${prov}`;
      assert.equal(c.softmax() > 0, softmaxProducts, `${label}: softmax products ${c.softmax()}`);
      assert.ok(g.every(Number.isFinite), label);
      const err = relErrFloor(g, brute, args, tol === 1e-3 ? 1e-3 : 1e-6);
      assert.ok(err < tol, `${label}: ${err}`);
    }
  }
});

test('ordinary rows with two confident classes among them: the two pairs of those classes fall under the floor and are summed one by one over every column; G matches the brute force on every provider', () => {
  probeOnnxRuntime();
  // Z = I, so W's rows are the centroid logits. Every row is within 30 nats of its top, except that classes 5 and 17
  // put every other class thousands of nats below: (5, 17) and (17, 5) are the only pairs whose softmax leaves the
  // floor (the anchor's top weighs lb = 0.8 against the partner's -4000), the products give the rest.
  const K = 40;
  const rng = new Rng(5);
  const W = new Float64Array(K * K);
  const confident = (k: number): boolean => k === 5 || k === 17;
  for (let r = 0; r < K; r++)
    for (let l = 0; l < K; l++)
      W[r * K + l] = l === r ? 0 : confident(r) ? -4000 - 1000 * rng.next() : -30 * rng.next();
  const Z = new Float64Array(K * K);
  for (let k = 0; k < K; k++) Z[k * K + k] = 1;
  const args: GainArgs = { K, d: K, Z, W, b: new Float64Array(K), D: randn(rng, K * K) };
  for (const lambdaBar of [0.8, 0.3]) {
    const brute = bruteForceGain({ ...args, lambdaBar });
    for (const [prov, mm, tol] of [
      ['float64', jsMatMul, 1e-10],
      ['float32 (ONNX Runtime)', ortMatMul, 1e-4],
    ] as const) {
      const g = gainMatrix({ ...args, lambdaBar, matmul: mm });
      const err = relErrFloor(g, brute, { ...args, lambdaBar }, tol === 1e-10 ? 1e-6 : 1e-4);
      assert.ok(g.every(Number.isFinite), prov);
      assert.ok(err < tol, `${prov} lambdaBar=${lambdaBar}: ${err}`);
    }
  }
  // pairSum itself, for one pair, against its definition.
  const z = Float64Array.from(W);
  const E = randn(rng, K * K);
  const want = (() => {
    const c = Array.from({ length: K }, (_, l) => 0.8 * z[5 * K + l]! + 0.2 * z[17 * K + l]!);
    const m = Math.max(...c);
    const p = c.map((v) => Math.exp(v - m));
    const s = p.reduce((a, v) => a + v, 0);
    return p.reduce((a, v, l) => a + (v / s) * (0.8 * E[5 * K + l]! + 0.2 * E[17 * K + l]!), 0);
  })();
  assertClose([pairSum(z, E, K, 0.8, 5, 17)], [want], 1e-12, 'pairSum(5, 17)');
});

test('K = 150, past one block of the direct sums: every pair, or the far pairs after the products, gives E_ii - pairSum on float64 and ONNX Runtime', () => {
  probeOnnxRuntime();
  // Z = I and b = 0: the centroid logits are W's rows and E = D, so each pair's reference is E_ii - pairSum(i, j).
  const K = 150;
  const rng = new Rng(11);
  const near = (r: number, l: number): boolean => (r * 7 + l * 3) % 37 < 3;
  const group = (k: number): number => Math.floor((3 * k) / K);
  const layouts = {
    // A few columns within 20 nats of each row's top, the rest thousands below: every pair is summed directly.
    'near columns': (r: number, l: number): number =>
      l === r ? 0 : near(r, l) ? -20 * rng.next() : -4000 - 1000 * rng.next(),
    // Three groups of 50: each pair across groups needs its dozens of group columns, so the direct sums pass their
    // budget, the products run, and the pairs across groups (two thirds) fall under the floor and are summed directly.
    groups: (r: number, l: number): number =>
      l === r ? 0 : group(l) === group(r) ? -30 * rng.next() : -4000 - 1000 * rng.next(),
  };
  const Z = new Float64Array(K * K);
  for (let k = 0; k < K; k++) Z[k * K + k] = 1;
  for (const [name, logit] of Object.entries(layouts)) {
    const W = new Float64Array(K * K);
    for (let r = 0; r < K; r++) for (let l = 0; l < K; l++) W[r * K + l] = logit(r, l);
    const D = randn(rng, K * K);
    for (const lambdaBar of [0.8, 0.3]) {
      const want = new Float64Array(K * K);
      for (let i = 0; i < K; i++)
        for (let j = 0; j < K; j++) want[i * K + j] = D[i * K + i]! - pairSum(W, D, K, lambdaBar, i, j);
      for (const [prov, mm, tol] of [
        ['float64', float64MatMul, 1e-10],
        ['float32 (ONNX Runtime)', ortMatMul, 1e-4],
      ] as const) {
        const g = gainMatrix({ K, d: K, Z, W, b: new Float64Array(K), D, lambdaBar, matmul: mm });
        const err = relErr(g, want);
        assert.ok(err < tol, `${name} ${prov} lambdaBar=${lambdaBar}: ${err}`);
      }
    }
  }
});

test('edge cases on both providers: an all-confident model, a class with no validation rows, lambdaBar 0 and 1', async () => {
  await initBackend({ choice: 'wasm' });
  const K = 16,
    d = 10;
  // All-confident: every centroid's own logit leads by about 1000; a perfect confusion matrix, G ~ 0 for mean recall.
  const confident = randomArgs(41, K, d, 1);
  for (let k = 0; k < K; k++) for (let r = 0; r < d; r++) confident.W[r * K + k]! += 200 * confident.Z[k * d + r]!;
  // A class with no validation rows has a zero centroid (src/core/numerics/centroids.ts), so its logits are b.
  const empty = randomArgs(42, K, d, 80);
  empty.Z.fill(0, 5 * d, 6 * d);
  for (const [name, base] of [
    ['all-confident', confident],
    ['empty class', empty],
  ] as const) {
    for (const id of ['meanRecall', 'minRecall', 'meanRecallMinCoverage'] as const) {
      const D = objectiveDOf(base, id);
      for (const variant of ['prototype', 'mixed'] as const) {
        for (const lambdaBar of [0.8, 0, 1]) {
          const args = { ...base, D, variant, lambdaBar };
          const brute = bruteForceGain(args);
          const label = `${name} ${id} ${variant} lambdaBar=${lambdaBar}`;
          const g64 = gainMatrix({ ...args, matmul: float64MatMul });
          assert.ok(g64.every(Number.isFinite), label);
          assert.ok(
            relErrFloor(g64, brute, args, 1e-6) < 1e-10,
            `${label} float64: ${relErrFloor(g64, brute, args, 1e-6)}`,
          );
          const g32 = gainMatrix({ ...args, matmul: tfMatMul });
          assert.ok(
            relErrFloor(g32, brute, args, 1e-3) < 1e-3,
            `${label} float32: ${relErrFloor(g32, brute, args, 1e-3)}`,
          );
        }
      }
    }
  }
});

test('prepareGainMatMul: the exact float64 provider below FAST_GAIN_MIN_K classes, the wasm backend from there on', async () => {
  await initBackend({ choice: 'wasm' });
  assert.equal(await prepareGainMatMul(10), float64MatMul);
  assert.equal(await prepareGainMatMul(FAST_GAIN_MIN_K - 1), float64MatMul);
  assert.equal(await prepareGainMatMul(FAST_GAIN_MIN_K), tfMatMul);
  assert.equal(await prepareGainMatMul(1000), tfMatMul);
});

test('ortMatMul (ONNX Runtime, transposed products through Gemm transB): G agrees with the float64 path to 1e-4 max|G| and with the brute force at gaps of hundreds and thousands', () => {
  assert.equal(probeOnnxRuntime().ok, true);
  assert.ok(ortMatMul.transB, 'ortMatMul has transB');
  // The same provider counted, with and without transB: the transposed path must be taken, and agree with the plain
  // one.
  let tbCalls = 0;
  const counted: MatMul = Object.assign(
    (A: Float64Array | Float32Array, B: Float64Array | Float32Array, m: number, k: number, n: number) =>
      ortMatMul(A, B, m, k, n),
    {
      precision: 'float32' as const,
      transB: (A: Float64Array | Float32Array, B: Float64Array | Float32Array, m: number, k: number, n: number) => {
        tbCalls++;
        return ortMatMul.transB!(A, B, m, k, n);
      },
    },
  );
  const plain: MatMul = Object.assign(
    (A: Float64Array | Float32Array, B: Float64Array | Float32Array, m: number, k: number, n: number) =>
      ortMatMul(A, B, m, k, n),
    { precision: 'float32' as const },
  );
  // d = 400 > K takes the Gram order (its blocks through transB too); there only 'prototype': 'mixed' with an
  // unscaled head has max |G| 1e-7 of max |E|, all float32 cancellation (docs/ALGORITHM.md section 7), on any provider.
  for (const [K, d] of [
    [64, 64],
    [200, 64],
    [150, 400],
  ] as const) {
    // x 15: a third of the pairs far apart, summed directly beside the products (more, and no pair takes the products).
    for (const headScale of [1, 15]) {
      for (const variant of d > K ? (['prototype'] as const) : (['prototype', 'mixed'] as const)) {
        const args = { ...randomArgs(K + headScale + d, K, d, headScale), variant };
        const exact = gainMatrix(args);
        tbCalls = 0;
        const tb = gainMatrix({ ...args, matmul: counted });
        const label = `K=${K} d=${d} head x${headScale} ${variant}`;
        assert.ok(tbCalls >= 2, `${label}: transB used (${tbCalls} calls)`);
        assert.ok(tb.every(Number.isFinite), label);
        assert.ok(relErr(tb, exact) < 1e-4, `${label}: ${relErr(tb, exact)} max|G| against float64`);
        assert.ok(
          relErr(tb, gainMatrix({ ...args, matmul: plain })) < 1e-5,
          `${label}: transB and plain products agree`,
        );
      }
    }
  }
  for (const [K, d, headScale] of [
    [23, 9, 40],
    [30, 12, 40],
    [29, 8, 600],
  ] as const) {
    const base = randomArgs(K * 13 + headScale, K, d, headScale);
    for (const id of ['minRecall', 'gMean'] as ObjectiveId[]) {
      const args = { ...base, D: objectiveDOf(base, id) };
      const brute = bruteForceGain(args);
      const g = gainMatrix({ ...args, matmul: ortMatMul });
      assert.ok(g.every(Number.isFinite));
      assert.ok(
        relErrFloor(g, brute, args, 1e-3) < 1e-3,
        `K=${K} gap ${largestGap(base).toFixed(0)} ${id}: ${relErrFloor(g, brute, args, 1e-3)}`,
      );
    }
  }
});

test('a GainScratch changes no bit of G: two different inputs in turn through one scratch give what fresh arrays give, on every provider and at large gaps', async () => {
  await initBackend({ choice: 'wasm' });
  assert.equal(probeOnnxRuntime().ok, true);
  const providers: [string, MatMul | undefined][] = [
    ['float64', undefined],
    ['tfMatMul', tfMatMul],
    ['ortMatMul', ortMatMul],
  ];
  for (const [name, mm] of providers) {
    const scratch = new GainScratch();
    // Different seeds and head scales at the same K and d: whatever one call leaves in the scratch, the next must
    // overwrite. Head x 600 sends pairs through the direct sums (sparsePairs) and their transposes.
    const inputs = [
      randomArgs(5, 70, 90, 1),
      randomArgs(6, 70, 90, 600),
      randomArgs(7, 70, 90, 30),
      randomArgs(5, 70, 90, 1),
    ];
    for (const [i, args] of inputs.entries()) {
      for (const variant of ['prototype', 'mixed'] as const) {
        const a = { ...args, variant, ...(mm ? { matmul: mm } : {}) };
        const fresh = gainMatrix(a);
        const reused = gainMatrix({ ...a, scratch });
        assert.deepEqual(reused, fresh, `${name}, input ${i}, ${variant}`);
      }
    }
    assert.ok(scratch.bytes > 0, `${name}: the scratch holds its arrays (${scratch.bytes} bytes)`);
  }
});

test('computeRefresh with a scratch equals it without, refresh after refresh (centroids, centroid logits and G in reused memory)', () => {
  assert.equal(probeOnnxRuntime().ok, true);
  const rng = new Rng(3);
  const K = 120,
    d = 40,
    N = 4 * K;
  const labels = new Int32Array(N).map((_, n) => n % K);
  const scratch = new GainScratch();
  for (let round = 0; round < 3; round++) {
    const features = Float32Array.from(randn(rng, N * d, 1));
    const W = Float32Array.from(randn(rng, d * K, 0.5 + round));
    const b = randn(rng, K, 0.1);
    const logits = affineRows(features, W, b, N, d, K, new Float32Array(N * K));
    const inp: RefreshInput = {
      K,
      d,
      features,
      labels,
      logits,
      W,
      b,
      objective: 'minRecall',
      prevMultipliers: null,
      options: defaultObjectiveOptions(),
      s: 10,
      matmul: ortMatMul,
      logitsFromHead: true,
    };
    const fresh = computeRefresh(inp);
    const reused = computeRefresh({ ...inp, scratch });
    assert.deepEqual(reused.G, fresh.G, `round ${round}: G`);
    assert.deepEqual(reused.P, fresh.P, `round ${round}: P`);
    assert.deepEqual(reused.Z, fresh.Z, `round ${round}: Z`);
  }
});
