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
  TAU_GRID,
  TAU_GRID_01,
} from '../../../../src/core/numerics/logitAdjust';
import { Rng } from '../../../../src/core/numerics/rng';
import { classSupport } from '../../../../src/core/numerics/confusion';
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
