// The logit-adjustment warm start's tau choice, the damped coverage multipliers, the feasibility record, the step
// budget
// derived from the data, and the gain monitor's raise/withdraw rule (docs/ALGORITHM.md sections 2, 3, 5.1, 5.6).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { adjustedMetrics, betterScore, logPrior, tuneTau, TAU_GRID } from '../../../src/core/numerics/logitAdjust';
import { defaultObjectiveOptions, updateMultipliers } from '../../../src/core/objectives/objectives';
import { feasibilityOf, metricsReport, objectiveScore } from '../../../src/core/numerics/metrics';
import { constraintMultiplier, softHinge } from '../../../src/core/numerics/classStats';
import { emptyGainTrack, monitorChange } from '../../../src/core/numerics/gainMonitor';
import { resolveSteps } from '../../../src/core/training/train';
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
  // The true logit(1) - logit(0) is -margin for class 0 and +|margin| for class 1.
  const margin = [0.5, 0.8, 1.2, 0.3, -0.6, -0.4, -0.9, -0.2];
  const logits = new Float64Array(16);
  labels.forEach((y, i) => {
    logits[2 * i] = 1 + (y === 0 ? margin[i]! : 0);
    logits[2 * i + 1] = y === 1 ? -margin[i]! : 0;
  });
  const lp = Float64Array.from([Math.log(0.9), Math.log(0.1)]);
  const before = adjustedMetrics(logits, labels, 2, lp, 0, 0.5).metrics;
  assert.ok(before.minRecall < 1);
  const c = tuneTau(logits, labels, 2, lp, 0.5, (_C, m) => ({ score: m.minRecall, feasible: true }));
  assert.equal(c.metrics.minRecall, 1);
  assert.ok(c.tau > 0 && TAU_GRID.includes(c.tau));
  // The smallest tau that reaches the best score is kept (ties keep the earlier, smaller tau).
  for (const t of TAU_GRID.filter((t) => t < c.tau))
    assert.ok(adjustedMetrics(logits, labels, 2, lp, t, 0.5).metrics.minRecall < 1);
  const flat = tuneTau(logits, labels, 2, lp, 0.5, () => ({ score: 0, feasible: true }));
  assert.equal(flat.tau, 0);
  // Feasible candidates come first.
  assert.ok(betterScore({ score: 0, feasible: true }, { score: 1, feasible: false }));
  assert.ok(!betterScore({ score: 1, feasible: true }, { score: 1, feasible: true }));
  // Two infeasible candidates: the one nearer its bound, whatever the value; unknown violations fall back to the value.
  assert.ok(
    betterScore({ score: 0.2, feasible: false, violation: 0.001 }, { score: 0.9, feasible: false, violation: 0.01 }),
  );
  assert.ok(
    !betterScore({ score: 0.9, feasible: false, violation: 0.01 }, { score: 0.2, feasible: false, violation: 0.001 }),
  );
  assert.ok(betterScore({ score: 0.9, feasible: false }, { score: 0.2, feasible: false, violation: 0.001 }));
  assert.ok(betterScore({ score: 0.2, feasible: true }, { score: 0.9, feasible: false, violation: 0.001 }));
});

test('coverage multipliers: damping 0 is the memoryless hinge; damping d averages with the previous ones', () => {
  const K = 4;
  // Column sums 0.4, 0.3, 0.2, 0.1; bound 0.95/4 = 0.2375: classes 2 and 3 violate it.
  const C = new Float64Array(K * K);
  [0.4, 0.3, 0.2, 0.1].forEach((c, l) => {
    C[l * K + l] = c;
  });
  const o = defaultObjectiveOptions();
  const hinge = Array.from({ length: K }, (_, l) => softHinge([0.4, 0.3, 0.2, 0.1][l]! - 0.95 / K, o.coverage));
  const prev = Float64Array.from([10, 0, 50, 100]);
  const plain = updateMultipliers('meanRecallMinCoverage', C, K, prev, o)!;
  hinge.forEach((h, l) => assert.ok(Math.abs(plain[l]! - h) < 1e-12));
  const damped = updateMultipliers('meanRecallMinCoverage', C, K, prev, {
    ...o,
    coverage: { ...o.coverage, damping: 0.8 },
  })!;
  hinge.forEach((h, l) => assert.ok(Math.abs(damped[l]! - (0.8 * prev[l]! + 0.2 * h)) < 1e-12));
  // Without previous multipliers (the first refresh) the hinge itself.
  const first = updateMultipliers('meanRecallMinCoverage', C, K, null, {
    ...o,
    coverage: { ...o.coverage, damping: 0.8 },
  })!;
  hinge.forEach((h, l) => assert.ok(Math.abs(first[l]! - h) < 1e-12));
  // An alternating violation: the memoryless hinge swings by about lambdaMax, the damped one by far less.
  const swing = (damping: number): number => {
    let lam: Float64Array | null = null;
    const seen: number[] = [];
    for (let t = 0; t < 40; t++) {
      const c3 = t % 2 === 0 ? 0.15 : 0.3;
      const Ct = new Float64Array(K * K);
      [0.3, 0.3, 0.4 - c3 + 0.0, c3].forEach((c, l) => {
        Ct[l * K + l] = c;
      });
      lam = updateMultipliers('meanRecallMinCoverage', Ct, K, lam, { ...o, coverage: { ...o.coverage, damping } })!;
      if (t >= 30) seen.push(lam[3]!);
    }
    return Math.max(...seen) - Math.min(...seen);
  };
  assert.ok(swing(0) > 90, String(swing(0)));
  assert.ok(swing(0.8) < 0.25 * swing(0), String(swing(0.8)));
});

test("coverage multipliers, 'dual': one projected ascent step on the slack, with a step that decays as 1/sqrt(round + 1)", () => {
  const K = 4;
  const C = new Float64Array(K * K);
  [0.4, 0.3, 0.2, 0.1].forEach((c, l) => {
    C[l * K + l] = c;
  });
  const o = defaultObjectiveOptions();
  const dual = { ...o, coverage: { ...o.coverage, update: 'dual' as const, eta: 0.03 } };
  const prev = Float64Array.from([10, 0, 50, 99]);
  for (const round of [0, 3, 15]) {
    const lam = updateMultipliers('meanRecallMinCoverage', C, K, prev, dual, round)!;
    [0.4, 0.3, 0.2, 0.1].forEach((c, l) => {
      const want = Math.min(100, Math.max(0, prev[l]! - (0.03 / Math.sqrt(round + 1)) * 100 * ((c - 0.95 / K) / 0.01)));
      assert.ok(Math.abs(lam[l]! - want) < 1e-12, `round ${round} class ${l}: ${lam[l]} vs ${want}`);
    });
    // Met with room (classes 0, 1) lowers lambda, towards 0; violated (2, 3) raises it, capped at lambdaMax.
    assert.ok(lam[0]! < prev[0]! && lam[1] === 0 && lam[2]! > prev[2]! && lam[3] === 100);
  }
  // The first refresh starts from 0.
  assert.ok(Math.abs(constraintMultiplier(-0.01, null, 0, dual.coverage) - 3) < 1e-12);
});

test("coverage multipliers in a closed loop: 'dual' settles where the constraint is just met; the damped hinge keeps swinging, violated on average", () => {
  // A toy model of training: class 3's coverage answers its multiplier, cov_3 = 0.15 + 0.002 lambda_3, so the bound
  // 0.95/4 = 0.2375 is met from lambda_3 = 43.75 on. Steep, as in a run (a few lambda move a coverage past its bound).
  const K = 4;
  const o = defaultObjectiveOptions();
  const loop = (coverage: typeof o.coverage): { lam: number[]; slack: number[] } => {
    let lam: Float64Array | null = null;
    const out = { lam: [] as number[], slack: [] as number[] };
    for (let round = 0; round < 60; round++) {
      const c3 = Math.min(0.3, 0.15 + 0.002 * (lam ? lam[3]! : 0));
      const Ct = new Float64Array(K * K);
      [0.5 - c3, 0.25, 0.25, c3].forEach((c, l) => {
        Ct[l * K + l] = c;
      });
      out.slack.push(c3 - 0.95 / K);
      lam = updateMultipliers('meanRecallMinCoverage', Ct, K, lam, { ...o, coverage }, round)!;
      out.lam.push(lam[3]!);
    }
    return out;
  };
  const range = (a: number[]): number => Math.max(...a) - Math.min(...a);
  const dual = loop({ ...o.coverage, update: 'dual', eta: 0.03 });
  const late = dual.lam.slice(-10);
  assert.ok(range(late) < 0.01, `dual: last 10 lambdas span ${range(late)}`);
  assert.ok(Math.abs(late.at(-1)! - 43.75) < 0.01, `dual settles at ${late.at(-1)}`);
  assert.ok(Math.abs(dual.slack.at(-1)!) < 1e-4, `dual: final slack ${dual.slack.at(-1)}`);
  const hinge = loop({ ...o.coverage, update: 'hinge', damping: 0.8 });
  assert.ok(range(hinge.lam.slice(-10)) > 5, `hinge: last 10 lambdas span ${range(hinge.lam.slice(-10))}`);
  const meanSlack = hinge.slack.slice(-10).reduce((a, b) => a + b, 0) / 10;
  assert.ok(meanSlack < -1e-3, `hinge: mean late slack ${meanSlack}`);
});

test('objectiveScore: the value, and the violation (bound - achieved) of an unmet coverage bound', () => {
  const K = 2;
  const m = metricsReport(Float64Array.from([0.5, 0, 0.1, 0.4]), K, [1, 1]);
  const s = objectiveScore('meanRecallMinCoverage', m, K, 0.95);
  assert.equal(s.feasible, false);
  assert.ok(Math.abs(s.violation! - (0.475 - 0.4)) < 1e-12);
  assert.ok(Math.abs(s.score - m.meanRecall) < 1e-15);
  assert.deepEqual(objectiveScore('meanRecallMinCoverage', m, K, 0.5), { score: m.meanRecall, feasible: true });
  assert.deepEqual(objectiveScore('minRecall', m, K, 0.95), { score: m.minRecall, feasible: true });
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
  assert.equal(resolveSteps(tr, 9922), Math.ceil((10 * 9922) / 64));
  assert.equal(resolveSteps({ ...tr, steps: 77 }, 9922), 77);
  assert.equal(resolveSteps(tr, 3), tr.refreshEvery);
});

test('the gain monitor raises once per episode (realised changes against the predicted ones beyond their noise), withdraws when that is no longer so', () => {
  const track = emptyGainTrack();
  const changes: string[] = [];
  // Predicted gains up, realised changes down for 6 intervals (negative correlation), then strongly aligned ones.
  let obj = 0;
  const step = (pred: number, realised: number) => {
    track.predictedSum = pred;
    track.predictedCount = 1;
    obj += realised;
    const r = monitorChange(track, obj, 0.001);
    changes.push(r.change);
    return r;
  };
  monitorChange(track, obj, 0.001); // the first refresh opens the first interval
  for (let i = 0; i < 6; i++) step(i + 1, -(i + 1) * 0.01);
  assert.deepEqual(
    changes.filter((c) => c !== 'none'),
    ['raised'],
  );
  assert.equal(changes.indexOf('raised'), 4); // judged from MONITOR_MIN_INTERVALS = 5 intervals on
  let last = step(1, 0);
  for (let i = 0; i < 100 && last.change !== 'withdrawn'; i++) last = step(20 + i, 1 + i);
  assert.equal(last.change, 'withdrawn');
  assert.deepEqual(
    changes.filter((c) => c !== 'none'),
    ['raised', 'withdrawn'],
  );
});
