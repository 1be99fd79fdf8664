// Custom objectives (src/core/objectives/customObjective.ts) in the SelMix pipeline: D against finite differences of
// the
// Lagrangian through C = pi softmax(C~) (docs/ALGORITHM.md 8.1, 8.2), parity with the built-in objectives where
// they coincide (min(recall) = minRecall, coverage constraints = meanRecallMinCoverage, ...), the config field,
// and non-finite values named with their field. The end-to-end runs are in customObjectiveRun.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../../../src/core/numerics/rng';
import { clipConfusion } from '../../../../src/core/numerics/confusion';
import { gainMatrix } from '../../../../src/core/numerics/gain';
import { computeRefresh } from '../../../../src/core/numerics/refresh';
import { parseConfig } from '../../../../src/core/config';
import { ConfigError, ExprError } from '../../../../src/core/errors';
import { metricsReport } from '../../../../src/core/numerics/metrics';
import { compileCustomObjective, type CustomObjectiveSpec } from '../../../../src/core/objectives/customObjective';
import {
  defaultObjectiveOptions,
  objectiveD,
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
import { validationPass } from '../../../helpers/synthetic';

function opts(priorMode: 'uniformK' | 'rowsum' = 'uniformK'): ObjectiveOptions {
  const o = defaultObjectiveOptions();
  o.priorMode = priorMode;
  return o;
}

/** C~ with a strong diagonal (recalls away from 0); lowCol pushes one column's coverage below 0.95/K. */
function unconstrained(rng: Rng, K: number, lowCol = -1): Float64Array {
  const Ct = randn(rng, K * K, 1);
  for (let k = 0; k < K; k++) {
    Ct[k * K + k]! += 1.5;
    if (lowCol >= 0) Ct[k * K + lowCol]! -= 2.5;
  }
  return Ct;
}

/** G of a random head and random centroids for D (docs/ALGORITHM.md section 3). */
function gainOf(D: Float64Array, K: number, seed: number): Float64Array {
  const rng = new Rng(seed);
  const d = 5;
  return gainMatrix({
    K,
    d,
    Z: randn(rng, K * d, 1),
    W: randn(rng, d * K, 0.5),
    b: randn(rng, K, 0.2),
    D,
    lambdaBar: 0.8,
    variant: 'prototype',
  });
}

/** Compares a custom objective with a built-in one at the same clipped C: multipliers bit-equal, D and G to tol. */
function assertParity(
  spec: CustomObjectiveSpec,
  id: ObjectiveId,
  Cc: Float64Array,
  K: number,
  o: ObjectiveOptions,
  what: string,
  prevCustom: Float64Array | null = null,
  prevBuiltin: Float64Array | null = null,
  sameLayout = true,
): { custom: Float64Array | null; builtin: Float64Array | null } {
  const tol = 1e-12;
  const c = compileCustomObjective(spec, K);
  const mc = c.updateMultipliers(Cc, prevCustom, o);
  const mb = updateMultipliers(id, Cc, K, prevBuiltin, o);
  if (sameLayout) assert.deepEqual(mc ? Array.from(mc) : null, mb ? Array.from(mb) : null, `${what}: multipliers`);
  const Dc = c.D(Cc, mc, o);
  const Db = objectiveD(id, Cc, K, mb, o);
  assert.ok(maxAbs(Db) > 1e-3, `${what}: D is trivially small`);
  assertClose(Dc, Db, tol, `${what}: D`);
  assertClose(gainOf(Dc, K, 5), gainOf(Db, K, 5), tol, `${what}: G`);
  return { custom: mc, builtin: mb };
}

test('min(recall) equals the built-in minRecall: same multipliers, D and G (balanced uniformK, unbalanced rowsum)', () => {
  const rng = new Rng(1);
  for (const [mode, K] of [
    ['uniformK', 6],
    ['uniformK', 10],
    ['rowsum', 7],
  ] as const) {
    const pi = mode === 'uniformK' ? uniformPrior(K) : unbalancedPrior(rng, K);
    const Cc = clipConfusion(confusionFromUnconstrained(unconstrained(rng, K), pi, K));
    assertParity({ expression: 'min(recall)' }, 'minRecall', Cc, K, opts(mode), `min(recall) ${mode} K=${K}`);
  }
});

test('min(recall) with beta = 1 carries its multipliers across refreshes exactly like minRecall (Hedge)', () => {
  const rng = new Rng(2);
  const K = 6;
  const o = opts();
  o.minRecall = { beta: 1, etaLambda: 7 };
  let pc: Float64Array | null = null;
  let pb: Float64Array | null = null;
  for (let r = 0; r < 3; r++) {
    const Cc = clipConfusion(confusionFromUnconstrained(unconstrained(rng, K), uniformPrior(K), K));
    ({ custom: pc, builtin: pb } = assertParity(
      { expression: 'min(recall)' },
      'minRecall',
      Cc,
      K,
      o,
      `refresh ${r}`,
      pc,
      pb,
    ));
  }
});

test('mean(recall), gmean(recall), hmean(recall) and the head/tail min equal meanRecall, gMean, hMean, minHeadTailRecall', () => {
  const rng = new Rng(3);
  const K = 10;
  const balanced = clipConfusion(confusionFromUnconstrained(unconstrained(rng, K), uniformPrior(K), K));
  const unbalanced = clipConfusion(confusionFromUnconstrained(unconstrained(rng, K), unbalancedPrior(rng, K), K));
  assertParity({ expression: 'mean(recall)' }, 'meanRecall', balanced, K, opts(), 'mean(recall) uniformK');
  assertParity({ expression: 'mean(recall)' }, 'meanRecall', unbalanced, K, opts('rowsum'), 'mean(recall) rowsum');
  // G-mean and H-mean use the exact gradient in the built-ins too, so they agree even on unbalanced rows with uniformK.
  for (const [C, mode] of [
    [balanced, 'uniformK'],
    [unbalanced, 'uniformK'],
    [unbalanced, 'rowsum'],
  ] as const) {
    assertParity({ expression: 'gmean(recall)' }, 'gMean', C, K, opts(mode), `gmean ${mode}`);
    assertParity({ expression: 'hmean(recall)' }, 'hMean', C, K, opts(mode), `hmean ${mode}`);
  }
  // headFrac 0.9 with K = 10: head = classes 0..8, tail = class 9; min of two scalars = a two-group softmin
  // (two weights here, spread per class in the built-in).
  assertParity(
    { expression: 'min(mean(recall[0:9]), mean(recall[9:]))' },
    'minHeadTailRecall',
    balanced,
    K,
    opts(),
    'head/tail min',
    null,
    null,
    false,
  );
});

test('mean(recall) with coverage >= 0.95 / K equals meanRecallMinCoverage (and hmean: hMeanMinCoverage) to 1e-12', () => {
  const rng = new Rng(4);
  const K = 8;
  for (const mode of ['uniformK', 'rowsum'] as const) {
    const pi = mode === 'uniformK' ? uniformPrior(K) : unbalancedPrior(rng, K);
    const Cc = clipConfusion(confusionFromUnconstrained(unconstrained(rng, K, 2), pi, K));
    const o = opts(mode);
    const { builtin } = assertParity(
      { expression: 'mean(recall)', constraints: ['coverage >= 0.95 / K'] },
      'meanRecallMinCoverage',
      Cc,
      K,
      o,
      `MR + coverage ${mode}`,
    );
    assert.ok(maxAbs(builtin!) > 1, 'the constraint is active (lambda > 1)');
    assertParity(
      { expression: 'hmean(recall)', constraints: ['coverage >= 0.95 / K'] },
      'hMeanMinCoverage',
      Cc,
      K,
      o,
      `HM + coverage ${mode}`,
    );
    // Same threshold from a different tau and lambdaMax.
    const o2 = opts(mode);
    o2.coverage = { alpha: 0.95, tau: 0.05, lambdaMax: 30 };
    assertParity(
      { expression: 'mean(recall)', constraints: ['coverage >= 0.95 / K'] },
      'meanRecallMinCoverage',
      Cc,
      K,
      o2,
      `MR + coverage, tau 0.05 ${mode}`,
    );
  }
});

const CASES: CustomObjectiveSpec[] = [
  { expression: 'mean(recall[0:2]) + 2 * min(recall)' },
  { expression: 'mean(f1)' },
  { expression: 'gmean(recall) - 0.5 * max(precision[1:])' },
  { expression: 'log(min(recall)) + mean(precision)' },
  { expression: 'min(mean(recall[:2]), mean(recall[2:]))' },
  { expression: 'mean(recall)', constraints: ['coverage >= 0.9 / K', 'recall[3] >= 0.5', 'min(recall) >= 0.6'] },
  { expression: 'mean(f1)', constraints: ['precision[0] <= 0.7', 'coverage[1:3] >= 0.2'] },
];

test('D of custom objectives matches central finite differences of the Lagrangian of pi softmax(C~) (uniformK and rowsum)', () => {
  const rng = new Rng(6);
  for (const [mode, K] of [
    ['uniformK', 5],
    ['rowsum', 6],
  ] as const) {
    const o = opts(mode);
    for (const spec of CASES) {
      const c = compileCustomObjective(spec, K);
      const pi = mode === 'uniformK' ? uniformPrior(K) : unbalancedPrior(rng, K);
      const Ct = unconstrained(rng, K, 1);
      const C = confusionFromUnconstrained(Ct, pi, K);
      // Updated multipliers, then random positive ones (every constraint active; D is exact for any fixed multipliers).
      const updated = c.updateMultipliers(clipConfusion(C), null, o);
      const random = updated ? Float64Array.from(updated, () => 0.1 + 3 * rng.next()) : null;
      for (const m of [updated, random]) {
        const D = c.D(clipConfusion(C), m, o);
        const fd = fdGradient((x) => c.lagrangian(confusionFromUnconstrained(x, pi, K), m, o), Ct, 1e-5);
        assert.ok(maxAbs(D) > 1e-4, `${spec.expression}: D is trivially small`);
        assertClose(
          D,
          fd,
          1e-6,
          `${spec.expression} [${spec.constraints?.join('; ') ?? ''}] D vs FD (${mode}, K=${K})`,
        );
        for (let k = 0; k < K; k++) {
          let s = 0;
          let a = 0;
          for (let l = 0; l < K; l++) {
            s += D[k * K + l]!;
            a += Math.abs(D[k * K + l]!);
          }
          assert.ok(Math.abs(s) <= 1e-12 * Math.max(1, a), `${spec.expression}: row ${k} of D sums to ${s}`);
        }
      }
    }
  }
});

test('multiplier layout, feasibility and values from C and from a metrics report', () => {
  const K = 4;
  const c = compileCustomObjective(
    { expression: 'mean(recall[0:2]) + 2 * min(recall)', constraints: ['coverage >= 0.2', 'recall[3] >= 0.7'] },
    K,
  );
  assert.equal(c.multiplierCount, 4 + 4 + 1); // min weights, 4 coverage lambdas, 1 recall lambda
  assert.equal(
    compileCustomObjective({ expression: 'mean(f1)' }, K).updateMultipliers(
      new Float64Array(16).fill(1 / 16),
      null,
      opts(),
    ),
    null,
  );
  // Counts: recall 0.8, 0.6, 0.9, 0.5; coverage of class 3 is 14/80 < 0.2; recall[3] = 0.5 < 0.7.
  const counts = [16, 2, 1, 1, 2, 12, 4, 2, 0, 1, 18, 1, 4, 2, 4, 10];
  const C = Float64Array.from(counts, (x) => x / 80);
  const m = metricsReport(C, K, [20, 20, 20, 20]);
  assert.ok(Math.abs(c.value(C) - (0.7 + 2 * 0.5)) < 1e-14);
  assert.ok(Math.abs(c.valueFromMetrics(m) - c.value(C)) < 1e-14);
  assert.equal(c.feasible(C), false);
  assert.equal(c.feasibleFromMetrics(m), false);
  const lam = c.updateMultipliers(clipConfusion(C), null, opts())!;
  assert.ok(Math.abs(lam.subarray(0, 4).reduce((a, b) => a + b, 0) - 1) < 1e-14, 'min weights on the simplex');
  assert.ok(lam[3]! > 0.99, 'the softmin concentrates on the worst class');
  const covLam = lam.subarray(4, 8);
  const cov = [22 / 80, 17 / 80, 27 / 80, 14 / 80];
  cov.forEach((v, l) => assert.equal(covLam[l]! > 0, v < 0.2, `coverage lambda ${l}`));
  assert.ok(lam[8]! > 0, 'recall[3] >= 0.7 is violated: its lambda is positive');
  assert.equal(
    compileCustomObjective({ expression: 'mean(recall)', constraints: ['recall >= 0.4'] }, K).feasible(C),
    true,
  );
});

test('computeRefresh with custom = min(recall) reproduces the built-in minRecall refresh', () => {
  const rng = new Rng(8);
  const K = 5;
  const p = validationPass(rng, K, 4, 400);
  const o = opts();
  const base = { ...p, prevMultipliers: null, options: o, s: 10 };
  const a = computeRefresh({ ...base, objective: 'minRecall' });
  const b = computeRefresh({ ...base, objective: compileCustomObjective({ expression: 'min(recall)' }, K) });
  assert.deepEqual(Array.from(b.multipliers!), Array.from(a.multipliers!));
  assertClose(b.D, a.D, 1e-12, 'D');
  assertClose(b.G, a.G, 1e-12, 'G');
  assertClose(b.P, a.P, 1e-9, 'P');
  assert.ok(Math.abs(b.objectiveValue - a.metrics.minRecall) < 1e-15);
});

test('config: customObjective parses; a bad expression is a ConfigError at its path and line', () => {
  const text = (obj: string): string =>
    `{\n  "data": { "kind": "builtin" },\n  "model": { "kind": "pretrained-demo" },\n  "customObjective": {\n    "expression": ${obj},\n    "constraints": ["coverage >= 0.9 / K", "recall[3] >> 0.5"]\n  }\n}\n`;
  const ok = parseConfig(
    text('"mean(recall[0:5]) + 2 * min(recall)"').replace('recall[3] >> 0.5', 'recall[3] >= 0.5'),
    'ok.selmix.json',
  );
  assert.equal(ok.customObjective?.expression, 'mean(recall[0:5]) + 2 * min(recall)');
  assert.deepEqual(ok.customObjective?.constraints, ['coverage >= 0.9 / K', 'recall[3] >= 0.5']);
  assert.throws(
    () => parseConfig(text('"min(recal)"'), 'bad.selmix.json'),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      const exprIssue = e.issues.find((i) => i.path === 'customObjective.expression');
      assert.ok(exprIssue, JSON.stringify(e.issues));
      assert.equal(exprIssue.line, 5);
      assert.equal(exprIssue.message, 'unknown name "recal" at column 5; did you mean "recall"?');
      const consIssue = e.issues.find((i) => i.path === 'customObjective.constraints[1]');
      assert.ok(consIssue, 'the bad constraint is reported too');
      assert.equal(consIssue.line, 6);
      assert.match(consIssue.message, /unexpected character ">" at column 11/);
      assert.match(e.message, /line 5:\d+: customObjective\.expression: unknown name "recal"/);
      return true;
    },
  );
  // K-dependent problems surface when compiling for K, tagged with the field.
  assert.throws(
    () => compileCustomObjective({ expression: 'mean(recall)', constraints: ['recall[7] >= 0.5'] }, 4),
    (e: unknown) => {
      assert.ok(e instanceof ExprError);
      assert.equal(e.path, 'customObjective.constraints[0]');
      assert.match(e.message, /index 7 out of range .* at column 8/);
      return true;
    },
  );
});

test('an objective or constraint that divides by 0 or takes log(0) fails the refresh with an ExprError naming its field, not a NaN gain', () => {
  const K = 4;
  const C = new Float64Array(K * K).fill(1 / (K * K)); // every recall and coverage 0.25
  const o = opts();
  const obj = compileCustomObjective({ expression: 'mean(recall) + 1 / (recall[0] - recall[1])' }, K);
  assert.throws(
    () => obj.D(C, obj.updateMultipliers(C, null, o), o),
    (e: unknown) => {
      assert.ok(e instanceof ExprError);
      assert.equal(e.path, 'customObjective.expression');
      assert.equal(e.column, 18);
      assert.match(
        e.message,
        /^customObjective\.expression "mean\(recall\) \+ 1 \/ \(recall\[0\] - recall\[1\]\)" is not finite at the current confusion matrix: "\/" at column 18 gives Infinity; a division by 0/,
      );
      return true;
    },
  );
  const cons = compileCustomObjective(
    { expression: 'min(recall)', constraints: ['coverage >= 0.1', 'log(coverage[2] - 0.25) >= -3'] },
    K,
  );
  assert.throws(
    () => cons.updateMultipliers(C, null, o),
    (e: unknown) => {
      assert.ok(e instanceof ExprError);
      assert.equal(e.path, 'customObjective.constraints[1]');
      assert.match(
        e.message,
        /^customObjective\.constraints\[1\] "log\(coverage\[2\] - 0\.25\) >= -3" is not finite .*log\(\.\.\.\) at column 1 gives -Infinity/,
      );
      return true;
    },
  );
  // Through a whole refresh: the same error, before any gain is computed.
  const rng = new Rng(8);
  const p = validationPass(rng, K, 4, 400);
  const sqrt0 = compileCustomObjective({ expression: 'mean(recall) + sqrt(recall[0] - recall[0])' }, K);
  assert.throws(
    () => computeRefresh({ ...p, prevMultipliers: null, options: o, s: 10, objective: sqrt0 }),
    (e: unknown) => {
      assert.ok(e instanceof ExprError, String(e));
      assert.equal(e.path, 'customObjective.expression');
      assert.match(e.message, /has a derivative that is not finite .* sqrt\(\.\.\.\) at column 16 gives Infinity/);
      return true;
    },
  );
});
