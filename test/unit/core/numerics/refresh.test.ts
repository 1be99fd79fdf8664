// One refresh end to end: the pipeline order of docs/ALGORITHM.md sections 2-4 and degenerate inputs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OBJECTIVE_IDS } from '../../../../src/core/objectives/objectiveIds';
import { Rng } from '../../../../src/core/numerics/rng';
import { computeRefresh, type RefreshCache, type RefreshInput } from '../../../../src/core/numerics/refresh';
import { clipConfusion, confusionMatrix } from '../../../../src/core/numerics/confusion';
import { classCentroids } from '../../../../src/core/numerics/centroids';
import { GainScratch, gainMatrix } from '../../../../src/core/numerics/gain';
import { argmaxRows } from '../../../../src/core/numerics/classStats';
import { ortMatMul } from '../../../../src/backend/onnxRuntime';
import { samplingDistribution } from '../../../../src/core/numerics/distribution';
import { defaultObjectiveOptions, objectiveD, updateMultipliers } from '../../../../src/core/objectives/objectives';
import { validationPass } from '../../../helpers/synthetic';

test('computeRefresh = argmax -> C -> clip -> multipliers (from clipped C, before D) -> D -> Z -> G -> P', () => {
  const rng = new Rng(71);
  const base = validationPass(rng, 6, 5, 120);
  const options = defaultObjectiveOptions();
  for (const objective of OBJECTIVE_IDS) {
    const prev = objective === 'minRecall' ? Float64Array.from([0.3, 0.1, 0.1, 0.2, 0.2, 0.1]) : null;
    const r = computeRefresh({ ...base, objective, prevMultipliers: prev, options, s: 7 });
    const preds = Array.from({ length: 120 }, (_, n) => {
      const row = Array.from(base.logits).slice(n * 6, n * 6 + 6);
      return row.indexOf(Math.max(...row));
    });
    const C = confusionMatrix(base.labels, preds, 6);
    const Cc = clipConfusion(C);
    const lam = updateMultipliers(objective, Cc, 6, prev, options);
    const D = objectiveD(objective, Cc, 6, lam, options);
    const { Z } = classCentroids(base.features, 120, 5, base.labels, 6);
    const G = gainMatrix({ K: 6, d: 5, Z, W: base.W, b: base.b, D });
    const P = samplingDistribution(G, 6, 7, objective === 'meanRecall' ? 1e-10 : 1e-8);
    assert.deepEqual(r.C, C);
    assert.deepEqual(r.Cclipped, Cc);
    assert.deepEqual(r.multipliers, lam);
    assert.deepEqual(r.D, D);
    assert.deepEqual(r.G, G);
    assert.deepEqual(r.P, P);
    assert.equal(r.maxGain, Math.max(...G));
    assert.ok(Number.isFinite(r.objectiveValue) && r.objectiveValue > 0);
  }
});

test('a class absent from validation gives finite outputs and support 0', () => {
  const rng = new Rng(72);
  const base = validationPass(rng, 5, 4, 100, 3);
  for (const objective of OBJECTIVE_IDS) {
    const r = computeRefresh({ ...base, objective, prevMultipliers: null, options: defaultObjectiveOptions(), s: 10 });
    assert.equal(r.metrics.support[3], 0);
    for (const x of [r.D, r.G, r.P, r.Z]) assert.ok(x.every(Number.isFinite), objective);
    assert.ok(Math.abs(r.P.reduce((a, b) => a + b, 0) - 1) < 1e-12);
  }
});

test('computeRefresh rejects mismatched shapes', () => {
  const rng = new Rng(73);
  const base = validationPass(rng, 3, 2, 9);
  assert.throws(
    () =>
      computeRefresh({
        ...base,
        logits: new Float64Array(5),
        objective: 'meanRecall',
        prevMultipliers: null,
        options: defaultObjectiveOptions(),
        s: 1,
      }),
    /logits/,
  );
});

test('the predictions instead of the logits: the same refresh on the exact path; on a float32 provider the centroid logits come from Z W + b, the same G to float32 rounding', () => {
  const rng = new Rng(74);
  const K = 30,
    d = 8,
    N = 240;
  const base = validationPass(rng, K, d, N);
  const { logits, ...rest } = base;
  const preds = argmaxRows(logits, N, K);
  for (const objective of OBJECTIVE_IDS) {
    const inp = { objective, prevMultipliers: null, options: defaultObjectiveOptions(), s: 6 };
    const a = computeRefresh({ ...base, ...inp });
    const b = computeRefresh({ ...rest, preds, ...inp });
    assert.deepEqual(b.preds, a.preds);
    for (const key of ['C', 'D', 'G', 'P'] as const) assert.deepEqual(b[key], a[key], `${objective} ${key}`);
    const f = computeRefresh({ ...base, ...inp, matmul: ortMatMul, logitsFromHead: true });
    const g = computeRefresh({ ...rest, preds, ...inp, matmul: ortMatMul });
    assert.deepEqual(g.C, f.C);
    const scale = Math.max(...a.G.map(Math.abs));
    for (let t = 0; t < K * K; t++) {
      assert.ok(Math.abs(g.G[t]! - a.G[t]!) <= 2e-5 * scale, `${objective} G[${t}] ${g.G[t]} vs exact ${a.G[t]}`);
      assert.ok(Math.abs(g.G[t]! - f.G[t]!) <= 2e-5 * scale, `${objective} G[${t}] ${g.G[t]} vs ${f.G[t]}`);
    }
  }
  const inp = { objective: 'meanRecall' as const, prevMultipliers: null, options: defaultObjectiveOptions(), s: 6 };
  assert.throws(() => computeRefresh({ ...base, preds, ...inp }), /either the logits or the predictions/);
  assert.throws(() => computeRefresh({ ...rest, ...inp }), /either the logits or the predictions/);
  assert.throws(
    () => computeRefresh({ ...rest, preds: preds.subarray(1), ...inp }),
    /239 predictions, expected N = 240/,
  );
});

test('a refresh cache reuses the centroids and S on the same features array, and recomputes them for another array', () => {
  const rng = new Rng(31);
  const K = 12,
    d = 9;
  const base = validationPass(rng, K, d, 60);
  const inp: RefreshInput = {
    ...base,
    objective: 'gMean',
    prevMultipliers: null,
    options: defaultObjectiveOptions(),
    s: 5,
  };
  const plain = computeRefresh(inp);
  const cache: RefreshCache = {};
  const first = computeRefresh({ ...inp, cache });
  assert.equal(cache.features, inp.features);
  assert.ok(cache.Z && cache.gram?.S, 'the first refresh fills the cache');
  const S = cache.gram!.S;
  assert.deepEqual(Array.from(first.G), Array.from(plain.G), 'caching changes nothing in G');
  // A second refresh with another head on the same features: the cached S is used as is, and G is still exact.
  const W2 = base.W.map((w) => w * 1.3);
  const second = computeRefresh({ ...inp, W: W2, cache });
  assert.equal(cache.gram!.S, S, 'S was not recomputed');
  const fresh = computeRefresh({ ...inp, W: W2 });
  assert.ok(second.G.every((g, t) => Math.abs(g - fresh.G[t]!) <= 1e-12 * Math.max(1, Math.abs(fresh.G[t]!))));
  // Other features (e.g. a fine-tuned backbone): new centroids, new S.
  const moved = Float64Array.from(base.features as Float64Array, (x) => x + 0.5);
  const third = computeRefresh({ ...inp, features: moved, cache });
  assert.equal(cache.features, moved);
  assert.notEqual(cache.gram!.S, S);
  const expect = computeRefresh({ ...inp, features: moved });
  assert.deepEqual(Array.from(third.G), Array.from(expect.G));
  assert.deepEqual(Array.from(third.Z), Array.from(expect.Z));
});

test("computeRefresh with a scratch kept between refreshes (the loop's way) gives what fresh arrays give", () => {
  const rng = new Rng(72);
  const options = defaultObjectiveOptions();
  const scratch = new GainScratch();
  const passes = [validationPass(rng, 7, 4, 140), validationPass(rng, 7, 4, 140)];
  const withScratch = passes.map((base) =>
    computeRefresh({ ...base, objective: 'hMean', prevMultipliers: null, options, s: 5, scratch }),
  );
  // The clipped C is the scratch's array: the second refresh wrote its own values over the first's.
  assert.equal(withScratch[0]!.Cclipped, withScratch[1]!.Cclipped);
  const fresh = computeRefresh({ ...passes[1]!, objective: 'hMean', prevMultipliers: null, options, s: 5 });
  const second = withScratch[1]!;
  for (const key of ['C', 'Cclipped', 'D', 'G', 'P'] as const) assert.deepEqual(second[key], fresh[key], key);
});
