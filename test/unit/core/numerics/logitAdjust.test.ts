// The warm start's tau search (src/core/numerics/logitAdjust.ts): never worse on validation than a 0.1 grid, and
// finding the
// narrow window a 0.25 grid steps over.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  adjustedMetrics,
  searchTau,
  tauGrid,
  tuneTau,
  TauArgmax,
  TAU_GRID,
  TAU_GRID_01,
} from '../../../../src/core/numerics/logitAdjust';
import { Rng } from '../../../../src/core/numerics/rng';
import { classSupport } from '../../../../src/core/numerics/confusion';
import { argmaxRows } from '../../../../src/core/numerics/classStats';
import { metricsReport } from '../../../../src/core/numerics/metrics';
import type { MetricsReport } from '../../../../src/protocol/messages';

const minRecall = (_C: unknown, m: MetricsReport) => ({ score: m.minRecall, feasible: true });

/**
 * Two classes whose logit margin is d: with log prior [0, -1] the adjusted margin is d - tau, so class 0 wins iff d >
 * tau.
 */
function margins(class0: number[], class1: number[]): { logits: Float64Array; labels: Int32Array; lp: number[] } {
  const d = [...class0, ...class1];
  const logits = new Float64Array(d.length * 2);
  d.forEach((v, i) => {
    logits[2 * i] = v;
  });
  return { logits, labels: Int32Array.from([...class0.map(() => 0), ...class1.map(() => 1)]), lp: [0, -1] };
}

test('tauGrid: rounded steps, both ends included', () => {
  assert.deepEqual(tauGrid(0, 0.3, 0.1), [0, 0.1, 0.2, 0.3]);
  assert.equal(TAU_GRID_01.length, 31);
  assert.equal(TAU_GRID_01[7], 0.7);
});

test('a window of tau in (0.62, 0.72): the 0.25 grid misses it, the 0.1 grid finds 0.7, the search finds it and takes its middle', () => {
  const { logits, labels, lp } = margins([0.72, 0.9, 1.5, 2, 3], [0.62, 0.3, -0.5, -1, 0]);
  const coarse = tuneTau(logits, labels, 2, lp, 0.5, minRecall, TAU_GRID);
  const grid01 = tuneTau(logits, labels, 2, lp, 0.5, minRecall, TAU_GRID_01);
  const s = searchTau(logits, labels, 2, lp, 0.5, minRecall);
  assert.equal(coarse.score, 0.8);
  assert.equal(grid01.tau, 0.7);
  assert.equal(grid01.score, 1);
  assert.equal(s.score, 1);
  assert.ok(s.tau > 0.62 && s.tau < 0.72, `tau ${s.tau}`);
  // The plateau on the 0.01 grid runs from 0.63 to 0.71 or 0.72 (at 0.72 the margin is 0, a tie); its middle.
  assert.ok(Math.abs(s.tau - 0.67) <= 0.011, `tau ${s.tau} is the plateau's middle`);
  assert.equal(adjustedMetrics(logits, labels, 2, lp, s.tau, 0.5).metrics.minRecall, 1);
});

test('on random problems the search is never worse than the 0.1 grid, and keeps tau = 0 when no adjustment helps', () => {
  for (let seed = 1; seed <= 15; seed++) {
    const rng = new Rng(seed);
    const K = 4,
      n = 120;
    const labels = Int32Array.from({ length: n }, () => rng.int(K));
    const logits = Float64Array.from(
      { length: n * K },
      (_, i) => rng.normal() + (i % K === labels[Math.floor(i / K)]! ? 1 : 0) + (i % K === 0 ? 1.5 : 0),
    );
    const lp = [Math.log(0.7), Math.log(0.15), Math.log(0.1), Math.log(0.05)];
    for (const score of [minRecall, (_C: unknown, m: MetricsReport) => ({ score: m.gMean, feasible: true })]) {
      const g = tuneTau(logits, labels, K, lp, 0.75, score, TAU_GRID_01);
      const s = searchTau(logits, labels, K, lp, 0.75, score);
      assert.ok(s.score >= g.score, `seed ${seed}: search ${s.score} < 0.1 grid ${g.score}`);
      assert.ok(s.evaluations <= 31 + 10 + 21);
    }
  }
  const flat = searchTau(new Float64Array(8), Int32Array.from([0, 1, 0, 1]), 2, [0, -1], 0.5, () => ({
    score: 0,
    feasible: true,
  }));
  assert.equal(flat.tau, 0);
});

test('a best at the top of the grid extends the search past 3', () => {
  // Class 1 gets better up to tau = 3 (2.85, 2.95) and needs tau > 3.55 in all; class 0 survives up to 4: the optimum
  // lies in (3.55, 4).
  const { logits, labels, lp } = margins([4, 5], [3.55, 2.95, 2.85]);
  const s = searchTau(logits, labels, 2, lp, 0.5, minRecall);
  assert.equal(s.score, 1);
  assert.ok(s.tau > 3.55 && s.tau < 4, `tau ${s.tau}`);
});

test("searchTau's metrics (from C's nonzero cells) equal metricsReport of the dense C and adjustedMetrics, to the bit", () => {
  for (let seed = 1; seed <= 6; seed++) {
    const rng = new Rng(seed);
    const K = 3 + seed * 7,
      n = 40 * seed + 3;
    const labels = Int32Array.from({ length: n }, () => rng.int(K));
    const logits = Float32Array.from({ length: n * K }, (_, i) => rng.normal() + (i % K === 0 ? 1.5 : 0));
    const lp = Array.from({ length: K }, (_, k) => -0.1 * k);
    const support = classSupport(labels, K);
    for (const pick of [(m: MetricsReport) => m.meanRecall, (m: MetricsReport) => m.minRecall + 1e-3 * m.hMean]) {
      let scored = 0;
      const s = searchTau(logits, labels, K, lp, 0.6, (C, m) => {
        assert.deepEqual(m, metricsReport(C(), K, support, 0.6), `seed ${seed}`);
        scored++;
        return { score: pick(m), feasible: true };
      });
      assert.ok(scored > 10);
      const want = adjustedMetrics(logits, labels, K, lp, s.tau, 0.6);
      assert.deepEqual(s.metrics, want.metrics, `seed ${seed}, tau ${s.tau}`);
    }
  }
});

test("TauArgmax's predictions are argmaxRows' with the shift tau log prior, class for class, at every tau of [0, tauMax]", () => {
  const rng = new Rng(17);
  for (const [n, K, spread] of [
    [400, 50, 3],
    [200, 300, 0.5],
    [300, 7, 20],
  ] as const) {
    const logits = new Float32Array(n * K);
    for (let t = 0; t < logits.length; t++) logits[t] = spread * rng.normal();
    // Ties: a few rows with equal logits (the first of them must win) and a row where every class is equal.
    for (let i = 0; i < 10; i++) logits[i * K + 2] = logits[i * K + (5 % K)]!;
    logits.fill(0.5, (n - 1) * K, n * K);
    const counts = Array.from({ length: K }, (_, k) => Math.max(1, Math.round(500 * Math.exp(-k / (K / 4)))));
    const total = counts.reduce((a, b) => a + b, 0);
    const lp = Float64Array.from(counts, (c) => Math.log(c / total));
    // Two classes with the same prior: lines of the same slope.
    lp[K - 1] = lp[K - 2]!;
    const ta = new TauArgmax(logits, n, K, lp, 6.1);
    assert.ok(ta.perRow >= 1 && ta.perRow < K, `${ta.perRow} candidates a row of ${K}`);
    for (const tau of [...tauGrid(0, 6.1, 0.01), 6.1]) {
      const shift = Float64Array.from(lp, (p) => tau * p);
      assert.deepEqual(ta.preds(tau), argmaxRows(logits, n, K, shift), `n ${n}, K ${K}, tau ${tau}`);
    }
    // Outside [0, tauMax] every class is scanned (the same predictions).
    const shift = Float64Array.from(lp, (p) => 7 * p);
    assert.deepEqual(ta.preds(7), argmaxRows(logits, n, K, shift));
  }
});

test('TauArgmax where most classes can win at some tau falls back to argmaxRows: the same classes', () => {
  const rng = new Rng(5);
  const [n, K] = [300, 40];
  // l_k = -c k^2 and log prior -k delta: the adjusted row's maximum moves across every class as tau goes from 0 to 6.1.
  const c = 0.01,
    delta = (2 * c * K) / 6.1;
  const logits = Float32Array.from({ length: n * K }, (_, t) => -c * (t % K) ** 2 + 1e-4 * rng.normal());
  const lp = Float64Array.from({ length: K }, (_, k) => -k * delta);
  const ta = new TauArgmax(logits, n, K, lp, 6.1);
  assert.equal(ta.perRow, K, 'every class scanned');
  for (const tau of [0, 0.37, 2, 6.1]) {
    const shift = Float64Array.from(lp, (p) => tau * p);
    assert.deepEqual(ta.preds(tau), argmaxRows(logits, n, K, shift));
  }
});

test('TauArgmax with a NaN logit gives argmaxRows: the same error naming the row; an infinite one the same classes', () => {
  const K = 5,
    n = 4;
  const logits = new Float32Array(n * K).map((_, t) => (t * 7919) % 13);
  const lp = Float64Array.from({ length: K }, (_, k) => -0.3 * k - 0.1);
  const inf = logits.slice();
  inf[2 * K + 3] = Infinity;
  const shift = Float64Array.from(lp, (p) => 1.5 * p);
  assert.deepEqual(new TauArgmax(inf, n, K, lp, 3).preds(1.5), argmaxRows(inf, n, K, shift));
  const nan = logits.slice();
  nan[3 * K + 1] = NaN;
  const ta = new TauArgmax(nan, n, K, lp, 3);
  assert.equal(ta.perRow, K);
  assert.throws(() => ta.preds(1), /logits for example 3 are NaN/);
});
