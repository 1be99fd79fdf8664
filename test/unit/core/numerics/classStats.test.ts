// The class statistics of src/core/numerics/classStats.ts: sums, recall/precision with the 0/0 policy, the means, the
// soft hinge, the Hedge multipliers, the argmax NaN policy and the statistics recovered from a metrics report.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TrainingError } from '../../../../src/core/errors';
import {
  argmaxRows,
  classStats,
  colSums,
  gMean,
  headCount,
  hedgeWeights,
  hMean,
  mean,
  precisionsOf,
  recalls,
  rowSums,
  softHinge,
  statsFromMetrics,
  sum,
} from '../../../../src/core/numerics/classStats';
import { metricsReport } from '../../../../src/core/numerics/metrics';
import { classSupport, confusionMatrix } from '../../../../src/core/numerics/confusion';
import { adjustedMetrics } from '../../../../src/core/numerics/logitAdjust';
import { Rng } from '../../../../src/core/numerics/rng';
import { assertClose } from '../../../helpers/numerics';

/**
 * Counts (rows = true class) of a 3-class example, normalised jointly: recall 0.8, 0.6, 0.9; precision 0.8, 0.75, 0.75.
 */
const C3 = Float64Array.from([8, 1, 1, 2, 6, 2, 0, 1, 9], (c) => c / 30);

test('row sums, column sums, recall and precision of a hand-computed C', () => {
  assertClose(rowSums(C3, 3), [1 / 3, 1 / 3, 1 / 3], 1e-15, 'R');
  assertClose(colSums(C3, 3), [10 / 30, 8 / 30, 12 / 30], 1e-15, 'cov');
  assertClose(recalls(C3, 3), [0.8, 0.6, 0.9], 1e-15, 'recall');
  assertClose(precisionsOf(classStats(C3, 3)), [0.8, 0.75, 0.75], 1e-15, 'precision');
  assert.throws(() => classStats(C3, 4), RangeError);
});

test('a class with no examples has recall 0 and a class never predicted has precision 0 (no NaN)', () => {
  const C = Float64Array.from([5, 5, 0, 0, 0, 0, 0, 0, 10], (c) => c / 20);
  assert.deepEqual(Array.from(recalls(C, 3)), [0.5, 0, 1]);
  assert.deepEqual(Array.from(precisionsOf(classStats(C, 3))), [1, 0, 1]);
});

test('sum, mean (with a range and a mask), G-mean and H-mean', () => {
  const xs = [0.8, 0.6, 0.9];
  assert.equal(sum(xs), 0.8 + 0.6 + 0.9);
  assert.equal(mean(xs), (0.8 + 0.6 + 0.9) / 3);
  assert.equal(mean(xs, 1, 3), (0.6 + 0.9) / 2);
  assert.equal(
    mean(xs, 0, 3, (i) => i !== 1),
    (0.8 + 0.9) / 2,
  );
  assert.ok(Number.isNaN(mean(xs, 0, 3, () => false)), 'NaN when nothing is kept');
  assert.ok(Math.abs(gMean(xs) - Math.cbrt(0.8 * 0.6 * 0.9)) < 1e-15);
  assert.ok(Math.abs(hMean(xs) - 3 / (1 / 0.8 + 1 / 0.6 + 1 / 0.9)) < 1e-15);
  assert.equal(gMean([0.5, 0]), 0);
  assert.equal(hMean([0.5, 0]), 0);
});

test('headCount keeps both groups non-empty', () => {
  assert.equal(headCount(10, 0.9), 9);
  assert.equal(headCount(2, 0.9), 1);
  assert.equal(headCount(5, 0.01), 1);
  assert.equal(headCount(5, 0.99), 4);
});

test('soft hinge: 0 when the constraint holds with room, lambdaMax (1 - e^(slack/tau)) when violated', () => {
  const o = { tau: 0.01, lambdaMax: 100 };
  assert.equal(softHinge(0.05, o), 0);
  assert.equal(softHinge(0, o), 0);
  assert.equal(softHinge(-0.01, o), 100 * (1 - Math.exp(-1)));
  assert.equal(softHinge(-Infinity, o), 100);
});

test('Hedge weights: softmin/softmax without memory, exponentiated gradient with beta = 1, uniform on -Infinity', () => {
  const v = [0.2, 0.5, 0.9];
  const e = v.map((x) => Math.exp(-10 * (x - 0.2)));
  const z = e.reduce((a, b) => a + b, 0);
  assertClose(
    hedgeWeights(v, null, 0, 10, -1),
    e.map((x) => x / z),
    1e-15,
    'softmin',
  );
  const m = hedgeWeights(v, null, 0, 10, 1);
  assert.ok(m[2]! > m[1]! && m[1]! > m[0]!, 'softmax favours the largest');
  const prev = [0.5, 0.25, 0.25];
  const w = prev.map((p, i) => p * Math.exp(-10 * v[i]!));
  const s = w.reduce((a, b) => a + b, 0);
  assertClose(
    hedgeWeights(v, prev, 1, 10, -1),
    w.map((x) => x / s),
    1e-15,
    'Hedge',
  );
  assert.deepEqual(Array.from(hedgeWeights([0.1, 0.2], [0, 0], 1, 10, -1)), [0.5, 0.5]);
});

test('argmaxRows: the first maximum; a NaN logit anywhere in a row is a TrainingError naming the example', () => {
  assert.deepEqual(Array.from(argmaxRows([1, 3, 3, -Infinity, -Infinity, -Infinity, 0, -1, 2], 3, 3)), [1, 0, 2]);
  for (const row of [
    [NaN, 1, 2],
    [1, NaN, 2],
    [1, 2, NaN],
  ]) {
    assert.throws(
      () => argmaxRows([0, 1, 0, ...row], 2, 3),
      (e: unknown) => e instanceof TrainingError && /example 1 are NaN.*lower the learning rate/.test(e.message),
    );
  }
});

test('statsFromMetrics recovers diag(C), row sums and coverage from a metrics report', () => {
  const m = metricsReport(C3, 3, [10, 10, 10]);
  const a = statsFromMetrics(m);
  const b = classStats(C3, 3);
  assertClose(a.diag, b.diag, 1e-15, 'diag');
  assertClose(a.R, b.R, 1e-15, 'R');
  assertClose(a.cov, b.cov, 1e-15, 'cov');
});

test('argmaxRows with a shift equals argmaxRows of the shifted copy, ties and NaN included; adjustedMetrics equals its copying form', () => {
  const rng = new Rng(5);
  const n = 300,
    K = 37;
  // Coarse values so that shifted entries tie often.
  const logits = Float32Array.from({ length: n * K }, () => Math.round(rng.next() * 8) / 4);
  const labels = Int32Array.from({ length: n }, (_, i) => i % K);
  const lp = Float64Array.from({ length: K }, () => -Math.round(rng.next() * 12) / 4);
  for (const tau of [0, 0.25, 1, 2.5]) {
    const shift = Float64Array.from(lp, (v) => tau * v);
    const copy = new Float64Array(n * K);
    for (let i = 0; i < n; i++) for (let k = 0; k < K; k++) copy[i * K + k] = logits[i * K + k]! - tau * lp[k]!;
    assert.deepEqual(argmaxRows(logits, n, K, shift), argmaxRows(copy, n, K), `tau ${tau}`);
    const C = confusionMatrix(labels, argmaxRows(copy, n, K), K);
    const got = adjustedMetrics(logits, labels, K, lp, tau, 0.5);
    assert.deepEqual(got.C, C, `tau ${tau}`);
    assert.deepEqual(got.metrics, metricsReport(C, K, classSupport(labels, K), 0.5), `tau ${tau}`);
  }
  const bad = Float64Array.from(logits);
  bad[7 * K + 3] = NaN;
  assert.throws(
    () => argmaxRows(bad, n, K, lp),
    (e: unknown) => e instanceof TrainingError && /example 7 are NaN/.test(e.message),
  );
  assert.throws(() => argmaxRows(logits, n, K, lp.subarray(1)), RangeError);
});
