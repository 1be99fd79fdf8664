// Small synthetic data for tests: long-tailed Gaussian clusters, one per class, around a unit direction.
import type { Rng } from '../../src/core/rng';

/** perClass[k] points of class k: coordinate k % d is shifted by `separation`, every coordinate gets N(0, 1) noise. */
export function clusterSet(perClass: number[], d: number, rng: Rng, separation: number): { x: Float32Array; y: Int32Array; n: number } {
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
