// Properties of the sampling distribution P (docs/ALGORITHM.md 8.7).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../../../src/core/numerics/rng';
import { TrainingError } from '../../../../src/core/errors';
import { samplingDistribution, smoothDistribution } from '../../../../src/core/numerics/distribution';
import { assertClose, randn } from '../../../helpers/numerics';

const sum = (x: ArrayLike<number>): number => Array.from(x).reduce((a, b) => a + b, 0);

test('P is non-negative, sums to 1, and is the masked joint softmax plus eps, renormalised', () => {
  const rng = new Rng(41);
  const K = 6;
  const G = randn(rng, K * K, 0.5);
  const s = 3,
    eps = 1e-3;
  const P = samplingDistribution(G, K, s, eps);
  assert.ok(P.every((p) => p >= 0));
  assert.ok(Math.abs(sum(P) - 1) < 1e-14);
  // Independent evaluation of section 4 (no max subtraction needed at this scale).
  const e = Array.from(G, (g) => Math.exp(s * g));
  const z = e.reduce((a, b) => a + b, 0);
  const q = Array.from(G, (g, t) => (g > 0 ? e[t]! / z : 0) + eps);
  const qs = q.reduce((a, b) => a + b, 0);
  assertClose(
    P,
    q.map((x) => x / qs),
    1e-14,
    'P',
  );
});

test('entries with G <= 0 get eps / (positive softmax mass + K^2 eps), which is <= eps/(1 + K^2 eps) only when the positive mass is 1', () => {
  const rng = new Rng(42);
  const K = 5;
  const eps = 1e-8;
  const G = randn(rng, K * K);
  // Mostly positive mass: large s concentrates the joint softmax on the top (positive) gain.
  const P = samplingDistribution(G, K, 50, eps);
  for (let t = 0; t < G.length; t++)
    if (G[t]! <= 0) assert.ok(P[t]! <= (eps / (1 + K * K * eps)) * (1 + 1e-9), `${P[t]}`);
  // In general the bound is eps / (sum_{G>0} softmax(sG) + K^2 eps) (docs/ALGORITHM.md section 4; see 8.7).
  const P2 = samplingDistribution(G, K, 0.5, eps);
  const e = Array.from(G, (g) => Math.exp(0.5 * g));
  const z = e.reduce((a, b) => a + b, 0);
  const mpos = Array.from(G).reduce((a, g, t) => a + (g > 0 ? e[t]! / z : 0), 0);
  for (let t = 0; t < G.length; t++) if (G[t]! <= 0) assert.ok(Math.abs(P2[t]! - eps / (mpos + K * K * eps)) < 1e-20);
});

test('no positive gain gives exactly uniform P over all K^2 pairs', () => {
  const K = 4;
  const G = new Float64Array(K * K).map((_, t) => -t * 0.1);
  const P = samplingDistribution(G, K, 10);
  assert.deepEqual(Array.from(P), new Array(K * K).fill(1 / (K * K)));
});

test('s -> 0 is uniform over {G > 0}; s -> infinity puts the mass on argmax G', () => {
  const rng = new Rng(43);
  const K = 6;
  const G = randn(rng, K * K);
  const nPos = Array.from(G).filter((g) => g > 0).length;
  const P0 = samplingDistribution(G, K, 1e-12, 1e-12);
  for (let t = 0; t < G.length; t++) assert.ok(Math.abs(P0[t]! - (G[t]! > 0 ? 1 / nPos : 0)) < 1e-9);
  const Pinf = samplingDistribution(G, K, 1e6);
  let am = 0;
  for (let t = 1; t < G.length; t++) if (G[t]! > G[am]!) am = t;
  assert.ok(Pinf[am]! > 1 - 1e-6);
});

test('P is order-preserving on positive gains, and scaling G by c equals scaling s by c', () => {
  const rng = new Rng(44);
  const K = 7;
  const G = randn(rng, K * K);
  const P = samplingDistribution(G, K, 2);
  const pos = Array.from(G.keys())
    .filter((t) => G[t]! > 0)
    .sort((a, b) => G[a]! - G[b]!);
  for (let t = 0; t + 1 < pos.length; t++) assert.ok(P[pos[t]!]! <= P[pos[t + 1]!]!);
  assertClose(
    samplingDistribution(
      G.map((g) => g * 3.5),
      K,
      2,
    ),
    samplingDistribution(G, K, 7),
    1e-13,
    'scale',
  );
});

test('huge s G does not overflow (max-subtracted softmax)', () => {
  const K = 3;
  const G = Float64Array.from([1000, 999, -5, 0, 2, 1, 998, 3, 4]);
  const P = samplingDistribution(G, K, 10);
  assert.ok(P.every(Number.isFinite));
  assert.ok(Math.abs(sum(P) - 1) < 1e-14);
  assert.ok(P[0]! > 0.99);
});

test('a NaN gain is a TrainingError naming the class pair and what to change', () => {
  const G = Float64Array.from([0.1, 0.2, NaN, 0.3]);
  assert.throws(
    () => samplingDistribution(G, 2, 10),
    (e: unknown) => {
      assert.ok(e instanceof TrainingError, String(e));
      assert.match(e.message, /the gain of class pair \(1, 0\) is NaN.*lower training\.lr.*customObjective/);
      return true;
    },
  );
});

test("smoothDistribution into the new P itself (the loop's way) gives the fresh array's values to the bit", () => {
  const rng = new Rng(8);
  const K = 40;
  const prev = samplingDistribution(randn(rng, K * K, 1), K, 5);
  const next = samplingDistribution(randn(rng, K * K, 1), K, 5);
  const fresh = smoothDistribution(prev, next, 0.37);
  const into = smoothDistribution(prev, next, 0.37, next);
  assert.equal(into, next);
  assert.ok(
    fresh.every((v, t) => Object.is(v, into[t])),
    'every entry as the fresh array has it',
  );
  assert.throws(() => smoothDistribution(prev, fresh, 0.5, new Float64Array(3)), /out has 3 entries, 1600 expected/);
});

test('smoothDistribution: the weighted mean of the previous and the new P, a distribution; the new P when there is no previous one or smoothing 0', () => {
  const prev = Float64Array.from([0.7, 0.1, 0.1, 0.1]);
  const next = Float64Array.from([0, 0, 0, 1]);
  const out = smoothDistribution(prev, next, 0.5);
  assert.deepEqual(Array.from(out), [0.35, 0.05, 0.05, 0.55]);
  assert.ok(Math.abs(out.reduce((a, b) => a + b, 0) - 1) < 1e-12);
  assert.equal(smoothDistribution(null, next, 0.5), next);
  assert.equal(smoothDistribution(prev, next, 0), next);
  assert.throws(() => smoothDistribution(prev, next, 1), /smoothing must be in \[0, 1\)/);
  assert.throws(() => smoothDistribution(prev, Float64Array.from([1]), 0.5), /4 previous entries, 1 new ones/);
  // A pair favoured at one refresh and dropped at the next keeps half its mass, then a quarter: no flip in one refresh.
  const a = Float64Array.from([1, 0]),
    b = Float64Array.from([0, 1]);
  const p1 = smoothDistribution(a, b, 0.5),
    p2 = smoothDistribution(p1, a, 0.5);
  assert.deepEqual(
    [Array.from(p1), Array.from(p2)],
    [
      [0.5, 0.5],
      [0.75, 0.25],
    ],
  );
});

test('an extreme temperature (s = 1e308) gives a finite distribution: the largest positive gain takes the mass, eps the rest', () => {
  const K = 3;
  const G = Float64Array.from([0, 2, 0.5, -1, 0, 1.5, 0.25, 0, 0]);
  const P = samplingDistribution(G, K, 1e308, 1e-8);
  assert.ok(P.every(Number.isFinite), `P = ${Array.from(P).join(', ')}`);
  assert.ok(Math.abs(P.reduce((a, b) => a + b, 0) - 1) < 1e-12);
  assert.ok(P[1]! > 1 - 1e-6, `P[0,1] = ${P[1]}`);
  assert.ok(P[5]! < 1e-7 && P[5]! > 0);
});
