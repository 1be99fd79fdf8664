// The gain monitor (src/core/numerics/gainMonitor.ts): realised against predicted change with their noise. It must stay
// quiet
// when the realised changes are within the noise or follow the prediction, and warn when they run against it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  binomialTail,
  changeNoise,
  emptyGainTrack,
  gainVerdict,
  monitorChange,
  recordPairs,
  MONITOR_MIN_INTERVALS,
} from '../../../../src/core/numerics/gainMonitor';
import { classStats, type ClassStats } from '../../../../src/core/numerics/classStats';
import { metricsOfStats, metricsReport } from '../../../../src/core/numerics/metrics';
import { Rng } from '../../../../src/core/numerics/rng';

/** A track of n intervals: predicted changes decaying like a cosine schedule, realised = slope x predicted + noise. */
function track(n: number, slope: number, noise: number, seed: number) {
  const rng = new Rng(seed);
  const predicted = Array.from({ length: n }, (_, i) => 0.02 * (1 + Math.cos((Math.PI * i) / n)) * (0.5 + rng.next()));
  const realised = predicted.map((p) => slope * p + noise * rng.normal());
  return { predicted, realised, noise: predicted.map(() => noise) };
}

test('changes within the noise never warn, even when their correlation with the prediction is negative (the old false alarm)', () => {
  let negative = 0,
    warned = 0;
  for (let seed = 1; seed <= 40; seed++) {
    // The case: 30 intervals, no real signal, validation noise 0.01 per change.
    const t = track(30, 0, 0.01, seed);
    const v = gainVerdict(t);
    if (v.correlation! < -0.1) negative++;
    if (!v.tracking) warned++;
  }
  assert.ok(negative >= 5, `some tracks correlate negatively by chance (${negative})`);
  // One-sided 3 standard errors: about 0.1 % of pure-noise tracks; none of these 40.
  assert.equal(warned, 0);
});

test('realised changes that follow the prediction through the noise do not warn; their mean change is recovered', () => {
  for (let seed = 1; seed <= 20; seed++) {
    const t = track(30, 0.5, 0.002, seed);
    const v = gainVerdict(t);
    assert.equal(v.tracking, true);
    const truth = (0.5 * t.predicted.reduce((a, p) => a + p, 0)) / t.predicted.length;
    assert.ok(
      Math.abs(v.meanChange! - truth) < 4 * v.meanChangeSE!,
      `mean change ${v.meanChange} ± ${v.meanChangeSE} vs ${truth}`,
    );
  }
});

test("only the sign of the prediction counts (G's scale moves between refreshes), and intervals with no noise carry no evidence", () => {
  const t = track(12, -1, 0.002, 5);
  const scaled = { ...t, predicted: t.predicted.map((p, i) => p * 10 ** (i % 4)) };
  assert.deepEqual(gainVerdict(scaled).meanChange, gainVerdict(t).meanChange);
  const still = {
    predicted: [...t.predicted, 1, 1, 1],
    realised: [...t.realised, 0, 0, 0],
    noise: [...t.noise, 0, 0, 0],
  };
  assert.equal(gainVerdict(still).intervals, 12);
  assert.deepEqual(gainVerdict(still).meanChange, gainVerdict(t).meanChange);
});

test('realised changes against the prediction beyond the noise warn (an inverted gain), but not before MONITOR_MIN_INTERVALS', () => {
  for (let seed = 1; seed <= 20; seed++) {
    const t = track(30, -1, 0.002, seed);
    assert.equal(gainVerdict(t).tracking, false, `seed ${seed}`);
    const early = {
      predicted: t.predicted.slice(0, MONITOR_MIN_INTERVALS - 1),
      realised: t.realised.slice(0, MONITOR_MIN_INTERVALS - 1),
      noise: t.noise.slice(0, MONITOR_MIN_INTERVALS - 1),
    };
    assert.equal(gainVerdict(early).tracking, true);
  }
  // Overdispersion: a first-order estimate broken by a huge step (changes far larger than the noise, mostly downwards).
  const realised = [
    -0.3, 0.05, -0.25, -0.2, 0.1, -0.3, -0.2, -0.05, -0.25, -0.1, -0.15, -0.02, -0.2, -0.1, -0.3, -0.15,
  ];
  const predicted = realised.map(() => 0.05);
  const v = gainVerdict({ predicted, realised, noise: predicted.map(() => 0.01) });
  assert.ok(v.meanChangeSE! > 0.01 / Math.sqrt(16), 'the residuals widen the standard error beyond the noise alone');
  assert.equal(v.tracking, false);
  // The same mean but no more than noise: quiet.
  assert.equal(
    gainVerdict({ predicted, realised: realised.map((r) => r / 40), noise: predicted.map(() => 0.01) }).tracking,
    true,
  );
});

test('intervals of unknown noise (older checkpoints) take the median known noise, or unit weight', () => {
  const t = track(10, -1, 0.002, 3);
  const half = { ...t, noise: t.noise.map((s, i) => (i % 2 ? Number.NaN : s)) };
  assert.deepEqual(gainVerdict(half).meanChange, gainVerdict(t).meanChange);
  const none = { ...t, noise: t.noise.map(() => Number.NaN) };
  assert.equal(gainVerdict(none).tracking, true, 'with unit noise, changes of 0.02 are nothing');
  assert.equal(
    gainVerdict({ predicted: [1], realised: [-1], noise: [0.001] }).meanChange,
    null,
    'one interval: no reading',
  );
});

test('the track: lr-weighted mean gain per interval, the change of the objective, and the noise of the change', () => {
  const tr = emptyGainTrack();
  const G = Float64Array.from([0, 1, 2, 3]);
  monitorChange(tr, 0.5, null, Int32Array.from([0, 1]));
  assert.deepEqual(Array.from(tr.lastPreds!), [0, 1]);
  recordPairs(tr, G, 2, [0, 1], [1, 1], 0.1); // mean gain (1 + 3) / 2 = 2, x 0.1
  recordPairs(tr, G, 2, [1], [0], 0.05); // 2 x 0.05
  const r = monitorChange(tr, 0.6, 0.05);
  assert.ok(Math.abs(tr.predicted[0]! - 0.3) < 1e-15);
  assert.ok(Math.abs(tr.realised[0]! - 0.1) < 1e-15);
  assert.equal(tr.noise[0], 0.05);
  assert.equal(r.change, 'none');
});

test('changeNoise: the paired bootstrap standard error of a change matches the binomial one of the per-example differences', () => {
  // Two classes of 200 examples. Class 0: 30 examples turn right, 10 turn wrong; class 1: 20 turn wrong; the rest stay.
  const K = 2,
    n = 200;
  const labels = Int32Array.from([...Array(n).fill(0), ...Array(n).fill(1)]);
  const before = Int32Array.from(labels),
    after = Int32Array.from(labels);
  for (let i = 0; i < 30; i++) before[i] = 1;
  for (let i = 30; i < 40; i++) after[i] = 1;
  for (let i = n; i < n + 20; i++) after[i] = 0;
  const support = [n, n];
  const mean = (c: () => Float64Array) => metricsReport(c(), K, support).meanRecall;
  // Mean recall's change is the mean over classes of the mean per-example difference d in {-1, 0, 1}.
  const varOf = (plus: number, minus: number) => {
    const m = (plus - minus) / n;
    return (plus + minus) / n - m * m;
  };
  const exact = Math.sqrt(varOf(30, 10) / n + varOf(0, 20) / n) / 2;
  const se = changeNoise(before, after, labels, K, mean, 7, 2000);
  assert.ok(Math.abs(se / exact - 1) < 0.08, `${se} vs ${exact}`);
  assert.equal(
    changeNoise(before, after, labels, K, mean, 7, 50),
    changeNoise(before, after, labels, K, mean, 7, 50),
    'deterministic in its seed',
  );
  // Nothing changed: no noise in the change, however noisy each end is.
  assert.equal(changeNoise(before, before, labels, K, mean, 1, 50), 0);
  // Min recall: class 1 (recall 0.9 after) is the min after, class 0 (0.85) before; the bootstrap carries the switch.
  const min = (c: () => Float64Array) => metricsReport(c(), K, support).minRecall;
  assert.ok(changeNoise(before, after, labels, K, min, 3, 400) > 0.01);
});

test('changeNoise: the class sums it passes are those of the dense matrix to the last bit, and equal the dense bootstrap', () => {
  // The dense bootstrap as it was written before the sparse one: every draw fills a K x K matrix and scores all of it.
  const dense = (
    before: Int32Array,
    after: Int32Array,
    labels: Int32Array,
    K: number,
    f: (C: Float64Array) => number,
    seed: number,
    B: number,
  ) => {
    const N = labels.length;
    const byClass: number[][] = Array.from({ length: K }, () => []);
    for (let i = 0; i < N; i++) byClass[labels[i]!]!.push(i);
    const rng = new Rng(seed);
    const Cb = new Float64Array(K * K),
      Ca = new Float64Array(K * K);
    const diffs: number[] = [];
    for (let b = 0; b < B; b++) {
      Cb.fill(0);
      Ca.fill(0);
      for (let k = 0; k < K; k++) {
        const idx = byClass[k]!;
        for (let t = 0; t < idx.length; t++) {
          const i = idx[rng.int(idx.length)]!;
          Cb[k * K + before[i]!]! += 1 / N;
          Ca[k * K + after[i]!]! += 1 / N;
        }
      }
      diffs.push(f(Ca) - f(Cb));
    }
    const m = diffs.reduce((a, v) => a + v, 0) / diffs.length;
    return Math.sqrt(diffs.reduce((a, v) => a + (v - m) ** 2, 0) / (diffs.length - 1));
  };
  const K = 60,
    N = 900;
  const r = new Rng(11);
  const labels = Int32Array.from({ length: N }, (_, i) => i % K);
  const before = Int32Array.from(labels, (y) => (r.next() < 0.7 ? y : r.int(K)));
  const after = Int32Array.from(before, (p, i) => (r.next() < 0.2 ? labels[i]! : p));
  const support = Array.from({ length: K }, () => N / K);
  let calls = 0;
  const sparseF = (C: () => Float64Array, st: ClassStats) => {
    const full = classStats(C(), K);
    for (const key of ['diag', 'R', 'cov'] as const) assert.deepEqual(st[key], full[key], `${key} as the dense sums`);
    calls++;
    return metricsOfStats(st, K, support).gMean + metricsOfStats(st, K, support).minCoverage;
  };
  const denseF = (C: Float64Array) => metricsReport(C, K, support).gMean + metricsReport(C, K, support).minCoverage;
  assert.equal(changeNoise(before, after, labels, K, sparseF, 5, 12), dense(before, after, labels, K, denseF, 5, 12));
  assert.equal(calls, 24, 'both ends of each of the 12 draws scored');
});

test('binomialTail: P(X >= k) for X ~ Binomial(n, p), against hand-computed values', () => {
  assert.equal(binomialTail(0, 5, 0.3), 1);
  assert.equal(binomialTail(6, 5, 0.3), 0);
  assert.ok(Math.abs(binomialTail(1, 1, 0.3) - 0.3) < 1e-15);
  assert.ok(Math.abs(binomialTail(2, 3, 0.5) - 0.5) < 1e-15);
  // n = 40, p = 0.02: P(X >= 3) = 1 - (0.98^40 + 40 0.02 0.98^39 + 780 0.02^2 0.98^38).
  const exact = 1 - (0.98 ** 40 + 40 * 0.02 * 0.98 ** 39 + 780 * 0.0004 * 0.98 ** 38);
  assert.ok(Math.abs(binomialTail(3, 40, 0.02) - exact) < 1e-14);
});
