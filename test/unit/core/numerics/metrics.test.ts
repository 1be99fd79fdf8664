// Confusion matrix, clipping, support, centroids and the metrics report (docs/ALGORITHM.md sections 1-2, 8.9).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OBJECTIVE_IDS } from '../../../../src/core/objectives/objectiveIds';
import { Rng } from '../../../../src/core/numerics/rng';
import { classSupport, clipConfusion, confusionMatrix } from '../../../../src/core/numerics/confusion';
import { classCentroids } from '../../../../src/core/numerics/centroids';
import {
  constraintSatisfied,
  infeasibilityReason,
  metricsReport,
  objectiveMetricValue,
} from '../../../../src/core/numerics/metrics';

test('confusionMatrix is the joint C_kl = #{y=k, yhat=l}/N; clipping is element-wise and not renormalised', () => {
  const labels = [0, 0, 1, 1, 1, 2];
  const preds = [0, 1, 1, 1, 2, 0];
  const C = confusionMatrix(labels, preds, 3);
  assert.deepEqual(
    Array.from(C).map((x) => x * 6),
    [1, 1, 0, 0, 2, 1, 1, 0, 0],
  );
  const Cc = clipConfusion(C);
  assert.equal(Cc[2], 1e-7);
  assert.equal(Cc[0], 1 / 6);
  assert.equal(C[2], 0, 'input untouched');
  assert.deepEqual(Array.from(clipConfusion(Float64Array.from([2e4, -1]), 0, 1e4)), [1e4, 0]);
  assert.deepEqual(classSupport(labels, 4), [2, 3, 1, 0]);
  assert.throws(() => confusionMatrix([0, 3], [0, 0], 3), /labels\[1\] = 3/);
  assert.throws(() => confusionMatrix([], [], 3), /no examples/);
});

test('metrics of a known matrix', () => {
  // K = 4, 10 examples per class; recalls 0.9, 0.6, 0.5, 0.2.
  const K = 4;
  const counts = [
    [9, 1, 0, 0],
    [2, 6, 2, 0],
    [1, 1, 5, 3],
    [4, 2, 2, 2],
  ];
  const C = Float64Array.from(counts.flat().map((c) => c / 40));
  const m = metricsReport(C, K, [10, 10, 10, 10], 0.75);
  const r = [0.9, 0.6, 0.5, 0.2];
  const close = (a: number, b: number, what: string): void =>
    assert.ok(Math.abs(a - b) < 1e-12, `${what}: ${a} vs ${b}`);
  close(m.accuracy, 22 / 40, 'accuracy');
  r.forEach((x, k) => close(m.recall[k]!, x, `recall ${k}`));
  close(m.meanRecall, 0.55, 'mean');
  close(m.minRecall, 0.2, 'min');
  close(m.maxRecall, 0.9, 'max');
  close(m.gMean, Math.pow(0.9 * 0.6 * 0.5 * 0.2, 0.25), 'G');
  close(m.hMean, 4 / (1 / 0.9 + 1 / 0.6 + 1 / 0.5 + 1 / 0.2), 'H');
  close(m.headRecall, (0.9 + 0.6 + 0.5) / 3, 'head'); // floor(0.75 * 4) = 3 head classes
  close(m.tailRecall, 0.2, 'tail');
  close(m.minHeadTailRecall, 0.2, 'minHT');
  const cov = [16 / 40, 10 / 40, 9 / 40, 5 / 40];
  cov.forEach((c, l) => close(m.coverage[l]!, c, `coverage ${l}`));
  close(m.minCoverage, 5 / 40, 'min coverage');
  close(m.headCoverage, 35 / 120, 'head coverage');
  close(m.tailCoverage, 5 / 40, 'tail coverage');
  assert.deepEqual(m.support, [10, 10, 10, 10]);
  // The chain of means (8.9) and coverages summing to 1.
  assert.ok(m.minRecall <= m.hMean && m.hMean <= m.gMean && m.gMean <= m.meanRecall);
  close(
    m.coverage.reduce((a, b) => a + b, 0),
    1,
    'coverage sum',
  );
});

test('metric sanity on random matrices: min <= H <= G <= mean, coverages sum to 1', () => {
  const rng = new Rng(61);
  for (let rep = 0; rep < 50; rep++) {
    const K = 2 + rng.int(20);
    const N = 50 + rng.int(500);
    const labels = Array.from({ length: N }, () => rng.int(K));
    const preds = labels.map((y) => (rng.next() < 0.6 ? y : rng.int(K)));
    const m = metricsReport(confusionMatrix(labels, preds, K), K, classSupport(labels, K));
    assert.ok(
      m.minRecall <= m.hMean + 1e-12 && m.hMean <= m.gMean + 1e-12 && m.gMean <= m.meanRecall + 1e-12,
      JSON.stringify(m),
    );
    assert.ok(Math.abs(m.coverage.reduce((a, b) => a + b, 0) - 1) < 1e-12);
    assert.ok(m.maxRecall >= m.meanRecall);
  }
});

test('a class with support 0 has recall 0 in the array but is excluded from the aggregates', () => {
  const labels = [0, 0, 1, 1, 3, 3];
  const preds = [0, 0, 1, 2, 3, 3];
  const support = classSupport(labels, 4);
  const m = metricsReport(confusionMatrix(labels, preds, 4), 4, support, 0.5);
  assert.deepEqual(m.recall, [1, 0.5, 0, 1]);
  assert.deepEqual(m.support, [2, 2, 0, 2]);
  assert.equal(m.minRecall, 0.5);
  assert.ok(Math.abs(m.meanRecall - 2.5 / 3) < 1e-15);
  assert.ok(Math.abs(m.hMean - 3 / 4) < 1e-15);
  assert.ok(m.gMean > 0);
  assert.equal(m.tailRecall, 1); // classes 2 (excluded) and 3
  assert.ok(Math.abs(m.coverage[2]! - 1 / 6) < 1e-15, 'coverage still counts predictions of the empty class');
});

test('a zero recall makes the G- and H-mean 0', () => {
  const m = metricsReport(confusionMatrix([0, 1, 2], [0, 0, 2], 3), 3, [1, 1, 1]);
  assert.equal(m.hMean, 0);
  assert.equal(m.gMean, 0);
  assert.equal(m.minRecall, 0);
});

test('objectiveMetricValue and constraintSatisfied cover all nine objectives', () => {
  const K = 10;
  const m = metricsReport(
    confusionMatrix([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0], K),
    K,
    new Array(K).fill(1).map((_, k) => (k === 9 ? 2 : 1)),
  );
  const want: Record<string, number> = {
    meanRecall: m.meanRecall,
    minRecall: m.minRecall,
    minHeadTailRecall: m.minHeadTailRecall,
    gMean: m.gMean,
    hMean: m.hMean,
    meanRecallMinCoverage: m.meanRecall,
    hMeanMinCoverage: m.hMean,
    meanRecallMinHeadTailCoverage: m.meanRecall,
    hMeanMinHeadTailCoverage: m.hMean,
  };
  for (const id of OBJECTIVE_IDS) assert.equal(objectiveMetricValue(id, m), want[id], id);
  assert.equal(m.minRecall, 0.5);
  // coverage: class 0 gets 2/11, class 9 gets 1/11 < 0.95/10.
  for (const id of OBJECTIVE_IDS) {
    const sat = constraintSatisfied(id, m, K, 0.95);
    if (id === 'meanRecallMinCoverage' || id === 'hMeanMinCoverage') assert.equal(sat, false, id);
    else if (id.includes('HeadTailCoverage'))
      assert.equal(sat, false, id); // tail mean coverage 1/11 < 0.095
    else assert.equal(sat, true, id);
  }
  assert.equal(constraintSatisfied('meanRecallMinCoverage', m, K, 0.9), true); // 1/11 >= 0.09
  assert.equal(constraintSatisfied('meanRecallMinHeadTailCoverage', m, K, 0.9), true);
});

test('class centroids are per-class means; an empty class gets a zero centroid and count 0', () => {
  const features = [1, 2, 3, 4, 10, 20, 5, 6];
  const { Z, counts } = classCentroids(features, 4, 2, [0, 0, 2, 0], 3);
  assert.deepEqual(counts, [3, 0, 1]);
  assert.deepEqual(Array.from(Z), [3, 4, 0, 0, 10, 20]);
  assert.throws(() => classCentroids(features, 4, 2, [0, 0, 5, 0], 3), /labels\[2\]/);
});

test('infeasibilityReason: nothing when the bound is met; otherwise the closest iterate, the classes short of it and how close logit adjustment came', () => {
  const K = 2;
  // Coverages 0.4 and 0.6: min coverage 0.4 against alpha / K = 0.475 (alpha 0.95): not met.
  const m = metricsReport(Float64Array.from([0.35, 0.15, 0.05, 0.45]), K, [1, 1]);
  assert.equal(
    infeasibilityReason('meanRecallMinCoverage', m, K, 0.5, 40, ['cat', 'dog'], null),
    null,
    'bound 0.25: met',
  );
  assert.equal(infeasibilityReason('minRecall', m, K, 0.95, 40, ['cat', 'dog'], null), null, 'no constraint');
  const warm = metricsReport(Float64Array.from([0.3, 0.2, 0.15, 0.35]), K, [1, 1]);
  const r = infeasibilityReason('meanRecallMinCoverage', m, K, 0.95, 40, ['cat', 'dog'], { tau: 1.5, val: warm })!;
  assert.match(
    r,
    /^infeasible on validation: min coverage >= 47\.50 % \(alpha 0\.95 \/ K 2\) was not met by any iterate; the kept one, step 40, is the closest at 40\.00 % \(below it: cat 40\.00 %\)\./,
  );
  assert.match(r, /Logit adjustment, tau searched on validation, came no closer than 45\.00 % \(tau = 1\.5\)\./);
  assert.match(r, /lower selmix\.coverage\.alpha \(now 0\.95\)/);
});

test('confusionMatrix equals counts / N in every cell (random labels, one cell holding every example, N above K^2)', () => {
  let seed = 9;
  const next = (m: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % m;
  };
  for (const [N, K] of [
    [500, 7],
    [20, 40],
    [13, 1],
    [6, 3],
  ] as const) {
    const labels = Int32Array.from({ length: N }, () => next(K));
    const preds = N === 6 ? new Int32Array(N).fill(2) : Int32Array.from({ length: N }, () => next(K));
    if (N === 6) labels.fill(1);
    const want = new Float64Array(K * K);
    for (let n = 0; n < N; n++) want[labels[n]! * K + preds[n]!]! += 1;
    for (let t = 0; t < want.length; t++) want[t]! /= N;
    assert.deepEqual(confusionMatrix(labels, preds, K), want, `N=${N} K=${K}`);
  }
});
