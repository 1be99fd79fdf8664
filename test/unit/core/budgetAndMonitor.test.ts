// The logit-adjustment warm start's tau choice, the damped coverage multipliers, the feasibility record, the step budget
// derived from the data, and the gain monitor's raise/withdraw rule (docs/ALGORITHM.md sections 2, 3, 5.1, 5.6).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { adjustedMetrics, betterScore, logPrior, tuneTau, TAU_GRID } from '../../../src/core/logitAdjust';
import { defaultObjectiveOptions, updateMultipliers } from '../../../src/core/objectives';
import { feasibilityOf, metricsReport } from '../../../src/core/metrics';
import { softHinge } from '../../../src/core/classStats';
import { emptyGainTrack, monitorChange } from '../../../src/core/gainMonitor';
import { resolveSteps } from '../../../src/core/train';
import { configSchema } from '../../../src/core/config';

test('logPrior: log of the class frequencies, an empty class counted as one', () => {
  const lp = logPrior([0, 0, 0, 1], 3);
  assert.ok(Math.abs(lp[0]! - Math.log(3 / 4)) < 1e-15);
  assert.ok(Math.abs(lp[1]! - Math.log(1 / 4)) < 1e-15);
  assert.ok(Math.abs(lp[2]! - Math.log(1 / 4)) < 1e-15);
});

test('tuneTau picks the tau that fixes a head biased to the frequent class, and keeps tau = 0 when nothing helps', () => {
  // Two classes; every example's logit for class 0 is 1 higher than it should be. Prior 0.9 / 0.1: log-ratio 2.2.
  const labels = Int32Array.from([0, 0, 0, 0, 1, 1, 1, 1]);
  const margin = [0.5, 0.8, 1.2, 0.3, -0.6, -0.4, -0.9, -0.2]; // true logit(1) - logit(0) is -margin for class 0, +|m| for class 1
  const logits = new Float64Array(16);
  labels.forEach((y, i) => { logits[2 * i] = 1 + (y === 0 ? margin[i]! : 0); logits[2 * i + 1] = y === 1 ? -margin[i]! : 0; });
  const lp = Float64Array.from([Math.log(0.9), Math.log(0.1)]);
  const before = adjustedMetrics(logits, labels, 2, lp, 0, 0.5).metrics;
  assert.ok(before.minRecall < 1);
  const c = tuneTau(logits, labels, 2, lp, 0.5, (_C, m) => ({ score: m.minRecall, feasible: true }));
  assert.equal(c.metrics.minRecall, 1);
  assert.ok(c.tau > 0 && TAU_GRID.includes(c.tau));
  // The smallest tau that reaches the best score is kept (ties keep the earlier, smaller tau).
  for (const t of TAU_GRID.filter((t) => t < c.tau)) assert.ok(adjustedMetrics(logits, labels, 2, lp, t, 0.5).metrics.minRecall < 1);
  const flat = tuneTau(logits, labels, 2, lp, 0.5, () => ({ score: 0, feasible: true }));
  assert.equal(flat.tau, 0);
  // Feasible candidates come first.
  assert.ok(betterScore({ score: 0, feasible: true }, { score: 1, feasible: false }));
  assert.ok(!betterScore({ score: 1, feasible: true }, { score: 1, feasible: true }));
});

test('coverage multipliers: damping 0 is the memoryless hinge; damping d averages with the previous ones', () => {
  const K = 4;
  // Column sums 0.4, 0.3, 0.2, 0.1; bound 0.95/4 = 0.2375: classes 2 and 3 violate it.
  const C = new Float64Array(K * K);
  [0.4, 0.3, 0.2, 0.1].forEach((c, l) => { C[l * K + l] = c; });
  const o = defaultObjectiveOptions();
  const hinge = Array.from({ length: K }, (_, l) => softHinge([0.4, 0.3, 0.2, 0.1][l]! - 0.95 / K, o.coverage));
  const prev = Float64Array.from([10, 0, 50, 100]);
  const plain = updateMultipliers('meanRecallMinCoverage', C, K, prev, o)!;
  hinge.forEach((h, l) => assert.ok(Math.abs(plain[l]! - h) < 1e-12));
  const damped = updateMultipliers('meanRecallMinCoverage', C, K, prev, { ...o, coverage: { ...o.coverage, damping: 0.8 } })!;
  hinge.forEach((h, l) => assert.ok(Math.abs(damped[l]! - (0.8 * prev[l]! + 0.2 * h)) < 1e-12));
  // Without previous multipliers (the first refresh) the hinge itself.
  const first = updateMultipliers('meanRecallMinCoverage', C, K, null, { ...o, coverage: { ...o.coverage, damping: 0.8 } })!;
  hinge.forEach((h, l) => assert.ok(Math.abs(first[l]! - h) < 1e-12));
  // An alternating violation: the memoryless hinge swings by about lambdaMax, the damped one by far less.
  const swing = (damping: number): number => {
    let lam: Float64Array | null = null;
    const seen: number[] = [];
    for (let t = 0; t < 40; t++) {
      const c3 = t % 2 === 0 ? 0.15 : 0.3;
      const Ct = new Float64Array(K * K);
      [0.3, 0.3, 0.4 - c3 + 0.0, c3].forEach((c, l) => { Ct[l * K + l] = c; });
      lam = updateMultipliers('meanRecallMinCoverage', Ct, K, lam, { ...o, coverage: { ...o.coverage, damping } })!;
      if (t >= 30) seen.push(lam[3]!);
    }
    return Math.max(...seen) - Math.min(...seen);
  };
  assert.ok(swing(0) > 90, String(swing(0)));
  assert.ok(swing(0.8) < 0.25 * swing(0), String(swing(0.8)));
});

test('feasibilityOf: bound, achieved value and met, for coverage objectives only', () => {
  const K = 2;
  const m = metricsReport(Float64Array.from([0.5, 0, 0.1, 0.4]), K, [1, 1]);
  const f = feasibilityOf('meanRecallMinCoverage', m, K, 0.95)!;
  assert.equal(f.bound, 0.475);
  assert.ok(Math.abs(f.value - 0.4) < 1e-12);
  assert.equal(f.met, false);
  assert.equal(feasibilityOf('meanRecallMinCoverage', m, K, 0.5)!.met, true);
  assert.equal(feasibilityOf('minRecall', m, K, 0.95), null);
});

test('resolveSteps: training.steps when given, else passes over the labeled set (at least one refresh interval)', () => {
  const tr = configSchema.parse({ data: { kind: 'builtin' } }).training;
  assert.equal(tr.steps, undefined);
  assert.equal(resolveSteps(tr, 9922), Math.ceil(10 * 9922 / 64));
  assert.equal(resolveSteps({ ...tr, steps: 77 }, 9922), 77);
  assert.equal(resolveSteps(tr, 3), tr.refreshEvery);
});

test('the gain monitor raises once per episode, withdraws when the correlation over every interval is positive again', () => {
  const track = emptyGainTrack();
  const changes: string[] = [];
  // Predicted gains up, realised changes down for 6 intervals (negative correlation), then strongly aligned ones.
  let obj = 0;
  const step = (pred: number, realised: number) => {
    track.predictedSum = pred;
    track.predictedCount = 1;
    obj += realised;
    const r = monitorChange(track, obj);
    changes.push(r.change);
    return r;
  };
  monitorChange(track, obj); // the first refresh opens the first interval
  for (let i = 0; i < 6; i++) step(i, -i * 0.01);
  assert.deepEqual(changes.filter((c) => c !== 'none'), ['raised']);
  assert.equal(changes.indexOf('raised'), 4); // judged from MONITOR_MIN_INTERVALS = 5 intervals on
  let last = step(0, 0);
  for (let i = 0; i < 40 && last.change !== 'withdrawn'; i++) last = step(20 + i, 1 + i);
  assert.equal(last.change, 'withdrawn');
  assert.ok(last.correlation! > 0);
  assert.deepEqual(changes.filter((c) => c !== 'none'), ['raised', 'withdrawn']);
});
