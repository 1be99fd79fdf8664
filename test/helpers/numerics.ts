// Shared test helpers for the core numerics: seeded random inputs, the row-softmax map
// C = pi * softmax(C~) of docs/ALGORITHM.md section 1, finite differences and tolerance checks.
import assert from 'node:assert/strict';
import type { Rng } from '../../src/core/numerics/rng';

/** A Float64Array of n normal draws times scale. */
export function randn(rng: Rng, n: number, scale = 1): Float64Array {
  const x = new Float64Array(n);
  for (let t = 0; t < n; t++) x[t] = rng.normal() * scale;
  return x;
}

/**
 * out[n K + l] = b_l + sum_r X[n d + r] W[r K + l]: N rows of X (N x d) through the head W (d x K) and b, each sum in
 * float64 (row order) and stored as out's type holds it. Returns out.
 */
export function affineRows<T extends Float32Array | Float64Array>(
  X: ArrayLike<number>,
  W: ArrayLike<number>,
  b: ArrayLike<number>,
  N: number,
  d: number,
  K: number,
  out: T,
): T {
  for (let n = 0; n < N; n++)
    for (let l = 0; l < K; l++) {
      let a = b[l]!;
      for (let r = 0; r < d; r++) a += X[n * d + r]! * W[r * K + l]!;
      out[n * K + l] = a;
    }
  return out;
}

/** C_kl = pi_k softmax(Ct_k,.)_l (docs/ALGORITHM.md section 1), K x K row-major. */
export function confusionFromUnconstrained(Ct: ArrayLike<number>, pi: ArrayLike<number>, K: number): Float64Array {
  const C = new Float64Array(K * K);
  for (let k = 0; k < K; k++) {
    let mx = -Infinity;
    for (let l = 0; l < K; l++) mx = Math.max(mx, Ct[k * K + l]!);
    let s = 0;
    for (let l = 0; l < K; l++) {
      C[k * K + l] = Math.exp(Ct[k * K + l]! - mx);
      s += C[k * K + l]!;
    }
    for (let l = 0; l < K; l++) C[k * K + l] = (pi[k]! * C[k * K + l]!) / s;
  }
  return C;
}

/** Balanced priors 1/K. */
export function uniformPrior(K: number): Float64Array {
  return new Float64Array(K).fill(1 / K);
}

/** Random unbalanced priors in [0.5, 2] / sum. */
export function unbalancedPrior(rng: Rng, K: number): Float64Array {
  const p = new Float64Array(K);
  let s = 0;
  for (let k = 0; k < K; k++) {
    p[k] = 0.5 + 1.5 * rng.next();
    s += p[k]!;
  }
  for (let k = 0; k < K; k++) p[k]! /= s;
  return p;
}

/** Central finite-difference gradient of f at x (a copy is perturbed). */
export function fdGradient(f: (x: Float64Array) => number, x: Float64Array, h = 1e-5): Float64Array {
  const g = new Float64Array(x.length);
  const y = Float64Array.from(x);
  for (let t = 0; t < x.length; t++) {
    y[t] = x[t]! + h;
    const fp = f(y);
    y[t] = x[t]! - h;
    const fm = f(y);
    y[t] = x[t]!;
    g[t] = (fp - fm) / (2 * h);
  }
  return g;
}

/** max |x|. */
export function maxAbs(x: ArrayLike<number>): number {
  let m = 0;
  for (let t = 0; t < x.length; t++) m = Math.max(m, Math.abs(x[t]!));
  return m;
}

/** Asserts max |a - b| <= tol * max(1, max |b|) when relative, else <= tol; reports the worst entry. */
export function assertClose(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  tol: number,
  what: string,
  relative = true,
): void {
  assert.equal(a.length, b.length, `${what}: lengths differ`);
  const scale = relative ? Math.max(1e-300, maxAbs(b)) : 1;
  let worst = 0;
  let at = -1;
  for (let t = 0; t < a.length; t++) {
    const e = Math.abs(a[t]! - b[t]!);
    if (!(e <= worst)) {
      worst = e;
      at = t;
    }
  }
  assert.ok(
    worst <= tol * scale,
    `${what}: max error ${worst.toExponential(3)} at ${at} (got ${a[at]}, want ${b[at]}), tolerance ${(tol * scale).toExponential(3)}`,
  );
}
