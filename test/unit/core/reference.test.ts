// Parity with the independent numpy implementation of docs/ALGORITHM.md sections 2-4
// (test/fixtures/reference/gen_reference.py; K = 5, 10, 20; all nine objectives; both Delta W
// variants and both priors at K <= 10; min recall with memory).
//
// Tolerance (docs/ALGORITHM.md section 7.18): entries whose magnitude is above 1e-5 of the matrix's max |.| must agree
// to 1e-9 relative; smaller entries (near-zero gains, whose sign is rounding noise) to 1e-11 of the max.
// P is compared from the full pipeline when the signs of G agree everywhere, and always from the
// fixture's G through samplingDistribution.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OBJECTIVE_IDS } from '../../../src/core/objectives/objectiveIds';
import { computeRefresh } from '../../../src/core/numerics/refresh';
import { gainMatrix, type DeltaWVariant } from '../../../src/core/numerics/gain';
import { samplingDistribution } from '../../../src/core/numerics/distribution';
import { defaultObjectiveOptions } from '../../../src/core/objectives/objectives';
import type { ObjectiveId } from '../../../src/core/objectives/objectiveIds';

interface Case {
  objective: ObjectiveId;
  priorMode: 'uniformK' | 'rowsum';
  variant: DeltaWVariant;
  beta: number;
  etaLambda: number;
  prev: number[] | null;
  s: number;
  epsMask: number;
  multipliers: number[] | null;
  D: number[];
  G: number[];
  P: number[];
}
interface Fixture {
  K: number;
  d: number;
  N: number;
  labels: number[];
  features: number[];
  W: number[];
  b: number[];
  logits: number[];
  C: number[];
  Z: number[];
  metrics: { meanRecall: number; minRecall: number; gMean: number; hMean: number; coverage: number[] };
  options: { headFrac: number; alpha: number; tau: number; lambdaMax: number; lambdaBar: number };
  cases: Case[];
}

const REL = 1e-9;
const FLOOR = 1e-5;
const ABS_SMALL = 1e-11;

/** Asserts the parity tolerance above; returns the worst relative error on large entries. */
function assertParity(got: ArrayLike<number>, want: number[], what: string): number {
  assert.equal(got.length, want.length, `${what}: length`);
  let mx = 0;
  for (const w of want) mx = Math.max(mx, Math.abs(w));
  let worst = 0;
  for (let t = 0; t < want.length; t++) {
    const g = got[t]!,
      w = want[t]!;
    if (Math.abs(w) > FLOOR * mx) {
      const rel = Math.abs(g - w) / Math.abs(w);
      worst = Math.max(worst, rel);
      assert.ok(rel <= REL, `${what}[${t}]: ${g} vs ${w} (relative ${rel.toExponential(2)})`);
    } else {
      assert.ok(Math.abs(g - w) <= ABS_SMALL * mx, `${what}[${t}] (small): ${g} vs ${w}`);
    }
  }
  return worst;
}

const dir = join(import.meta.dirname, '../../fixtures/reference');

for (const K of [5, 10, 20]) {
  test(`numpy reference K=${K}: C, multipliers, D, G and P for every objective`, () => {
    const fx = JSON.parse(readFileSync(join(dir, `reference_K${K}.json`), 'utf8')) as Fixture;
    assert.equal(fx.K, K);
    const seen = new Set<string>();
    let worst = 0;
    let pFromPipeline = 0;
    for (const c of fx.cases) {
      const options = defaultObjectiveOptions();
      options.priorMode = c.priorMode;
      options.headFrac = fx.options.headFrac;
      options.minRecall = { beta: c.beta, etaLambda: c.etaLambda };
      options.coverage = { alpha: fx.options.alpha, tau: fx.options.tau, lambdaMax: fx.options.lambdaMax };
      const label = `K=${K} ${c.objective} ${c.priorMode} ${c.variant} beta=${c.beta}`;
      const r = computeRefresh({
        K,
        d: fx.d,
        features: fx.features,
        labels: fx.labels,
        logits: fx.logits,
        W: Float64Array.from(fx.W),
        b: Float64Array.from(fx.b),
        objective: c.objective,
        prevMultipliers: c.prev ? Float64Array.from(c.prev) : null,
        options,
        s: c.s,
        lambdaBar: fx.options.lambdaBar,
        variant: c.variant,
        epsMask: c.epsMask,
      });
      assertParity(r.C, fx.C, `${label} C`);
      assertParity(r.Z, fx.Z, `${label} Z`);
      if (c.multipliers === null) assert.equal(r.multipliers, null, label);
      else worst = Math.max(worst, assertParity(r.multipliers!, c.multipliers, `${label} multipliers`));
      worst = Math.max(worst, assertParity(r.D, c.D, `${label} D`));
      worst = Math.max(worst, assertParity(r.G, c.G, `${label} G`));
      // G from the fixture's own D isolates the gain kernel.
      assertParity(
        gainMatrix({
          K,
          d: fx.d,
          Z: Float64Array.from(fx.Z),
          W: Float64Array.from(fx.W),
          b: Float64Array.from(fx.b),
          D: Float64Array.from(c.D),
          lambdaBar: fx.options.lambdaBar,
          variant: c.variant,
        }),
        c.G,
        `${label} G from fixture D`,
      );
      assertParity(samplingDistribution(Float64Array.from(c.G), K, c.s, c.epsMask), c.P, `${label} P from fixture G`);
      if (c.G.every((g, t) => g > 0 === r.G[t]! > 0)) {
        assertParity(r.P, c.P, `${label} P`);
        pFromPipeline++;
      }
      seen.add(c.objective);
      if (c.priorMode === 'uniformK' && c.variant === 'prototype' && c.beta === 0) {
        const m = r.metrics;
        assert.ok(
          Math.abs(m.meanRecall - fx.metrics.meanRecall) < 1e-12 &&
            Math.abs(m.minRecall - fx.metrics.minRecall) < 1e-12,
        );
        assert.ok(Math.abs(m.gMean - fx.metrics.gMean) < 1e-12 && Math.abs(m.hMean - fx.metrics.hMean) < 1e-12);
        assertParity(m.coverage, fx.metrics.coverage, `${label} coverage`);
      }
    }
    assert.deepEqual([...seen].sort(), [...OBJECTIVE_IDS].sort(), 'every objective has a case');
    assert.ok(
      pFromPipeline >= fx.cases.length - 2,
      `P compared end to end on only ${pFromPipeline}/${fx.cases.length} cases`,
    );
    assert.ok(worst <= REL);
  });
}
