// The compiled-objective interface (src/core/objectives/compiledObjective.ts): a built-in objective behind it is the
// very functions of objectives.ts and metrics.ts (bit for bit), a custom one reports its constraint, and every switch
// over the objective ids is exhaustive at compile time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../../../src/core/numerics/rng';
import { clipConfusion } from '../../../../src/core/numerics/confusion';
import {
  feasibilityOf,
  metricsReport,
  objectiveMetricValue,
  objectiveScore,
} from '../../../../src/core/numerics/metrics';
import { compileBuiltinObjective } from '../../../../src/core/objectives/compiledObjective';
import { compileObjective } from '../../../../src/core/objectives/compileObjective';
import {
  defaultObjectiveOptions,
  objectiveD,
  psi,
  updateMultipliers,
} from '../../../../src/core/objectives/objectives';
import { OBJECTIVE_IDS, unknownObjective, type ObjectiveId } from '../../../../src/core/objectives/objectiveIds';
import { confusionFromUnconstrained, randn, unbalancedPrior } from '../../../helpers/numerics';

const K = 6;
const support = new Array<number>(K).fill(50);

/** A random joint confusion matrix with an unbalanced prior. */
function randomC(rng: Rng): Float64Array {
  return confusionFromUnconstrained(randn(rng, K * K, 1.5), unbalancedPrior(rng, K), K);
}

test('a built-in objective behind the compiled interface is objectives.ts and metrics.ts bit for bit', () => {
  const rng = new Rng(21);
  const o = defaultObjectiveOptions();
  for (const id of OBJECTIVE_IDS) {
    const c = compileBuiltinObjective(id, K);
    assert.equal(c.name, id);
    assert.equal(c.id, id);
    let prevA: Float64Array | null = null;
    let prevB: Float64Array | null = null;
    for (let round = 0; round < 3; round++) {
      const C = randomC(rng);
      const Cc = clipConfusion(C);
      const m = metricsReport(C, K, support, o.headFrac);
      const a = c.updateMultipliers(Cc, prevA, o, round);
      const b = updateMultipliers(id, Cc, K, prevB, o, round);
      assert.deepEqual(a && Array.from(a), b && Array.from(b), `${id}: multipliers`);
      assert.equal(c.multiplierCount, b ? b.length : 0, `${id}: multiplier count`);
      assert.deepEqual(Array.from(c.D(Cc, a, o)), Array.from(objectiveD(id, Cc, K, b, o)), `${id}: D`);
      assert.equal(c.lagrangian(Cc, a, o), psi(id, Cc, K, o, b), `${id}: lagrangian`);
      assert.equal(c.valueAt(C, m), objectiveMetricValue(id, m), `${id}: value`);
      assert.equal(c.valueFromMetrics(m), objectiveMetricValue(id, m), `${id}: value from metrics`);
      assert.deepEqual(c.scoreAt(C, m, 0.95), objectiveScore(id, m, K, 0.95), `${id}: score`);
      assert.deepEqual(c.feasibility(m, 0.95), feasibilityOf(id, m, K, 0.95), `${id}: feasibility`);
      prevA = a;
      prevB = b;
    }
  }
});

test('compileObjective: the custom expression when the config has one, else the built-in objective', () => {
  assert.equal(compileObjective({ objective: 'gMean' }, K).id, 'gMean');
  const c = compileObjective({ objective: 'gMean', customObjective: { expression: 'min(recall)' } }, K);
  assert.equal(c.id, null);
  assert.equal(c.name, 'min(recall)');
});

test('a custom constraint is reported as lhs >= c when its right side is a number, else by its slack', () => {
  const rng = new Rng(5);
  const C = randomC(rng);
  const m = metricsReport(C, K, support);
  const minCov = Math.min(...m.coverage);
  const lower = compileObjective(
    { objective: 'meanRecall', customObjective: { expression: 'mean(recall)', constraints: ['coverage >= 0.1'] } },
    K,
  );
  const f = lower.feasibility(m, 0.95)!;
  assert.equal(f.constraint, 'smallest entry of coverage');
  assert.equal(f.bound, 0.1);
  assert.ok(Math.abs(f.value - minCov) < 1e-12, `${f.value} vs ${minCov}`);
  assert.equal(f.met, minCov >= 0.1);
  // An upper bound has no "lhs >= c" form: its slack 0.5 - max(recall) >= 0.
  const upper = compileObjective(
    { objective: 'meanRecall', customObjective: { expression: 'mean(recall)', constraints: ['max(recall) <= 0.5'] } },
    K,
  );
  const g = upper.feasibility(m, 0.95)!;
  assert.equal(g.constraint, 'the slack of max(recall) <= 0.5');
  assert.equal(g.bound, 0);
  assert.ok(Math.abs(g.value - (0.5 - Math.max(...m.recall))) < 1e-12);
  assert.equal(g.met, Math.max(...m.recall) <= 0.5);
  // No constraint: nothing to report, as for an unconstrained built-in.
  const none = compileObjective({ objective: 'meanRecall', customObjective: { expression: 'mean(recall)' } }, K);
  assert.equal(none.feasibility(m, 0.95), null);
  assert.equal(none.infeasibility(m, { alpha: 0.95, keptStep: 0, classNames: [], warm: null }), null);
});

test('a switch over the objective ids that leaves one out does not compile, and an unknown id is a RangeError', () => {
  /** Leaves out eight of the nine ids: the default's unknownObjective(id) is a type error (id is not never). */
  const partial = (id: ObjectiveId): number => {
    switch (id) {
      case 'meanRecall':
        return 1;
      default:
        // @ts-expect-error -- id is not narrowed to never: the compile-time check this test pins
        return unknownObjective(id);
    }
  };
  assert.equal(partial('meanRecall'), 1);
  assert.throws(() => partial('gMean'), /unknown objective "gMean"/);
  const C = clipConfusion(randomC(new Rng(3)));
  const bogus = 'bogus' as ObjectiveId;
  const o = defaultObjectiveOptions();
  assert.throws(() => objectiveD(bogus, C, K, null, o), RangeError);
  assert.throws(() => psi(bogus, C, K, o), RangeError);
  assert.throws(() => objectiveMetricValue(bogus, metricsReport(C, K, support)), RangeError);
});
