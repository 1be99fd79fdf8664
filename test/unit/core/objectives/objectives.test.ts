// D = dpsi/dC~ against finite differences, row sums, and the multiplier rules (docs/ALGORITHM.md 8.1, 8.2, 8.6, 8.8).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OBJECTIVE_IDS } from '../../../../src/core/objectives/objectiveIds';
import { Rng } from '../../../../src/core/numerics/rng';
import { clipConfusion } from '../../../../src/core/numerics/confusion';
import {
  chainRuleD,
  defaultObjectiveOptions,
  initialMultipliers,
  objectiveD,
  psi,
  updateMultipliers,
  type ObjectiveOptions,
} from '../../../../src/core/objectives/objectives';
import type { ObjectiveId } from '../../../../src/core/objectives/objectiveIds';
import {
  assertClose,
  confusionFromUnconstrained,
  fdGradient,
  maxAbs,
  randn,
  unbalancedPrior,
  uniformPrior,
} from '../../../helpers/numerics';

/** Options with a coverage threshold that some classes of a random C miss (so lambda is active). */
function opts(priorMode: 'uniformK' | 'rowsum'): ObjectiveOptions {
  const o = defaultObjectiveOptions();
  o.priorMode = priorMode;
  return o;
}

/** Multipliers for id at C, with at least one non-zero coverage multiplier when the objective has them. */
function activeMultipliers(
  id: ObjectiveId,
  C: Float64Array,
  K: number,
  o: ObjectiveOptions,
  rng: Rng,
): Float64Array | null {
  const lam = updateMultipliers(id, C, K, null, o);
  if (lam && id.includes('Coverage') && maxAbs(lam) === 0) {
    // Ensure the Lagrangian term is exercised even if this C satisfies the constraint.
    for (let l = 0; l < K; l++) lam[l] = rng.next() * 5;
  }
  return lam;
}

for (const [priorMode, K] of [
  ['uniformK', 5],
  ['uniformK', 6],
  ['rowsum', 5],
  ['rowsum', 6],
] as const) {
  test(`D matches central finite differences of psi(pi softmax(C~)) for all nine objectives (${priorMode}, K=${K})`, () => {
    const rng = new Rng(100 + K + (priorMode === 'rowsum' ? 7 : 0));
    const o = opts(priorMode);
    for (const id of OBJECTIVE_IDS) {
      const Ct = randn(rng, K * K, 1);
      for (let k = 0; k < K; k++) Ct[k * K + k]! += 1.5; // recalls away from 0
      const pi = priorMode === 'uniformK' ? uniformPrior(K) : unbalancedPrior(rng, K);
      const C = confusionFromUnconstrained(Ct, pi, K);
      const lam = activeMultipliers(id, C, K, o, rng);
      const D = objectiveD(id, clipConfusion(C), K, lam, o);
      const fd = fdGradient((x) => psi(id, confusionFromUnconstrained(x, pi, K), K, o, lam), Ct, 1e-5);
      assert.ok(maxAbs(D) > 1e-3, `${id}: D is trivially small`);
      assertClose(D, fd, 1e-6, `${id} D vs FD (${priorMode}, K=${K})`);
    }
  });
}

test('every row of D sums to 0 for all nine objectives (balanced uniformK and unbalanced rowsum)', () => {
  const rng = new Rng(7);
  for (const priorMode of ['uniformK', 'rowsum'] as const) {
    const o = opts(priorMode);
    const K = 10;
    for (const id of OBJECTIVE_IDS) {
      const pi = priorMode === 'uniformK' ? uniformPrior(K) : unbalancedPrior(rng, K);
      const C = clipConfusion(confusionFromUnconstrained(randn(rng, K * K, 2), pi, K));
      const D = objectiveD(id, C, K, activeMultipliers(id, C, K, o, rng), o);
      for (let k = 0; k < K; k++) {
        let s = 0;
        let a = 0;
        for (let l = 0; l < K; l++) {
          s += D[k * K + l]!;
          a += Math.abs(D[k * K + l]!);
        }
        assert.ok(Math.abs(s) <= 1e-12 * Math.max(1, a), `${id} ${priorMode} row ${k} sums to ${s}`);
      }
    }
  }
});

test('uniformK formulas equal the general (rowsum) formulas when the rows sum to 1/K', () => {
  const rng = new Rng(8);
  const K = 7;
  for (const id of OBJECTIVE_IDS) {
    const C = confusionFromUnconstrained(randn(rng, K * K, 1.5), uniformPrior(K), K);
    const lam = activeMultipliers(id, C, K, opts('uniformK'), rng);
    const a = objectiveD(id, C, K, lam, opts('uniformK'));
    const b = objectiveD(id, C, K, lam, opts('rowsum'));
    assertClose(a, b, 1e-12, `${id} uniformK vs rowsum`);
  }
});

test('meanRecall D has the closed form C_kk delta_kl - K C_kk C_kl (uniformK)', () => {
  const rng = new Rng(9);
  const K = 6;
  const C = clipConfusion(confusionFromUnconstrained(randn(rng, K * K), uniformPrior(K), K));
  const D = objectiveD('meanRecall', C, K, null, defaultObjectiveOptions());
  const want = new Float64Array(K * K);
  for (let k = 0; k < K; k++)
    for (let l = 0; l < K; l++) want[k * K + l] = (k === l ? C[k * K + k]! : 0) - K * C[k * K + k]! * C[k * K + l]!;
  assertClose(D, want, 1e-14, 'meanRecall closed form');
});

test('objectives with multipliers refuse to compute D without them', () => {
  const K = 4;
  const C = clipConfusion(confusionFromUnconstrained(new Float64Array(K * K), uniformPrior(K), K));
  assert.throws(() => objectiveD('minRecall', C, K, null, defaultObjectiveOptions()), /needs multipliers/);
  assert.throws(
    () => objectiveD('meanRecallMinCoverage', C, K, new Float64Array(3), defaultObjectiveOptions()),
    /3 multipliers/,
  );
});

test('initial multipliers: zeros for coverage, 1/K for min-type, null otherwise', () => {
  for (const id of OBJECTIVE_IDS) {
    const lam = initialMultipliers(id, 8);
    if (id.includes('Coverage')) assert.deepEqual(Array.from(lam!), new Array(8).fill(0));
    else if (id === 'minRecall' || id === 'minHeadTailRecall')
      assert.deepEqual(Array.from(lam!), new Array(8).fill(1 / 8));
    else assert.equal(lam, null);
    if (lam === null)
      assert.equal(updateMultipliers(id, new Float64Array(64).fill(1 / 64), 8, null, defaultObjectiveOptions()), null);
  }
});

/** A clipped C with chosen recalls (balanced rows, errors spread evenly). */
function cWithRecalls(r: number[]): Float64Array {
  const K = r.length;
  const C = new Float64Array(K * K);
  for (let k = 0; k < K; k++) for (let l = 0; l < K; l++) C[k * K + l] = (k === l ? r[k]! : (1 - r[k]!) / (K - 1)) / K;
  return clipConfusion(C);
}

test('minRecall multipliers: on the simplex, decreasing in recall, uniform at eta 0, Hedge with beta 1', () => {
  const o = defaultObjectiveOptions();
  const r1 = [0.9, 0.5, 0.7, 0.2, 0.6];
  const lam = updateMultipliers('minRecall', cWithRecalls(r1), 5, null, o)!;
  assert.ok(Math.abs(lam.reduce((a, b) => a + b, 0) - 1) < 1e-14);
  assert.ok(lam.every((x) => x > 0));
  const order = [3, 1, 4, 2, 0]; // increasing recall -> decreasing lambda
  for (let t = 0; t + 1 < order.length; t++) assert.ok(lam[order[t]!]! > lam[order[t + 1]!]!);
  // beta = 0: softmin(50 r), no memory.
  const soft = r1.map((r) => Math.exp(-50 * r));
  const ss = soft.reduce((a, b) => a + b, 0);
  assertClose(
    lam,
    soft.map((x) => x / ss),
    1e-12,
    'softmin',
  );
  const prev = Float64Array.from([0.4, 0.1, 0.2, 0.2, 0.1]);
  assertClose(updateMultipliers('minRecall', cWithRecalls(r1), 5, prev, o)!, lam, 1e-14, 'beta 0 ignores history');
  // eta = 0 with beta = 0: uniform.
  const o0 = defaultObjectiveOptions();
  o0.minRecall = { beta: 0, etaLambda: 0 };
  assertClose(
    updateMultipliers('minRecall', cWithRecalls(r1), 5, prev, o0)!,
    new Float64Array(5).fill(0.2),
    1e-15,
    'uniform',
  );
  // beta = 1, Hedge: two steps from uniform give softmin(eta (r1 + r2)).
  const oh = defaultObjectiveOptions();
  oh.minRecall = { beta: 1, etaLambda: 3 };
  const r2 = [0.1, 0.8, 0.3, 0.5, 0.4];
  const step1 = updateMultipliers('minRecall', cWithRecalls(r1), 5, null, oh)!;
  const step2 = updateMultipliers('minRecall', cWithRecalls(r2), 5, step1, oh)!;
  const want = r1.map((r, k) => Math.exp(-3 * (r + r2[k]!)));
  const ws = want.reduce((a, b) => a + b, 0);
  assertClose(
    step2,
    want.map((x) => x / ws),
    1e-12,
    'Hedge',
  );
});

test('minHeadTailRecall per-class multipliers sum to lambda_H + lambda_T = 1 and follow the group softmax', () => {
  const o = defaultObjectiveOptions();
  const r = [0.9, 0.85, 0.8, 0.9, 0.7, 0.8, 0.75, 0.9, 0.6, 0.3]; // K = 10: head 0..8, tail 9
  const lam = updateMultipliers('minHeadTailRecall', cWithRecalls(r), 10, null, o)!;
  assert.ok(Math.abs(lam.reduce((a, b) => a + b, 0) - 1) < 1e-12);
  const rH = r.slice(0, 9).reduce((a, b) => a + b, 0) / 9;
  const lT = 1 / (1 + Math.exp(-50 * (rH - 0.3)));
  assert.ok(Math.abs(lam[9]! - lT / 1) < 1e-12, `tail lambda ${lam[9]} vs ${lT}`);
  for (let k = 0; k < 9; k++) assert.ok(Math.abs(lam[k]! - (1 - lT) / 9) < 1e-12);
  // K = 5 (0.9K = 4.5): head is floor(4.5) = 4 classes, divisors 4.5 and 0.5 (docs/ALGORITHM.md 7.17).
  const lam5 = updateMultipliers('minHeadTailRecall', cWithRecalls([0.9, 0.8, 0.7, 0.6, 0.5]), 5, null, o)!;
  const x = 1 / (1 + Math.exp(-50 * (0.75 - 0.5)));
  assertClose(lam5, [(1 - x) / 4.5, (1 - x) / 4.5, (1 - x) / 4.5, (1 - x) / 4.5, x / 0.5], 1e-12, 'K=5 split');
});

test('coverage multipliers: zero iff cov >= alpha/K, non-increasing in cov, bounded by lambdaMax', () => {
  const o = defaultObjectiveOptions();
  const K = 5;
  const t = o.coverage.alpha / K;
  // A C with chosen coverages: diagonal-heavy rows whose column sums are set by a convex mix.
  const covs = [0.25, t, t - 1e-3, 0.12];
  covs.push(1 - covs.reduce((a, b) => a + b, 0));
  const C = new Float64Array(K * K);
  for (let k = 0; k < K; k++) for (let l = 0; l < K; l++) C[k * K + l] = covs[l]! / K;
  const cov = Array.from({ length: K }, (_, l) =>
    Array.from({ length: K }, (_, k) => C[k * K + l]!).reduce((a, b) => a + b, 0),
  );
  const lam = updateMultipliers('meanRecallMinCoverage', C, K, null, o)!;
  for (let l = 0; l < K; l++) {
    assert.equal(lam[l] === 0, cov[l]! >= t, `class ${l}: cov ${cov[l]} vs ${t}, lambda ${lam[l]}`);
    assert.ok(lam[l]! >= 0 && lam[l]! <= o.coverage.lambdaMax);
  }
  // Monotone and bounded along a sweep of one class's coverage.
  let last = Infinity;
  for (let c = 0; c <= 0.4; c += 0.01) {
    const Cs = new Float64Array(K * K);
    for (let k = 0; k < K; k++) {
      Cs[k * K] = c / K;
      Cs[k * K + 1] = (1 - c) / K;
    }
    const l0 = updateMultipliers('meanRecallMinCoverage', clipConfusion(Cs), K, null, o)![0]!;
    assert.ok(l0 <= last + 1e-12 && l0 <= o.coverage.lambdaMax && l0 >= 0);
    const Cc = clipConfusion(Cs);
    let cov0 = 0;
    for (let k = 0; k < K; k++) cov0 += Cc[k * K]!;
    assert.equal(l0 === 0, cov0 >= t, `cov ${cov0}: lambda ${l0}`);
    last = l0;
  }
  assert.ok(last === 0);
  // Badly violated approaches lambdaMax.
  const Cb = new Float64Array(K * K);
  for (let k = 0; k < K; k++) Cb[k * K + 1] = 1 / K;
  assert.ok(
    updateMultipliers('meanRecallMinCoverage', clipConfusion(Cb), K, null, o)![0]! > 0.99999 * o.coverage.lambdaMax,
  );
});

test('head/tail coverage multipliers use the group means and spread lambda_H/(0.9K), lambda_T/(0.1K)', () => {
  const o = defaultObjectiveOptions();
  const K = 10;
  // Nobody predicts the tail class 9; the head is well covered.
  const C = new Float64Array(K * K);
  for (let k = 0; k < K; k++) C[k * K + (k === 9 ? 0 : k)] = 1 / K;
  const Cc = clipConfusion(C);
  for (const id of ['meanRecallMinHeadTailCoverage', 'hMeanMinHeadTailCoverage'] as const) {
    const lam = updateMultipliers(id, Cc, K, null, o)!;
    let covT = 0;
    for (let k = 0; k < K; k++) covT += Cc[k * K + 9]!;
    const lT = Math.max(0, 100 * (1 - Math.exp((covT - 0.095) / 0.01)));
    assert.ok(Math.abs(lam[9]! - lT / 1) < 1e-9, `${id}: ${lam[9]} vs ${lT}`);
    for (let k = 0; k < 9; k++) assert.equal(lam[k], 0);
  }
});

test('minRecall D with one-hot lambda = e_k equals the D of recall_k (finite differences of r_k)', () => {
  const rng = new Rng(11);
  const K = 5;
  const o = defaultObjectiveOptions();
  const Ct = randn(rng, K * K);
  const pi = uniformPrior(K);
  const C = confusionFromUnconstrained(Ct, pi, K);
  for (let k = 0; k < K; k++) {
    const e = new Float64Array(K);
    e[k] = 1;
    const D = objectiveD('minRecall', clipConfusion(C), K, e, o);
    const rk = (x: Float64Array): number => {
      const c = confusionFromUnconstrained(x, pi, K);
      let R = 0;
      for (let l = 0; l < K; l++) R += c[k * K + l]!;
      return c[k * K + k]! / R;
    };
    assertClose(D, fdGradient(rk, Ct), 1e-7, `recall_${k}`);
    for (let i = 0; i < K; i++) if (i !== k) for (let l = 0; l < K; l++) assert.equal(D[i * K + l], 0);
  }
});

test('saturation: a perfect confusion matrix gives |D| <= ~1e-7 for every objective', () => {
  const K = 10;
  const C = new Float64Array(K * K);
  for (let k = 0; k < K; k++) C[k * K + k] = 1 / K;
  const Cc = clipConfusion(C);
  const o = defaultObjectiveOptions();
  for (const id of OBJECTIVE_IDS) {
    const lam = updateMultipliers(id, Cc, K, null, o);
    const D = objectiveD(id, Cc, K, lam, o);
    assert.ok(maxAbs(D) <= 2e-6 && maxAbs(D) > 0, `${id}: max |D| = ${maxAbs(D)}`);
  }
});

test('psi without multipliers is the target metric; with them, the Lagrangian', () => {
  const o = defaultObjectiveOptions();
  const r = [0.9, 0.5, 0.7, 0.2, 0.6];
  const C = cWithRecalls(r);
  const close = (a: number, b: number): void => assert.ok(Math.abs(a - b) < 1e-6, `${a} vs ${b}`);
  close(psi('meanRecall', C, 5, o), 0.58);
  close(psi('minRecall', C, 5, o), 0.2);
  close(psi('minHeadTailRecall', C, 5, o), Math.min((0.9 + 0.5 + 0.7 + 0.2) / 4, 0.6)); // head = floor(4.5) = 4 classes
  close(psi('gMean', C, 5, o), Math.exp(r.reduce((a, x) => a + Math.log(x), 0) / 5));
  close(psi('hMean', C, 5, o), 5 / r.reduce((a, x) => a + 1 / x, 0));
  close(psi('minRecall', C, 5, o, Float64Array.from([0, 0, 0, 1, 0])), 0.2);
  close(psi('minRecall', C, 5, o, Float64Array.from([0.5, 0, 0, 0.5, 0])), 0.55);
  close(psi('hMeanMinCoverage', C, 5, o), 5 / r.reduce((a, x) => a + 1 / x, 0));
});

test("the recall objectives' D (diagonal M, no K x K M) is chainRuleD of their diagonal M to the bit", () => {
  const rng = new Rng(23);
  for (const priorMode of ['uniformK', 'rowsum'] as const) {
    for (const id of ['meanRecall', 'minRecall', 'minHeadTailRecall'] as const) {
      const K = 37;
      const o = opts(priorMode);
      // A sparse confusion matrix (mostly empty cells, as a large K's is), clipped as a refresh clips it.
      const raw = new Float64Array(K * K);
      for (let t = 0; t < 400; t++) raw[rng.int(K) * K + (rng.next() < 0.6 ? 0 : rng.int(K))]! += 1 / 400;
      const C = clipConfusion(raw);
      const lambda = activeMultipliers(id, C, K, o, rng);
      const D = objectiveD(id, C, K, lambda, o);
      const pi = new Float64Array(K);
      for (let k = 0; k < K; k++) {
        let r = 0;
        for (let l = 0; l < K; l++) r += C[k * K + l]!;
        pi[k] = priorMode === 'rowsum' ? r : 1 / K;
      }
      const M = new Float64Array(K * K);
      for (let k = 0; k < K; k++) M[k * K + k]! += (id === 'meanRecall' ? 1 / K : lambda![k]!) / pi[k]!;
      const ref = chainRuleD(M, C, K, pi);
      for (let t = 0; t < K * K; t++)
        assert.ok(Object.is(D[t], ref[t]), `${id} ${priorMode} D[${t}] ${D[t]} vs ${ref[t]}`);
    }
  }
});

test("objectiveD into an array holding another D (a refresh's scratch) gives the new array's values for every objective", () => {
  const rng = new Rng(93);
  const K = 9;
  const pi = unbalancedPrior(rng, K);
  const o = defaultObjectiveOptions();
  for (const id of OBJECTIVE_IDS) {
    const C = clipConfusion(confusionFromUnconstrained(randn(rng, K * K, 2), pi, K));
    const lam = updateMultipliers(id, C, K, null, o);
    const fresh = objectiveD(id, C, K, lam, o);
    const out = Float64Array.from({ length: K * K }, () => rng.normal());
    assert.equal(objectiveD(id, C, K, lam, o, out), out, id);
    assert.deepEqual(out, fresh, id);
  }
  assert.throws(
    () =>
      objectiveD(
        'meanRecall',
        clipConfusion(new Float64Array(K * K).fill(1 / (K * K))),
        K,
        null,
        o,
        new Float64Array(3),
      ),
    /out has 3 entries/,
  );
});
