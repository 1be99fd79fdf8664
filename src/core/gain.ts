// The gain matrix G of SELMIX.md section 3 in closed form: O(K^2 d + K^3) time, O(K^2) memory.
//
// With S = Z Z^T and E = S D (section 3, "Closed form"):
//   prototype: G_ij = E_ii                            - sum_l p^ij_l (lb E_il + (1-lb) E_jl)
//   mixed:     G_ij = lb E_ii + (1-lb) E_ji           - sum_l p^ij_l (lb E_il + (1-lb) E_jl)
// where p^ij = softmax(lb a_i + (1-lb) a_j) and a_k = W^T z_k + b (section 3, step 3).
// The softmax factorises: exp(lb a_il + (1-lb) a_jl) = U_il V_jl with U_il = exp(lb (a_il - max_l a_il))
// and V_jl = exp((1-lb)(a_jl - max_l a_jl)), both in (0, 1]. So the K^2 softmaxes of length K need
// only K^2 exponentials, and the three sums over l are matrix products U V^T, (U.E) V^T, U (V.E)^T.

/** Which positive term the modelled head update uses: class centroid z_i (reference) or mixed centroid (exact CE gradient). */
export type DeltaWVariant = 'prototype' | 'mixed';

/** Arguments of gainMatrix: centroids Z (K x d), head W (d x K) and b (K), D = dpsi/dC~ (K x K). */
export interface GainArgs {
  K: number;
  d: number;
  Z: Float64Array;
  W: Float64Array;
  b: Float64Array;
  D: Float64Array;
  /** Mean mixup weight of the anchor, (lambdaMin + 1)/2; default 0.8 (SELMIX.md section 3, step 1). */
  lambdaBar?: number;
  /** Default 'prototype' (reference parity). */
  variant?: DeltaWVariant;
}

/** Rows of j processed per cache block in the K^3 kernels. */
const BLOCK = 16;

/**
 * out[i*m + j] = X_i . Y_j for X (n x d) and Y (m x d), both row-major; 2x2 register tiles, Y blocked.
 * With symmetric (X = Y, n = m) only j >= i tiles are computed and mirrored.
 */
function dotRows(X: Float64Array, n: number, Y: Float64Array, m: number, d: number, out: Float64Array, symmetric: boolean): void {
  for (let jb = 0; jb < m; jb += BLOCK) {
    const jEnd = Math.min(m, jb + BLOCK);
    const iEnd = symmetric ? Math.min(n, jEnd) : n;
    for (let i0 = 0; i0 < iEnd; i0 += 2) {
      const i1 = Math.min(i0 + 1, n - 1);
      const x0 = i0 * d;
      const x1 = i1 * d;
      const jStart = symmetric ? Math.max(jb, i0 - (i0 % 2)) : jb;
      for (let j0 = jStart; j0 < jEnd; j0 += 2) {
        const j1 = Math.min(j0 + 1, m - 1);
        const y0 = j0 * d;
        const y1 = j1 * d;
        let s00 = 0, s01 = 0, s10 = 0, s11 = 0;
        for (let r = 0; r < d; r++) {
          const a0 = X[x0 + r]!, a1 = X[x1 + r]!;
          const b0 = Y[y0 + r]!, b1 = Y[y1 + r]!;
          s00 += a0 * b0; s01 += a0 * b1;
          s10 += a1 * b0; s11 += a1 * b1;
        }
        out[i0 * m + j0] = s00; out[i0 * m + j1] = s01;
        out[i1 * m + j0] = s10; out[i1 * m + j1] = s11;
        if (symmetric) {
          out[j0 * m + i0] = s00; out[j1 * m + i0] = s01;
          out[j0 * m + i1] = s10; out[j1 * m + i1] = s11;
        }
      }
    }
  }
}

/** Logits of the K centroids, A_kl = sum_r Z_kr W_rl + b_l (K x K; SELMIX.md section 3, step 3). */
export function centroidLogits(Z: Float64Array, W: Float64Array, b: Float64Array, K: number, d: number): Float64Array {
  const Wt = new Float64Array(K * d);
  for (let r = 0; r < d; r++) for (let l = 0; l < K; l++) Wt[l * d + r] = W[r * K + l]!;
  const A = new Float64Array(K * K);
  dotRows(Z, K, Wt, K, d, A, false);
  for (let k = 0; k < K; k++) for (let l = 0; l < K; l++) A[k * K + l]! += b[l]!;
  return A;
}

/** Gram matrix S = Z Z^T of the centroids (K x K; SELMIX.md section 3, closed form). */
export function gramMatrix(Z: Float64Array, K: number, d: number): Float64Array {
  const S = new Float64Array(K * K);
  dotRows(Z, K, Z, K, d, S, true);
  return S;
}

/** p^ij = softmax(lambdaBar a_i + (1 - lambdaBar) a_j) from the centroid logits A (SELMIX.md section 3, step 3). */
export function mixedProbabilities(A: Float64Array, K: number, i: number, j: number, lambdaBar = 0.8): Float64Array {
  const p = new Float64Array(K);
  let mx = -Infinity;
  for (let l = 0; l < K; l++) {
    p[l] = lambdaBar * A[i * K + l]! + (1 - lambdaBar) * A[j * K + l]!;
    mx = Math.max(mx, p[l]!);
  }
  let s = 0;
  for (let l = 0; l < K; l++) { p[l] = Math.exp(p[l]! - mx); s += p[l]!; }
  for (let l = 0; l < K; l++) p[l]! /= s;
  return p;
}

/** Row-major product A (n x m) times B (m x p): row i of the result is sum_k A_ik B_k, four rows of B at a time. */
function matMul(A: Float64Array, n: number, m: number, B: Float64Array, p: number): Float64Array {
  const out = new Float64Array(n * p);
  for (let i = 0; i < n; i++) {
    const o = i * p;
    let k = 0;
    for (; k + 3 < m; k += 4) {
      const s0 = A[i * m + k]!, s1 = A[i * m + k + 1]!, s2 = A[i * m + k + 2]!, s3 = A[i * m + k + 3]!;
      const b0 = k * p, b1 = b0 + p, b2 = b1 + p, b3 = b2 + p;
      for (let l = 0; l < p; l++) {
        out[o + l]! += s0 * B[b0 + l]! + s1 * B[b1 + l]! + s2 * B[b2 + l]! + s3 * B[b3 + l]!;
      }
    }
    for (; k < m; k++) {
      const s0 = A[i * m + k]!;
      const b0 = k * p;
      for (let l = 0; l < p; l++) out[o + l]! += s0 * B[b0 + l]!;
    }
  }
  return out;
}

/**
 * E = S D = Z Z^T D (SELMIX.md section 3, closed form), by whichever order costs less:
 * (Z Z^T) D costs K^2 d / 2 + K^3, Z (Z^T D) costs 2 K^2 d.
 */
function gainE(Z: Float64Array, D: Float64Array, K: number, d: number): Float64Array {
  if (1.5 * d >= K) return matMul(gramMatrix(Z, K, d), K, K, D, K);
  const Zt = new Float64Array(d * K);
  for (let k = 0; k < K; k++) for (let r = 0; r < d; r++) Zt[r * K + k] = Z[k * d + r]!;
  return matMul(Z, K, d, matMul(Zt, d, K, D, K), K);
}

/** Validates the shapes of the gain inputs. */
function checkArgs(a: GainArgs): void {
  const { K, d } = a;
  if (!(K >= 1) || !Number.isInteger(K) || !(d >= 1) || !Number.isInteger(d)) throw new RangeError(`gainMatrix: bad sizes K=${K}, d=${d}`);
  if (a.Z.length !== K * d) throw new RangeError(`gainMatrix: Z has ${a.Z.length} entries, expected K*d = ${K * d}`);
  if (a.W.length !== d * K) throw new RangeError(`gainMatrix: W has ${a.W.length} entries, expected d*K = ${d * K}`);
  if (a.b.length !== K) throw new RangeError(`gainMatrix: b has ${a.b.length} entries, expected ${K}`);
  if (a.D.length !== K * K) throw new RangeError(`gainMatrix: D has ${a.D.length} entries, expected ${K * K}`);
  const lb = a.lambdaBar ?? 0.8;
  if (!(lb >= 0 && lb <= 1)) throw new RangeError(`gainMatrix: lambdaBar must be in [0, 1], got ${lb}`);
}

/**
 * The gain matrix G (K x K, G[i*K+j] = anchor i mixed with partner j): the first-order change of the
 * objective along the modelled head update of an (i, j)-mixup labelled i (SELMIX.md section 3, closed form).
 */
export function gainMatrix(args: GainArgs): Float64Array {
  checkArgs(args);
  const { K, d, Z, W, b, D } = args;
  const lb = args.lambdaBar ?? 0.8;
  const mixed = (args.variant ?? 'prototype') === 'mixed';
  const A = centroidLogits(Z, W, b, K, d);
  const E = gainE(Z, D, K, d);

  // U, V in (0, 1] (row max subtracted); X = U.E, Y = V.E.
  const U = new Float64Array(K * K);
  const V = new Float64Array(K * K);
  const X = new Float64Array(K * K);
  const Y = new Float64Array(K * K);
  for (let k = 0; k < K; k++) {
    let mx = -Infinity;
    for (let l = 0; l < K; l++) mx = Math.max(mx, A[k * K + l]!);
    if (!Number.isFinite(mx)) throw new RangeError(`gainMatrix: the logits of centroid ${k} are not finite`);
    for (let l = 0; l < K; l++) {
      const t = k * K + l;
      const z = A[t]! - mx;
      U[t] = Math.exp(lb * z);
      V[t] = Math.exp((1 - lb) * z);
      X[t] = U[t]! * E[t]!;
      Y[t] = V[t]! * E[t]!;
    }
  }

  const G = new Float64Array(K * K);
  const write = (i: number, j: number, den: number, n1: number, n2: number): void => {
    const first = mixed ? lb * E[i * K + i]! + (1 - lb) * E[j * K + i]! : E[i * K + i]!;
    // The factorised denominator can underflow only for logit gaps of thousands; recompute directly then.
    const rest = den > 1e-280 ? (lb * n1 + (1 - lb) * n2) / den : directRest(A, E, K, i, j, lb);
    G[i * K + j] = first - rest;
  };
  for (let jb = 0; jb < K; jb += BLOCK) {
    const jEnd = Math.min(K, jb + BLOCK);
    for (let i0 = 0; i0 < K; i0 += 2) {
      const i1 = Math.min(i0 + 1, K - 1);
      const a0 = i0 * K, a1 = i1 * K;
      for (let j0 = jb; j0 < jEnd; j0 += 2) {
        const j1 = Math.min(j0 + 1, K - 1);
        const c0 = j0 * K, c1 = j1 * K;
        let d00 = 0, d01 = 0, d10 = 0, d11 = 0;
        let p00 = 0, p01 = 0, p10 = 0, p11 = 0;
        let q00 = 0, q01 = 0, q10 = 0, q11 = 0;
        for (let l = 0; l < K; l++) {
          const u0 = U[a0 + l]!, u1 = U[a1 + l]!, x0 = X[a0 + l]!, x1 = X[a1 + l]!;
          const v0 = V[c0 + l]!, v1 = V[c1 + l]!, y0 = Y[c0 + l]!, y1 = Y[c1 + l]!;
          d00 += u0 * v0; d01 += u0 * v1; d10 += u1 * v0; d11 += u1 * v1;
          p00 += x0 * v0; p01 += x0 * v1; p10 += x1 * v0; p11 += x1 * v1;
          q00 += u0 * y0; q01 += u0 * y1; q10 += u1 * y0; q11 += u1 * y1;
        }
        write(i0, j0, d00, p00, q00); write(i0, j1, d01, p01, q01);
        write(i1, j0, d10, p10, q10); write(i1, j1, d11, p11, q11);
      }
    }
  }
  return G;
}

/** sum_l p^ij_l (lb E_il + (1-lb) E_jl) with the mixed softmax computed directly (underflow fallback). */
function directRest(A: Float64Array, E: Float64Array, K: number, i: number, j: number, lb: number): number {
  const p = mixedProbabilities(A, K, i, j, lb);
  let s = 0;
  for (let l = 0; l < K; l++) s += p[l]! * (lb * E[i * K + l]! + (1 - lb) * E[j * K + l]!);
  return s;
}
