// The pair sampler (docs/ALGORITHM.md section 4 and 8.10): chi-square against its realised joint, class membership.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../../../src/core/numerics/rng';
import { TrainingError } from '../../../../src/core/errors';
import { PairSampler } from '../../../../src/core/numerics/sampler';
import { samplingDistribution } from '../../../../src/core/numerics/distribution';
import { randn } from '../../../helpers/numerics';
import { chiSquare, chiSquareQuantileUpper, gammaQ } from '../../../helpers/stats';

/** Example labels 0..K-1 with n_k examples of class k, shuffled; returns labels and indices by class. */
function makeSet(rng: Rng, counts: number[]): { labels: number[]; byClass: number[][] } {
  const labels = counts.flatMap((n, k) => new Array<number>(n).fill(k));
  rng.shuffle(labels);
  const byClass = counts.map(() => [] as number[]);
  labels.forEach((y, i) => byClass[y]!.push(i));
  return { labels, byClass };
}

test('chi-square quantiles match tables', () => {
  // Tabulated upper 0.001 points: df 1 -> 10.828, 10 -> 29.588, 100 -> 149.449.
  assert.ok(Math.abs(chiSquareQuantileUpper(1, 0.001) - 10.828) < 1e-3);
  assert.ok(Math.abs(chiSquareQuantileUpper(10, 0.001) - 29.588) < 1e-3);
  assert.ok(Math.abs(chiSquareQuantileUpper(100, 0.001) - 149.449) < 1e-3);
  assert.ok(Math.abs(gammaQ(1, 2) - Math.exp(-2)) < 1e-14);
});

test('the realised joint is p(i) p(j|i) with p(i) ∝ sum_j P_ij + K eps and p(j|i) ∝ P_ij + eps', () => {
  const rng = new Rng(51);
  const K = 6;
  const P = samplingDistribution(randn(rng, K * K), K, 2);
  const by = Array.from({ length: K }, (_, k) => [k]);
  const eps = 1 / K ** 3;
  const J = new PairSampler({ P, K, anchorsByClass: by, partnersByClass: by, rng }).jointProbabilities();
  let s = 0;
  for (let i = 0; i < K; i++) {
    let row = 0;
    for (let j = 0; j < K; j++) row += P[i * K + j]!;
    for (let j = 0; j < K; j++) {
      const want = ((row + K * eps) / (1 + K * K * eps)) * ((P[i * K + j]! + eps) / (row + K * eps));
      assert.ok(Math.abs(J[i * K + j]! - want) < 1e-15);
      s += J[i * K + j]!;
    }
  }
  assert.ok(Math.abs(s - 1) < 1e-14);
});

test('1e5 draws match jointProbabilities (chi-square at p = 0.001), and every anchor/partner is from its class', () => {
  const rng = new Rng(52);
  const K = 10;
  const P = samplingDistribution(randn(rng, K * K, 0.5), K, 3);
  const anchors = makeSet(rng, [40, 30, 20, 12, 8, 6, 4, 3, 2, 1]);
  const partners = makeSet(rng, [5, 9, 13, 17, 21, 25, 29, 33, 37, 41]);
  const sampler = new PairSampler({
    P,
    K,
    anchorsByClass: anchors.byClass,
    partnersByClass: partners.byClass,
    rng: new Rng(1234),
  });
  const n = 100000;
  const { anchors: a, partners: p, anchorClass, partnerClass } = sampler.draw(n);
  const counts = new Float64Array(K * K);
  const withinA = anchors.byClass.map((c) => new Float64Array(c.length));
  for (let t = 0; t < n; t++) {
    assert.equal(anchors.labels[a[t]!], anchorClass[t]);
    assert.equal(partners.labels[p[t]!], partnerClass[t]);
    counts[anchorClass[t]! * K + partnerClass[t]!]! += 1;
    withinA[anchorClass[t]!]![anchors.byClass[anchorClass[t]!]!.indexOf(a[t]!)]! += 1;
  }
  const J = sampler.jointProbabilities();
  const { stat, df } = chiSquare(counts, J, n);
  const crit = chiSquareQuantileUpper(df, 0.001);
  assert.ok(df > 50, `df ${df}`);
  assert.ok(stat < crit, `chi2 ${stat.toFixed(1)} >= ${crit.toFixed(1)} (df ${df})`);
  // Within class 0 (40 examples), anchors are uniform.
  const c0 = withinA[0]!;
  const tot0 = c0.reduce((x, y) => x + y, 0);
  const w = chiSquare(c0, new Float64Array(c0.length).fill(1 / c0.length), tot0);
  assert.ok(w.stat < chiSquareQuantileUpper(w.df, 0.001), `within-class chi2 ${w.stat}`);
  // The test has power: the draws do not fit the unsmoothed P itself on a sharper P.
  const Psharp = samplingDistribution(randn(new Rng(9), K * K), K, 20);
  const s2 = new PairSampler({
    P: Psharp,
    K,
    anchorsByClass: anchors.byClass,
    partnersByClass: partners.byClass,
    rng: new Rng(5),
  });
  const d2 = s2.draw(n);
  const c2 = new Float64Array(K * K);
  for (let t = 0; t < n; t++) c2[d2.anchorClass[t]! * K + d2.partnerClass[t]!]! += 1;
  const wrong = chiSquare(
    c2,
    Array.from(Psharp, (x) => 0.5 * x + 0.5 / (K * K)),
    n,
  );
  assert.ok(wrong.stat > chiSquareQuantileUpper(wrong.df, 0.001));
});

test('classes with no anchors or no partners get probability 0; nothing left throws', () => {
  const K = 4;
  const P = new Float64Array(K * K).fill(1 / 16);
  const anchorsByClass = [[0], [], [1, 2], [3]];
  const partnersByClass = [[0], [1], [], [2]];
  const s = new PairSampler({ P, K, anchorsByClass, partnersByClass, rng: new Rng(3) });
  const J = s.jointProbabilities();
  for (let j = 0; j < K; j++) assert.equal(J[1 * K + j], 0);
  for (let i = 0; i < K; i++) assert.equal(J[i * K + 2], 0);
  const d = s.draw(2000);
  assert.ok(d.anchorClass.every((c) => c !== 1) && d.partnerClass.every((c) => c !== 2));
  assert.throws(
    () => new PairSampler({ P, K, anchorsByClass: [[], [], [], []], partnersByClass, rng: new Rng(3) }),
    /anchor/,
  );
  assert.throws(
    () => new PairSampler({ P, K, anchorsByClass, partnersByClass: [[], [], [], []], rng: new Rng(3) }),
    /partner/,
  );
});

test('draws are reproducible from the seed at K = 1000 (speed is measured by npm run bench, not here)', () => {
  const K = 1000;
  const rng = new Rng(6);
  const P = samplingDistribution(randn(rng, K * K, 0.1), K, 10);
  const by = Array.from({ length: K }, (_, k) => [2 * k, 2 * k + 1]);
  const s1 = new PairSampler({ P, K, anchorsByClass: by, partnersByClass: by, rng: new Rng(77) });
  const a = s1.draw(100000);
  const b = new PairSampler({ P, K, anchorsByClass: by, partnersByClass: by, rng: new Rng(77) }).draw(100000);
  assert.deepEqual(a.anchors, b.anchors);
  assert.deepEqual(a.partners, b.partners);
});

test('a sampler that cannot draw is a TrainingError that names the setting to change', () => {
  const K = 3;
  const P = new Float64Array(K * K).fill(1 / 9);
  const anchorsByClass = [[0], [1], [2]];
  // Every unlabeled example below the pseudo-label threshold: no partner in any class.
  assert.throws(
    () => new PairSampler({ P, K, anchorsByClass, partnersByClass: [[], [], []], rng: new Rng(1) }),
    (e: unknown) => {
      assert.ok(e instanceof TrainingError, String(e));
      assert.match(e.message, /no partner example .*selmix\.pseudoLabelThreshold: lower the threshold/);
      return true;
    },
  );
  // Zero smoothing and no mass towards the only class with partners.
  const Pz = Float64Array.from([1, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.throws(
    () =>
      new PairSampler({
        P: Pz,
        K,
        anchorsByClass: [[], [1], [2]],
        partnersByClass: [[0], [], []],
        eps: 0,
        rng: new Rng(1),
      }),
    (e: unknown) => {
      assert.ok(e instanceof TrainingError, String(e));
      assert.match(e.message, /no \(anchor, partner\) class pair can be drawn.*selmix\.samplerEps/);
      return true;
    },
  );
});

test('PairSampler: the draws of a seed are pinned (hashes from the array-stack alias tables it replaced)', () => {
  // The hashes were printed by the earlier implementation (number[] stacks) on these inputs; the typed-stack tables
  // must draw the same pairs, so a seeded run reproduces across the change.
  const expected: Record<number, number> = { 3: 1910764070, 10: 2009862757, 100: 1694959578, 400: 1154436702 };
  for (const K of [3, 10, 100, 400]) {
    const r = new Rng(K);
    const P = Float64Array.from({ length: K * K }, () => (r.next() < 0.3 ? 0 : r.next() ** 3));
    const anchors = Array.from({ length: K }, (_, k) =>
      k % 7 === 3 ? [] : Array.from({ length: 1 + (k % 5) }, (_, t) => k * 10 + t),
    );
    const partners = Array.from({ length: K }, (_, k) =>
      k % 5 === 2 ? [] : Array.from({ length: 1 + (k % 3) }, (_, t) => k * 10 + t),
    );
    const d = new PairSampler({ P, K, anchorsByClass: anchors, partnersByClass: partners, rng: new Rng(9) }).draw(5000);
    let h = 0;
    for (const key of ['anchors', 'partners', 'anchorClass', 'partnerClass'] as const)
      for (const v of d[key]) h = (h * 31 + v) >>> 0;
    assert.equal(h, expected[K], `K = ${K}`);
  }
});

/** Vose's alias table written out with two plain lists (the form the sampler had): the reference of the next test. */
function referenceTable(w: Float64Array): { prob: Float64Array; alias: Int32Array } {
  const n = w.length;
  const prob = new Float64Array(n);
  const alias = new Int32Array(n);
  const total = w.reduce((a, b) => a + b, 0);
  const scaled = Float64Array.from(w, (v) => (v * n) / total);
  const small: number[] = [];
  const large: number[] = [];
  scaled.forEach((v, i) => (v < 1 ? small : large).push(i));
  while (small.length > 0 && large.length > 0) {
    const s = small.pop()!;
    const l = large[large.length - 1]!;
    prob[s] = scaled[s]!;
    alias[s] = l;
    scaled[l] = scaled[l]! + scaled[s]! - 1;
    if (scaled[l]! < 1) small.push(large.pop()!);
  }
  for (const i of large) [prob[i], alias[i]] = [1, i];
  const first = w.findIndex((v) => v > 0);
  for (const i of small) [prob[i], alias[i]] = w[i]! > 0 ? [1, i] : [0, first];
  return { prob, alias };
}

test('the draws are the ones of the list-based alias tables, to the last pair (K = 300, an empty partner class)', () => {
  const K = 300;
  const rng = new Rng(12);
  const P = samplingDistribution(randn(rng, K * K, 0.3), K, 10);
  const anchors = Array.from({ length: K }, (_, k) => [3 * k, 3 * k + 1, 3 * k + 2]);
  const partners = anchors.map((a, k) => (k === 7 ? [] : a));
  const eps = 1 / (K * K * K);
  // The reference: p(i) ∝ sum_j P_ij + K eps, p(j|i) ∝ P_ij + eps over the classes with partners.
  const rows: Float64Array[] = [];
  const aw = new Float64Array(K);
  for (let i = 0; i < K; i++) {
    const row = new Float64Array(K);
    let rowSum = 0;
    for (let j = 0; j < K; j++) {
      rowSum += P[i * K + j]!;
      if (partners[j]!.length > 0) row[j] = P[i * K + j]! + eps;
    }
    aw[i] = rowSum + K * eps;
    rows.push(row);
  }
  const sample = (t: { prob: Float64Array; alias: Int32Array }, u: number): number => {
    const x = u * t.prob.length;
    const i = Math.min(t.prob.length - 1, Math.floor(x));
    return x - i < t.prob[i]! ? i : t.alias[i]!;
  };
  const anchorTable = referenceTable(aw);
  const partnerTables = rows.map(referenceTable);
  const r = new Rng(5);
  const got = new PairSampler({ P, K, anchorsByClass: anchors, partnersByClass: partners, rng: new Rng(5) }).draw(
    20000,
  );
  for (let t = 0; t < 20000; t++) {
    const i = sample(anchorTable, r.next());
    const j = sample(partnerTables[i]!, r.next());
    const a = anchors[i]![r.int(3)]!;
    const p = partners[j]![r.int(partners[j]!.length)]!;
    assert.deepEqual(
      [got.anchorClass[t], got.partnerClass[t], got.anchors[t], got.partners[t]],
      [i, j, a, p],
      `draw ${t}`,
    );
  }
});
