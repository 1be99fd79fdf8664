// Custom objectives (src/core/customObjective.ts) in the SelMix pipeline: D against finite differences of the
// Lagrangian through C = pi softmax(C~) (SELMIX.md 8.1, 8.2), parity with the built-in objectives where they
// coincide (min(recall) = minRecall, coverage constraints = meanRecallMinCoverage, ...), the config field,
// and one end-to-end run through runJob.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../../../src/core/rng';
import { clipConfusion } from '../../../src/core/confusion';
import { gainMatrix } from '../../../src/core/gain';
import { computeRefresh } from '../../../src/core/refresh';
import { parseConfig } from '../../../src/core/config';
import { ConfigError, ExprError } from '../../../src/core/errors';
import { metricsReport } from '../../../src/core/metrics';
import { compileCustomObjective, type CustomObjectiveSpec } from '../../../src/core/customObjective';
import { defaultObjectiveOptions, objectiveD, updateMultipliers, type ObjectiveId, type ObjectiveOptions } from '../../../src/core/objectives';
import { encodeNpy } from '../../../src/data/npy';
import { runJob } from '../../../src/worker/job';
import { initBackend } from '../../../src/backend/backend';
import type { RunEvent } from '../../../src/protocol/messages';
import { assertClose, confusionFromUnconstrained, fdGradient, maxAbs, randn, unbalancedPrior, uniformPrior } from '../../helpers/numerics';
import { validationPass } from '../../helpers/synthetic';

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

/** G of a random head and random centroids for D (SELMIX.md section 3). */
function gainOf(D: Float64Array, K: number, seed: number): Float64Array {
  const rng = new Rng(seed);
  const d = 5;
  return gainMatrix({ K, d, Z: randn(rng, K * d, 1), W: randn(rng, d * K, 0.5), b: randn(rng, K, 0.2), D, lambdaBar: 0.8, variant: 'prototype' });
}

/** Compares a custom objective with a built-in one at the same clipped C: multipliers bit-equal, D and G to tol. */
function assertParity(spec: CustomObjectiveSpec, id: ObjectiveId, Cc: Float64Array, K: number, o: ObjectiveOptions, what: string, prevCustom: Float64Array | null = null, prevBuiltin: Float64Array | null = null, sameLayout = true): { custom: Float64Array | null; builtin: Float64Array | null } {
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
  for (const [mode, K] of [['uniformK', 6], ['uniformK', 10], ['rowsum', 7]] as const) {
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
    ({ custom: pc, builtin: pb } = assertParity({ expression: 'min(recall)' }, 'minRecall', Cc, K, o, `refresh ${r}`, pc, pb));
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
  for (const [C, mode] of [[balanced, 'uniformK'], [unbalanced, 'uniformK'], [unbalanced, 'rowsum']] as const) {
    assertParity({ expression: 'gmean(recall)' }, 'gMean', C, K, opts(mode), `gmean ${mode}`);
    assertParity({ expression: 'hmean(recall)' }, 'hMean', C, K, opts(mode), `hmean ${mode}`);
  }
  // headFrac 0.9 with K = 10: head = classes 0..8, tail = class 9; min of two scalars = a two-group softmin
  // (two weights here, spread per class in the built-in).
  assertParity({ expression: 'min(mean(recall[0:9]), mean(recall[9:]))' }, 'minHeadTailRecall', balanced, K, opts(), 'head/tail min', null, null, false);
});

test('mean(recall) with coverage >= 0.95 / K equals meanRecallMinCoverage (and hmean: hMeanMinCoverage) to 1e-12', () => {
  const rng = new Rng(4);
  const K = 8;
  for (const mode of ['uniformK', 'rowsum'] as const) {
    const pi = mode === 'uniformK' ? uniformPrior(K) : unbalancedPrior(rng, K);
    const Cc = clipConfusion(confusionFromUnconstrained(unconstrained(rng, K, 2), pi, K));
    const o = opts(mode);
    const { builtin } = assertParity({ expression: 'mean(recall)', constraints: ['coverage >= 0.95 / K'] }, 'meanRecallMinCoverage', Cc, K, o, `MR + coverage ${mode}`);
    assert.ok(maxAbs(builtin!) > 1, 'the constraint is active (lambda > 1)');
    assertParity({ expression: 'hmean(recall)', constraints: ['coverage >= 0.95 / K'] }, 'hMeanMinCoverage', Cc, K, o, `HM + coverage ${mode}`);
    // Same threshold from a different tau and lambdaMax.
    const o2 = opts(mode);
    o2.coverage = { alpha: 0.95, tau: 0.05, lambdaMax: 30 };
    assertParity({ expression: 'mean(recall)', constraints: ['coverage >= 0.95 / K'] }, 'meanRecallMinCoverage', Cc, K, o2, `MR + coverage, tau 0.05 ${mode}`);
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
  for (const [mode, K] of [['uniformK', 5], ['rowsum', 6]] as const) {
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
        assertClose(D, fd, 1e-6, `${spec.expression} [${spec.constraints?.join('; ') ?? ''}] D vs FD (${mode}, K=${K})`);
        for (let k = 0; k < K; k++) {
          let s = 0;
          let a = 0;
          for (let l = 0; l < K; l++) { s += D[k * K + l]!; a += Math.abs(D[k * K + l]!); }
          assert.ok(Math.abs(s) <= 1e-12 * Math.max(1, a), `${spec.expression}: row ${k} of D sums to ${s}`);
        }
      }
    }
  }
});

test('multiplier layout, feasibility and values from C and from a metrics report', () => {
  const K = 4;
  const c = compileCustomObjective({ expression: 'mean(recall[0:2]) + 2 * min(recall)', constraints: ['coverage >= 0.2', 'recall[3] >= 0.7'] }, K);
  assert.equal(c.multiplierCount, 4 + 4 + 1); // min weights, 4 coverage lambdas, 1 recall lambda
  assert.equal(compileCustomObjective({ expression: 'mean(f1)' }, K).updateMultipliers(new Float64Array(16).fill(1 / 16), null, opts()), null);
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
  assert.equal(compileCustomObjective({ expression: 'mean(recall)', constraints: ['recall >= 0.4'] }, K).feasible(C), true);
});

test('computeRefresh with custom = min(recall) reproduces the built-in minRecall refresh', () => {
  const rng = new Rng(8);
  const K = 5;
  const p = validationPass(rng, K, 4, 400);
  const o = opts();
  const base = { ...p, prevMultipliers: null, options: o, s: 10 };
  const a = computeRefresh({ ...base, objective: 'minRecall' });
  const b = computeRefresh({ ...base, objective: 'meanRecall', custom: compileCustomObjective({ expression: 'min(recall)' }, K) });
  assert.deepEqual(Array.from(b.multipliers!), Array.from(a.multipliers!));
  assertClose(b.D, a.D, 1e-12, 'D');
  assertClose(b.G, a.G, 1e-12, 'G');
  assertClose(b.P, a.P, 1e-9, 'P');
  assert.ok(Math.abs(b.objectiveValue - a.metrics.minRecall) < 1e-15);
});

test('config: customObjective parses; a bad expression is a ConfigError at its path and line', () => {
  const text = (obj: string): string => `{\n  "data": { "kind": "builtin" },\n  "model": { "kind": "pretrained-demo" },\n  "customObjective": {\n    "expression": ${obj},\n    "constraints": ["coverage >= 0.9 / K", "recall[3] >> 0.5"]\n  }\n}\n`;
  const ok = parseConfig(text('"mean(recall[0:5]) + 2 * min(recall)"').replace('recall[3] >> 0.5', 'recall[3] >= 0.5'), 'ok.selmix.json');
  assert.equal(ok.customObjective?.expression, 'mean(recall[0:5]) + 2 * min(recall)');
  assert.deepEqual(ok.customObjective?.constraints, ['coverage >= 0.9 / K', 'recall[3] >= 0.5']);
  assert.throws(() => parseConfig(text('"min(recal)"'), 'bad.selmix.json'), (e: unknown) => {
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
  });
  // K-dependent problems surface when compiling for K, tagged with the field.
  assert.throws(() => compileCustomObjective({ expression: 'mean(recall)', constraints: ['recall[7] >= 0.5'] }, 4), (e: unknown) => {
    assert.ok(e instanceof ExprError);
    assert.equal(e.path, 'customObjective.constraints[0]');
    assert.match(e.message, /index 7 out of range .* at column 8/);
    return true;
  });
});

/** Writes a small synthetic .npy workspace: K = 4 classes, d = 6 features, an imbalanced train set and a biased linear head. */
function workspace(customObjective: CustomObjectiveSpec): { dir: string; cfgPath: string; text: string } {
  const rng = new Rng(11);
  const K = 4;
  const d = 6;
  const means = randn(rng, K * d, 1.2);
  const make = (perClass: number[]): { x: Float32Array; y: Int32Array } => {
    const n = perClass.reduce((a, b) => a + b, 0);
    const x = new Float32Array(n * d);
    const y = new Int32Array(n);
    let i = 0;
    perClass.forEach((m, k) => {
      for (let t = 0; t < m; t++, i++) {
        y[i] = k;
        for (let r = 0; r < d; r++) x[i * d + r] = means[k * d + r]! + rng.normal();
      }
    });
    return { x, y };
  };
  const train = make([200, 80, 30, 12]);
  const val = make([40, 40, 40, 40]);
  // Head: class means as weights (K x d, PyTorch layout) and a bias that favours the head class.
  const W = Float32Array.from(means, (v) => 0.8 * v);
  const b = Float32Array.from([1.0, 0.3, -0.4, -0.9]);
  const dir = mkdtempSync(join(tmpdir(), 'selmix-custom-'));
  const files: [string, Float32Array | Int32Array, number[]][] = [
    ['train_x.npy', train.x, [train.y.length, d]], ['train_y.npy', train.y, [train.y.length]],
    ['val_x.npy', val.x, [val.y.length, d]], ['val_y.npy', val.y, [val.y.length]], ['W.npy', W, [K, d]], ['b.npy', b, [K]],
  ];
  for (const [f, data, shape] of files) writeFileSync(join(dir, f), encodeNpy(data, shape));
  const cfg = {
    name: 'custom objective e2e',
    customObjective,
    data: { kind: 'npy', train: { features: 'train_x.npy', labels: 'train_y.npy' }, val: { features: 'val_x.npy', labels: 'val_y.npy' } },
    model: { kind: 'linear', weights: 'W.npy', bias: 'b.npy' },
    training: { steps: 50, batchSize: 32, lr: 0.05, refreshEvery: 10 },
    output: 'out',
  };
  const text = JSON.stringify(cfg, null, 2) + '\n';
  const cfgPath = join(dir, 'run.selmix.json');
  writeFileSync(cfgPath, text);
  return { dir, cfgPath, text };
}

test('end to end: runJob with customObjective "mean(recall[0:2]) + 2 * min(recall)" (K = 4, d = 6, 50 steps)', async () => {
  await initBackend({ choice: 'cpu' });
  const expression = 'mean(recall[0:2]) + 2 * min(recall)';
  const { cfgPath, text } = workspace({ expression });
  const events: RunEvent[] = [];
  const r = await runJob(text, cfgPath, { emit: (e) => events.push(e), shouldStop: () => false, backend: 'cpu' });
  assert.ok(r.ok, r.ok ? '' : r.message);
  const started = events.find((e) => e.type === 'run/started');
  assert.ok(started && started.type === 'run/started' && started.payload.objective === expression);
  const refreshes = events.filter((e) => e.type === 'run/refresh');
  assert.equal(refreshes.length, 6, 'refreshes at 0, 10, ..., 40 and the final one');
  const c = compileCustomObjective({ expression }, 4);
  for (const e of refreshes) {
    if (e.type !== 'run/refresh') continue;
    assert.equal(e.payload.objective, expression);
    assert.equal(e.payload.multipliers?.length, 4, 'the softmin weights of min(recall)');
    assert.ok(Math.abs(e.payload.objectiveValue - c.valueFromMetrics(e.payload.val)) < 1e-12);
  }
  const s = r.summary;
  assert.equal(s.objective, expression);
  for (const side of [s.before, s.after]) {
    const want = side.val.recall.slice(0, 2).reduce((a, b) => a + b, 0) / 2 + 2 * Math.min(...side.val.recall);
    assert.ok(Number.isFinite(side.objectiveValue) && Math.abs(side.objectiveValue - want) < 1e-12, `${side.objectiveValue} vs ${want}`);
  }
  assert.ok(s.after.objectiveValue >= s.before.objectiveValue, `the best iterate is no worse than the start: ${s.before.objectiveValue} -> ${s.after.objectiveValue}`);
});

test('end to end: an index out of range for the data\'s K fails the run as a config error naming the field and line', async () => {
  await initBackend({ choice: 'cpu' });
  const { cfgPath, text } = workspace({ expression: 'mean(recall)', constraints: ['recall[7] >= 0.5'] });
  const events: RunEvent[] = [];
  const r = await runJob(text, cfgPath, { emit: (e) => events.push(e), shouldStop: () => false, backend: 'cpu' });
  assert.ok(!r.ok);
  assert.equal(r.kind, 'config');
  assert.match(r.message, /line \d+:\d+: customObjective\.constraints\[0\]: index 7 out of range for a vector of 4 entries/);
  assert.ok(!events.some((e) => e.type === 'run/started'), 'caught before the run starts');
});
