// Small synthetic data for tests: long-tailed Gaussian clusters, one per class, around a unit direction, and a
// validation pass of a random linear head.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../../src/core/numerics/rng';
import { writeNpy } from '../../src/data/npy';
import { affineRows, randn } from './numerics';

/** perClass[k] points of class k: coordinate k % d is shifted by `separation`, every coordinate gets N(0, 1) noise. */
export function clusterSet(
  perClass: number[],
  d: number,
  rng: Rng,
  separation: number,
): { x: Float32Array; y: Int32Array; n: number } {
  const n = perClass.reduce((a, b) => a + b, 0);
  const x = new Float32Array(n * d);
  const y = new Int32Array(n);
  let i = 0;
  perClass.forEach((c, k) => {
    for (let m = 0; m < c; m++, i++) {
      y[i] = k;
      for (let r = 0; r < d; r++) x[i * d + r] = (r === k % d ? separation : 0) + rng.normal();
    }
  });
  return { x, y, n };
}

/**
 * A random validation pass: N examples of K classes (round robin; skipClass, if given, gets none) with d features
 * around random class means, and the float64 logits of a random head that leans towards those means.
 */
export function validationPass(rng: Rng, K: number, d: number, N: number, skipClass = -1) {
  const labels = Array.from({ length: N }, (_, n) => {
    const y = n % K;
    return y === skipClass ? (y + 1) % K : y;
  });
  const means = randn(rng, K * d, 1.5);
  const features = new Float64Array(N * d);
  for (let n = 0; n < N; n++)
    for (let r = 0; r < d; r++) features[n * d + r] = means[labels[n]! * d + r]! + rng.normal();
  const W = randn(rng, d * K, 0.3);
  for (let k = 0; k < K; k++) for (let r = 0; r < d; r++) W[r * K + k]! += 0.5 * means[k * d + r]!;
  const b = randn(rng, K, 0.2);
  const logits = affineRows(features, W, b, N, d, K, new Float64Array(N * K));
  return { K, d, features, labels, logits, W, b };
}

/**
 * A temp folder with long-tailed train (trx/try.npy) and validation (vax/vay.npy) clusters and a weak diagonal head
 * W.npy.
 */
export function writeLinearJob(prefix: string, train: number[], val: number[], d: number, seed: number): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const rng = new Rng(seed);
  const K = train.length;
  for (const [name, counts] of [
    ['tr', train],
    ['va', val],
  ] as const) {
    const s = clusterSet(counts, d, rng, 1.5);
    writeNpy(join(dir, `${name}x.npy`), s.x, [s.n, d]);
    writeNpy(join(dir, `${name}y.npy`), s.y, [s.n]);
  }
  const W = new Float32Array(K * d);
  for (let k = 0; k < K; k++) W[k * d + k] = 0.5;
  writeNpy(join(dir, 'W.npy'), W, [K, d]);
  return dir;
}
