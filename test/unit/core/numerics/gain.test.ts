// The closed-form gain matrix against its definition (docs/ALGORITHM.md section 8.3-8.6).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OBJECTIVE_IDS } from '../../../../src/core/objectives/objectiveIds';
import { Rng } from '../../../../src/core/numerics/rng';
import { clipConfusion } from '../../../../src/core/numerics/confusion';
import {
  centroidLogits,
  gainMatrix,
  gramMatrix,
  mixedProbabilities,
  type DeltaWVariant,
  sortDescending,
} from '../../../../src/core/numerics/gain';
import {
  defaultObjectiveOptions,
  objectiveD,
  psi,
  updateMultipliers,
  type ObjectiveOptions,
} from '../../../../src/core/objectives/objectives';
import { bruteForceGain } from '../../../helpers/bruteForceGain';
import {
  affineRows,
  assertClose,
  confusionFromUnconstrained,
  maxAbs,
  randn,
  unbalancedPrior,
  uniformPrior,
} from '../../../helpers/numerics';

/** A random head and centroids whose centroid logits are diagonal-dominant (recalls well above 0). */
function randomModel(rng: Rng, K: number, d: number): { Z: Float64Array; W: Float64Array; b: Float64Array } {
  const Z = randn(rng, K * d, 1);
  const W = randn(rng, d * K, 0.3);
  // Push column k of W towards z_k so class k's centroid favours logit k.
  for (let k = 0; k < K; k++) for (let r = 0; r < d; r++) W[r * K + k]! += 0.25 * Z[k * d + r]!;
  return { Z, W, b: randn(rng, K, 0.3) };
}

/** C = pi softmax(centroid logits), the link of docs/ALGORITHM.md section 1. */
function confusionOfHead(
  Z: Float64Array,
  W: Float64Array,
  b: Float64Array,
  K: number,
  d: number,
  pi: Float64Array,
): Float64Array {
  return confusionFromUnconstrained(affineRows(Z, W, b, K, d, K, new Float64Array(K * K)), pi, K);
}

/** Delta W^(ij) of docs/ALGORITHM.md section 3 step 4, written out directly. */
function deltaW(
  Z: Float64Array,
  W: Float64Array,
  b: Float64Array,
  K: number,
  d: number,
  i: number,
  j: number,
  lb: number,
  variant: DeltaWVariant,
): Float64Array {
  const zt = new Float64Array(d);
  for (let r = 0; r < d; r++) zt[r] = lb * Z[i * d + r]! + (1 - lb) * Z[j * d + r]!;
  const a = new Float64Array(K);
  for (let l = 0; l < K; l++) {
    a[l] = b[l]!;
    for (let r = 0; r < d; r++) a[l]! += W[r * K + l]! * zt[r]!;
  }
  const mx = Math.max(...a);
  const e = a.map((x) => Math.exp(x - mx));
  const s = e.reduce((x, y) => x + y, 0);
  const dW = new Float64Array(d * K);
  for (let r = 0; r < d; r++)
    for (let l = 0; l < K; l++) {
      const u = variant === 'mixed' ? zt[r]! : Z[i * d + r]!;
      dW[r * K + l] = (l === i ? u : 0) - (e[l]! / s) * zt[r]!;
    }
  return dW;
}

for (const variant of ['prototype', 'mixed'] as const) {
  for (const priorMode of ['uniformK', 'rowsum'] as const) {
    test(`G_ij equals the finite-difference directional derivative along W + eta Delta W^(ij), all nine objectives (${variant}, ${priorMode})`, () => {
      const rng = new Rng(variant === 'mixed' ? 21 : 22);
      const K = 5;
      const d = 4;
      const o: ObjectiveOptions = { ...defaultObjectiveOptions(), priorMode };
      for (const id of OBJECTIVE_IDS) {
        const { Z, W, b } = randomModel(rng, K, d);
        const pi = priorMode === 'uniformK' ? uniformPrior(K) : unbalancedPrior(rng, K);
        const C = confusionOfHead(Z, W, b, K, d, pi);
        const Cc = clipConfusion(C);
        const lam = updateMultipliers(id, Cc, K, null, o);
        if (lam && id.includes('Coverage') && maxAbs(lam) === 0) for (let l = 0; l < K; l++) lam[l] = rng.next() * 3;
        const D = objectiveD(id, Cc, K, lam, o);
        const G = gainMatrix({ K, d, Z, W, b, D, variant });
        const eta = 1e-5;
        const fd = new Float64Array(K * K);
        for (let i = 0; i < K; i++)
          for (let j = 0; j < K; j++) {
            const dW = deltaW(Z, W, b, K, d, i, j, 0.8, variant);
            const Wp = W.map((w, t) => w + eta * dW[t]!);
            const Wm = W.map((w, t) => w - eta * dW[t]!);
            fd[i * K + j] =
              (psi(id, confusionOfHead(Z, Wp, b, K, d, pi), K, o, lam) -
                psi(id, confusionOfHead(Z, Wm, b, K, d, pi), K, o, lam)) /
              (2 * eta);
          }
        assert.ok(maxAbs(G) > 1e-3, `${id}: G trivially small`);
        assertClose(G, fd, 1e-6, `${id} G vs directional derivative (${variant}, ${priorMode})`);
      }
    });
  }
}

test('closed form equals the brute-force O(K^4) construction to 1e-12 (both variants, odd and even K, any lambdaBar)', () => {
  const rng = new Rng(31);
  for (const [K, d] of [
    [5, 3],
    [6, 7],
    [9, 4],
    [12, 16],
  ] as const) {
    const { Z, W, b } = randomModel(rng, K, d);
    const C = clipConfusion(confusionOfHead(Z, W, b, K, d, uniformPrior(K)));
    for (const id of OBJECTIVE_IDS) {
      const o = defaultObjectiveOptions();
      const D = objectiveD(id, C, K, updateMultipliers(id, C, K, null, o), o);
      for (const variant of ['prototype', 'mixed'] as const) {
        for (const lambdaBar of [0.8, 0.6, 1, 0]) {
          const G = gainMatrix({ K, d, Z, W, b, D, variant, lambdaBar });
          const B = bruteForceGain({ K, d, Z, W, b, D, variant, lambdaBar });
          assertClose(G, B, 1e-12, `${id} K=${K} ${variant} lambdaBar=${lambdaBar}`);
        }
      }
    }
  }
});

test('the two variants differ (the positive term matters)', () => {
  const rng = new Rng(32);
  const K = 6,
    d = 5;
  const { Z, W, b } = randomModel(rng, K, d);
  const D = randn(rng, K * K);
  const a = gainMatrix({ K, d, Z, W, b, D, variant: 'prototype' });
  const m = gainMatrix({ K, d, Z, W, b, D, variant: 'mixed' });
  let diff = 0;
  for (let t = 0; t < a.length; t++) diff = Math.max(diff, Math.abs(a[t]! - m[t]!));
  assert.ok(diff > 1e-3 * maxAbs(a), `variants agree to ${diff}`);
  // On the diagonal the mixed centroid is z_i itself, so the variants coincide there.
  for (let i = 0; i < K; i++) assert.ok(Math.abs(a[i * K + i]! - m[i * K + i]!) < 1e-12 * maxAbs(a));
});

test('mixed logits are lambdaBar a_i + (1 - lambdaBar) a_j and p^ij is the head softmax of the mixed centroid', () => {
  const rng = new Rng(33);
  const K = 7,
    d = 6;
  const { Z, W, b } = randomModel(rng, K, d);
  const A = centroidLogits(Z, W, b, K, d);
  for (const [i, j] of [
    [0, 3],
    [4, 4],
    [6, 1],
  ] as const) {
    const zt = new Float64Array(d);
    for (let r = 0; r < d; r++) zt[r] = 0.7 * Z[i * d + r]! + 0.3 * Z[j * d + r]!;
    const direct = new Float64Array(K);
    for (let l = 0; l < K; l++) {
      direct[l] = b[l]!;
      for (let r = 0; r < d; r++) direct[l]! += W[r * K + l]! * zt[r]!;
    }
    const mixedLogits = new Float64Array(K).map((_, l) => 0.7 * A[i * K + l]! + 0.3 * A[j * K + l]!);
    assertClose(mixedLogits, direct, 1e-13, 'mixed logits');
    const mx = Math.max(...direct);
    const e = direct.map((x) => Math.exp(x - mx));
    const s = e.reduce((x, y) => x + y, 0);
    assertClose(
      mixedProbabilities(A, K, i, j, 0.7),
      e.map((x) => x / s),
      1e-13,
      'p^ij',
    );
  }
  const S = gramMatrix(Z, K, d);
  for (let k = 0; k < K; k++)
    for (let m = 0; m < K; m++) {
      let s = 0;
      for (let r = 0; r < d; r++) s += Z[k * d + r]! * Z[m * d + r]!;
      assert.ok(Math.abs(S[k * K + m]! - s) < 1e-12);
    }
});

test('adding a constant to every entry of b leaves G unchanged', () => {
  const rng = new Rng(34);
  const K = 8,
    d = 5;
  const { Z, W, b } = randomModel(rng, K, d);
  const D = randn(rng, K * K);
  for (const variant of ['prototype', 'mixed'] as const) {
    const G = gainMatrix({ K, d, Z, W, b, D, variant });
    const G2 = gainMatrix({ K, d, Z, W, b: b.map((x) => x + 37.5), D, variant });
    assertClose(G2, G, 1e-12, `bias shift (${variant})`);
    // A non-constant bias change does change G (the test can fail).
    const b3 = Float64Array.from(b);
    b3[0]! += 2;
    let diff = 0;
    const G3 = gainMatrix({ K, d, Z, W, b: b3, D, variant });
    for (let t = 0; t < G.length; t++) diff = Math.max(diff, Math.abs(G3[t]! - G[t]!));
    assert.ok(diff > 1e-6);
  }
});

test('extreme logits (factorised softmax would underflow) still match the brute force', () => {
  const rng = new Rng(35);
  const K = 6,
    d = 3;
  const { Z, W, b } = randomModel(rng, K, d);
  const Wbig = W.map((w) => w * 3000);
  const D = randn(rng, K * K);
  for (const variant of ['prototype', 'mixed'] as const) {
    const G = gainMatrix({ K, d, Z, W: Wbig, b, D, variant });
    assert.ok(G.every(Number.isFinite));
    assertClose(G, bruteForceGain({ K, d, Z, W: Wbig, b, D, variant }), 1e-12, `extreme logits (${variant})`);
  }
});

test('saturation: a perfect confusion matrix gives G ~ 0', () => {
  const rng = new Rng(36);
  const K = 10,
    d = 8;
  const { Z, W, b } = randomModel(rng, K, d);
  const C = new Float64Array(K * K);
  for (let k = 0; k < K; k++) C[k * K + k] = 1 / K;
  const Cc = clipConfusion(C);
  const o = defaultObjectiveOptions();
  for (const id of OBJECTIVE_IDS) {
    const D = objectiveD(id, Cc, K, updateMultipliers(id, Cc, K, null, o), o);
    const G = gainMatrix({ K, d, Z, W, b, D });
    assert.ok(maxAbs(G) < 1e-4, `${id}: max |G| = ${maxAbs(G)}`);
  }
});

test('gainMatrix rejects inputs of the wrong shape', () => {
  const K = 3,
    d = 2;
  const ok = { K, d, Z: new Float64Array(6), W: new Float64Array(6), b: new Float64Array(3), D: new Float64Array(9) };
  assert.throws(() => gainMatrix({ ...ok, Z: new Float64Array(5) }), /Z has 5/);
  assert.throws(() => gainMatrix({ ...ok, D: new Float64Array(4) }), /D has 4/);
  assert.throws(() => gainMatrix({ ...ok, lambdaBar: 1.5 }), /lambdaBar/);
});

test('sortDescending: largest key first, equal keys in their order, idx moved along, nothing outside [lo, hi) touched', () => {
  const rng = new Rng(21);
  for (const [len, lo, hi, distinct] of [
    [0, 0, 0, 3],
    [1, 0, 1, 3],
    [40, 5, 36, 4],
    [300, 0, 300, 7],
    [1200, 100, 1117, 50],
    [64, 0, 64, 1e9],
  ] as const) {
    const key = Float64Array.from({ length: len }, () => Math.floor(rng.next() * distinct) - distinct / 2);
    const idx = Int32Array.from({ length: len }, (_, i) => i);
    // V8's Array sort is stable: the reference order of the positions in [lo, hi).
    const want = Array.from({ length: hi - lo }, (_, q) => lo + q).sort((p, q) => key[q]! - key[p]!);
    const wantKeys = want.map((i) => key[i]!);
    const before = Float64Array.from(key);
    sortDescending(key, idx, lo, hi, new Float64Array(hi - lo), new Int32Array(hi - lo));
    assert.deepEqual(Array.from(idx.subarray(lo, hi)), want, `len ${len}`);
    assert.deepEqual(Array.from(key.subarray(lo, hi)), wantKeys, `len ${len}`);
    for (let i = 0; i < len; i++)
      if (i < lo || i >= hi) {
        assert.equal(key[i], before[i]);
        assert.equal(idx[i], i);
      }
  }
});
