// The gain matrix by its definition (docs/ALGORITHM.md section 3, steps 1-6), built explicitly in O(K^4 d):
// for every pair (i, j) the mixed centroid, its head probabilities, the d x K update Delta W^(ij), the
// K x K change Delta C~^(ij) and the sum of D . Delta C~. Used as the test oracle of gainMatrix and
// by the benchmark; deliberately shares no code with src/core/numerics/gain.ts.
import type { GainArgs } from '../../src/core/numerics/gain';

/** G[i*K+j] = sum_{k,l} D_kl Delta C~^(ij)_kl with Delta C~ from an explicit Delta W (docs/ALGORITHM.md section 3). */
export function bruteForceGain(args: GainArgs): Float64Array {
  const { K, d, Z, W, b, D } = args;
  const lb = args.lambdaBar ?? 0.8;
  const mixed = (args.variant ?? 'prototype') === 'mixed';
  const G = new Float64Array(K * K);
  const zt = new Float64Array(d);
  const p = new Float64Array(K);
  const dW = new Float64Array(d * K);
  for (let i = 0; i < K; i++) {
    for (let j = 0; j < K; j++) {
      // Step 2: mixed centroid.
      for (let r = 0; r < d; r++) zt[r] = lb * Z[i * d + r]! + (1 - lb) * Z[j * d + r]!;
      // Step 3: the head on the mixed centroid, bias included, then a softmax.
      let mx = -Infinity;
      for (let l = 0; l < K; l++) {
        let a = b[l]!;
        for (let r = 0; r < d; r++) a += W[r * K + l]! * zt[r]!;
        p[l] = a;
        mx = Math.max(mx, a);
      }
      let s = 0;
      for (let l = 0; l < K; l++) {
        p[l] = Math.exp(p[l]! - mx);
        s += p[l]!;
      }
      for (let l = 0; l < K; l++) p[l]! /= s;
      // Step 4: Delta W_{:,l} = delta_li u - p_l z~, u = z_i (prototype) or z~ (mixed).
      for (let r = 0; r < d; r++) {
        const u = mixed ? zt[r]! : Z[i * d + r]!;
        for (let l = 0; l < K; l++) dW[r * K + l] = (l === i ? u : 0) - p[l]! * zt[r]!;
      }
      // Steps 5-6: Delta C~_kl = Delta W_{:,l} . z_k, G_ij = sum D_kl Delta C~_kl.
      let g = 0;
      for (let k = 0; k < K; k++) {
        for (let l = 0; l < K; l++) {
          let dc = 0;
          for (let r = 0; r < d; r++) dc += dW[r * K + l]! * Z[k * d + r]!;
          g += D[k * K + l]! * dc;
        }
      }
      G[i * K + j] = g;
    }
  }
  return G;
}
