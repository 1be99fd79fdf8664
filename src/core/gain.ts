// The gain matrix G of SELMIX.md section 3 in closed form: O(K^2 d + K^3) time, O(K^2) memory.
//
// With S = Z Z^T and E = S D (section 3, "Closed form"):
//   prototype: G_ij = E_ii                            - sum_l p^ij_l (lb E_il + (1-lb) E_jl)
//   mixed:     G_ij = lb E_ii + (1-lb) E_ji           - sum_l p^ij_l (lb E_il + (1-lb) E_jl)
// where p^ij = softmax(lb a_i + (1-lb) a_j) and a_k = W^T z_k + b (section 3, step 3).
// The softmax factorises: exp(lb a_il + (1-lb) a_jl) = U_il V_jl with U_il = exp(lb (a_il - max_l a_il))
// and V_jl = exp((1-lb)(a_jl - max_l a_jl)), both in (0, 1]. So the K^2 softmaxes of length K need
// only K^2 exponentials, and the three sums over l are matrix products U V^T, (U.E) V^T, U (V.E)^T.
// By default every step is float64 JS (exact; the reference tests need 1e-9). With a MatMul provider
// (tfjs float32 on wasm, src/backend/backend.ts) the O(K^2 d) and O(K^3) products go through it instead.

/** A row-major operand or result of a MatMul provider. */
export type Mat = Float64Array | Float32Array;

/**
 * A matrix-multiply provider for the fast gain path: row-major A (m x k) times B (k x n), returned as a
 * new m x n array. Never asked for a transposed operand (transposed copies are built here). A provider that
 * computes in float32 says so with `precision: 'float32'`: gainMatrix then builds every operand as a
 * Float32Array, so the provider uploads it without a conversion copy.
 */
export interface MatMul {
  (A: Mat, B: Mat, m: number, k: number, n: number): Mat;
  precision?: 'float32' | 'float64';
}

/**
 * K from which a refresh hands gainMatrix a tensor-backend matmul (float32 wasm). Measured crossover: about
 * K = 80 (wasm SIMD, one thread, 2-core machine); at K = 100 the matmul path is 1.5-2x faster (npm run bench).
 * Below this the exact float64 path is kept; above it G carries float32 rounding (about 1e-6 of max |G|),
 * which only matters for entries that are zero up to rounding anyway (SELMIX.md section 7.18).
 */
export const FAST_GAIN_MIN_K = 100;

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
  /**
   * Optional matmul provider (e.g. tfjs float32). When given, S (or Z^T D), E, the centroid logits and the
   * three K^3 softmax sums are matrix products through it; accuracy is then the provider's (about 1e-5 of
   * max |G| in float32; signs of entries near zero are noise, SELMIX.md 7.18). Without it all is exact float64.
   */
  matmul?: MatMul;
  /**
   * Matmul path only: the centroid logits A = Z W + b (K x K) if the caller already has them, e.g. the class
   * means of the validation logits (the head is affine). Spot-checked against Z W + b; recomputed if off.
   */
  A?: Float64Array;
  /**
   * Skip the spot check of A: for a caller that computed the logits from this very head itself (the training loop's
   * validation pass). Default false.
   */
  trustA?: boolean;
  /**
   * A cache for the Gram matrix S = Z Z^T, for a caller whose centroids do not change between calls (a head on
   * fixed features): filled when S is computed, used as is when present. Keeping it valid is the caller's part.
   */
  gram?: { S?: Mat };
}

/** Rows of j processed per cache block in the K^3 kernels. */
const BLOCK = 16;

/** Below this a float64 factorised softmax denominator sum_l U_il V_jl is treated as underflowed. */
const DEN_MIN_F64 = 1e-280;

/**
 * Below this a provider-computed denominator is not trusted and the pair is recomputed in float64. Above it the
 * operand flushing (FLUSH) drops at most K * 1e-18 of the denominator and of each scaled numerator: under 1e-7
 * relative at K = 1000, below float32 rounding. Only logit gaps of about 90 or more between two classes get here.
 */
const DEN_MIN_PROVIDER = 1e-8;

/**
 * Operand entries of magnitude below this are set to 0 in the K^3 products (U and V are at most 1, U.E and V.E are
 * scaled by 1/max|E|): a product of two kept entries is then at least 1e-36, a normal float32. Subnormal float32
 * arithmetic runs about 3x slower on wasm (measured: a 1000^3 product with subnormal products took 280 ms, 95 ms
 * without), and the factors exp(lb (a - max)) of a confident head are often that small.
 */
const FLUSH = 1e-18;

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
function gainE(Z: Float64Array, D: Float64Array, K: number, d: number, gram?: { S?: Mat }): Float64Array {
  if (gram?.S instanceof Float64Array && K <= 2 * d) return matMul(gram.S, K, K, D, K);
  if (1.5 * d >= K) {
    const S = gramMatrix(Z, K, d);
    if (gram) gram.S = S;
    return matMul(S, K, K, D, K);
  }
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
  if (args.matmul) return gainMatrixFast(args, args.matmul);
  const lb = args.lambdaBar ?? 0.8;
  const mixed = (args.variant ?? 'prototype') === 'mixed';
  const A = centroidLogits(Z, W, b, K, d);
  const E = gainE(Z, D, K, d, args.gram);

  const { U, V, X, Y } = softmaxFactors(A, E, K, lb);

  const G = new Float64Array(K * K);
  const write = (i: number, j: number, den: number, n1: number, n2: number): void => {
    const first = mixed ? lb * E[i * K + i]! + (1 - lb) * E[j * K + i]! : E[i * K + i]!;
    // The factorised denominator can underflow only for logit gaps of thousands; recompute directly then.
    const rest = den > DEN_MIN_F64 ? (lb * n1 + (1 - lb) * n2) / den : directRest(A, E, K, i, j, lb);
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
function directRest(A: Float64Array, E: Mat, K: number, i: number, j: number, lb: number): number {
  const p = mixedProbabilities(A, K, i, j, lb);
  let s = 0;
  for (let l = 0; l < K; l++) s += p[l]! * (lb * E[i * K + l]! + (1 - lb) * E[j * K + l]!);
  return s;
}

/** The largest centroid logit of row k (the softmax shift); the logits must be finite. */
function rowMax(A: Float64Array, K: number, k: number): number {
  let mx = -Infinity;
  for (let l = 0; l < K; l++) mx = Math.max(mx, A[k * K + l]!);
  if (!Number.isFinite(mx)) throw new RangeError(`gainMatrix: the logits of centroid ${k} are not finite`);
  return mx;
}

/**
 * The factors of the pairwise softmax (SELMIX.md section 3, closed form): U_kl = exp(lb (a_kl - max_l a_kl)),
 * V_kl = exp((1-lb)(a_kl - max_l a_kl)), both in (0, 1] thanks to the per-row max shift, and X = U.E, Y = V.E.
 */
function softmaxFactors(A: Float64Array, E: Float64Array, K: number, lb: number): { U: Float64Array; V: Float64Array; X: Float64Array; Y: Float64Array } {
  const U = new Float64Array(K * K);
  const V = new Float64Array(K * K);
  const X = new Float64Array(K * K);
  const Y = new Float64Array(K * K);
  for (let k = 0; k < K; k++) {
    const mx = rowMax(A, K, k);
    for (let l = 0; l < K; l++) {
      const t = k * K + l;
      const z = A[t]! - mx;
      U[t] = Math.exp(lb * z);
      V[t] = Math.exp((1 - lb) * z);
      X[t] = U[t]! * E[t]!;
      Y[t] = V[t]! * E[t]!;
    }
  }
  return { U, V, X, Y };
}

/** Tile edge of the cache-blocked transposes. */
const TILE = 32;

/** Writes the transpose of M (m x n, row-major) into out, at column offset off of rows of width w. */
function transposeInto(M: Mat, m: number, n: number, out: Mat, w: number, off: number): void {
  for (let i0 = 0; i0 < m; i0 += TILE) {
    const i1 = Math.min(m, i0 + TILE);
    for (let j0 = 0; j0 < n; j0 += TILE) {
      const j1 = Math.min(n, j0 + TILE);
      for (let i = i0; i < i1; i++) {
        const row = i * n;
        for (let j = j0; j < j1; j++) out[j * w + off + i] = M[row + j]!;
      }
    }
  }
}

/** Row blocks of the Gram matrix: block b costs (nb - b)/nb of a full row block, (nb+1)/(2 nb) of K^2 d in all. */
const GRAM_BLOCKS = 2;

/** The operand array type of a provider: Float32Array when it computes in float32, else Float64Array. */
type MatCtor = Float32ArrayConstructor | Float64ArrayConstructor;

/**
 * S = Z Z^T through the provider, upper block triangle only (3/4 of the full product with 2 blocks), mirrored.
 * Two blocks, not more: thin blocks (K/4 rows) ran at 0.6 to 0.8 of the matmul rate on wasm (each call re-packs its
 * right operand), which ate the saving.
 */
function gramFast(mm: MatMul, F: MatCtor, Z: Mat, Zt: Mat, K: number, d: number): Mat {
  const S = new F(K * K);
  const nb = Math.min(GRAM_BLOCKS, K);
  const edge = (q: number): number => Math.round((q * K) / nb);
  for (let q = 0; q < nb; q++) {
    const r0 = edge(q), r1 = edge(q + 1), w = K - r0;
    // Columns r0..K-1 of Z^T as a d x w matrix.
    const B = new F(d * w);
    for (let r = 0; r < d; r++) B.set(Zt.subarray(r * K + r0, (r + 1) * K), r * w);
    const P = checkedMul(mm, Z.subarray(r0 * d, r1 * d), B, r1 - r0, d, w);
    // Rows r0..r1-1, columns >= r0; columns < r0 come from the earlier blocks by symmetry, below.
    for (let i = r0; i < r1; i++) S.set(P.subarray((i - r0) * w, (i - r0 + 1) * w), i * K + r0);
  }
  // Mirror the upper block triangle into the lower, tile by tile.
  for (let q = 1; q < nb; q++) {
    const r0 = edge(q), r1 = edge(q + 1);
    for (let i0 = r0; i0 < r1; i0 += TILE) {
      for (let j0 = 0; j0 < r0; j0 += TILE) {
        const i1 = Math.min(r1, i0 + TILE), j1 = Math.min(r0, j0 + TILE);
        for (let i = i0; i < i1; i++) for (let j = j0; j < j1; j++) S[i * K + j] = S[j * K + i]!;
      }
    }
  }
  return S;
}

/**
 * True when the given logits A agree with Z W + b on four rows (float32 rounding allowed). One pass over W, in
 * the provider's precision (Wp: half the memory traffic of float64 for a float32 provider).
 */
function logitsMatch(A: Float64Array, Z: Float64Array, Wp: Mat, b: Float64Array, K: number, d: number): boolean {
  if (A.length !== K * K) return false;
  const rows = [0, Math.floor(K / 3), Math.floor((2 * K) / 3), K - 1];
  const [o0, o1, o2, o3] = rows.map((k) => k * d) as [number, number, number, number];
  // a[4 l + q] = (Z W + b)[rows[q], l], the four rows interleaved so one pass over W updates adjacent entries.
  const a = new Float64Array(4 * K);
  for (let l = 0; l < K; l++) for (let q = 0; q < 4; q++) a[4 * l + q] = b[l]!;
  for (let r = 0; r < d; r++) {
    const z0 = Z[o0 + r]!, z1 = Z[o1 + r]!, z2 = Z[o2 + r]!, z3 = Z[o3 + r]!;
    const w = r * K;
    for (let l = 0; l < K; l++) {
      const x = Wp[w + l]!;
      const o = 4 * l;
      a[o]! += z0 * x; a[o + 1]! += z1 * x; a[o + 2]! += z2 * x; a[o + 3]! += z3 * x;
    }
  }
  for (let q = 0; q < 4; q++) {
    const k = rows[q]!;
    let scale = 0, err = 0;
    for (let l = 0; l < K; l++) {
      const v = a[4 * l + q]!;
      scale = Math.max(scale, Math.abs(v));
      err = Math.max(err, Math.abs(v - A[k * K + l]!));
    }
    if (!(err <= 1e-4 * scale + 1e-6)) return false;
  }
  return true;
}

/**
 * gainMatrix through a matmul provider: the same closed form, every O(K^2 d) and O(K^3) step a product, with
 * operands built in the provider's precision (float32 for tfMatMul: no conversion copies on the way in).
 *   A = Z W + b (one product, unless args.A passes the spot check)
 *   E = (Z Z^T) D   when 3/4 K^2 d + K^3 < 2 K^2 d (S from its upper block triangle), else Z (Z^T D)
 *   [den; n1] = [U; U.E] V^T (one 2K x K x K product),  n2 = U (V.E)^T  (the provider never transposes)
 * Pairs whose provider denominator is under DEN_MIN_PROVIDER (large logit gaps: float32 products underflow)
 * are recomputed in float64 by the direct softmax.
 */
function gainMatrixFast(args: GainArgs, mm: MatMul): Float64Array {
  const { K, d, Z, W, b, D } = args;
  const lb = args.lambdaBar ?? 0.8;
  const mixed = (args.variant ?? 'prototype') === 'mixed';
  const F: MatCtor = mm.precision === 'float32' ? Float32Array : Float64Array;
  const asF = (x: Float64Array): Mat => (F === Float64Array ? x : new F(x));
  const Zp = asF(Z);
  const Wp = asF(W);
  let A: Float64Array;
  if (args.A && (args.trustA === true ? args.A.length === K * K : logitsMatch(args.A, Z, Wp, b, K, d))) {
    A = args.A;
  } else {
    A = Float64Array.from(checkedMul(mm, Zp, Wp, K, d, K));
    for (let k = 0; k < K; k++) for (let l = 0; l < K; l++) A[k * K + l]! += b[l]!;
  }
  const Dp = asF(D);
  // A cached S (same precision) makes E one K^3 product, used while that is cheaper than Z (Z^T D).
  const cached = args.gram?.S && args.gram.S instanceof F && K <= 2 * d ? args.gram.S : null;
  const viaGram = cached !== null || ((GRAM_BLOCKS + 1) / (2 * GRAM_BLOCKS)) * K * K * d + K * K * K < 2 * K * K * d;
  const transposedZ = (): Mat => {
    const Zt = new F(d * K);
    transposeInto(Zp, K, d, Zt, K, 0);
    return Zt;
  };
  let E: Mat;
  if (viaGram) {
    let S = cached;
    if (!S) {
      S = gramFast(mm, F, Zp, transposedZ(), K, d);
      if (args.gram) args.gram.S = S;
    }
    E = checkedMul(mm, S, Dp, K, K, K);
  } else {
    E = checkedMul(mm, Zp, checkedMul(mm, transposedZ(), Dp, d, K, K), K, d, K);
  }

  // The operands in the provider's precision, straight from A and E in one pass per row: [U; U.E/e] (2K x K),
  // V^T and (V.E/e)^T, with e = max|E| and entries under FLUSH set to 0 (see FLUSH). U = V^q when lb/(1-lb) is a
  // small integer q (4 for the default lb = 0.8; half the exponentials, equal to a few ulps).
  const KK = K * K;
  let eMax = 0;
  for (let t = 0; t < KK; t++) eMax = Math.max(eMax, Math.abs(E[t]!));
  const eScale = eMax > 0 && Number.isFinite(eMax) ? eMax : 1;
  const inv = 1 / eScale;
  const q = Math.round(lb / (1 - lb));
  const pow = q >= 1 && q <= 8 && Math.abs(lb / (1 - lb) - q) < 1e-9 ? q : 0;
  const UX = new F(2 * KK);
  const Vt = new F(KK);
  const Yt = new F(KK);
  for (let k = 0; k < K; k++) {
    const mx = rowMax(A, K, k);
    for (let l = 0; l < K; l++) {
      const t = k * K + l;
      const z = A[t]! - mx;
      let v = Math.exp((1 - lb) * z);
      let u = v;
      if (pow > 0) for (let p = 1; p < pow; p++) u *= v;
      else u = Math.exp(lb * z);
      const e = E[t]! * inv;
      if (u < FLUSH) u = 0;
      if (v < FLUSH) v = 0;
      const x = u * e, y = v * e;
      UX[t] = u;
      UX[KK + t] = Math.abs(x) < FLUSH ? 0 : x;
      Vt[l * K + k] = v;
      Yt[l * K + k] = Math.abs(y) < FLUSH ? 0 : y;
    }
  }
  const DN1 = checkedMul(mm, UX, Vt, 2 * K, K, K);
  const N2 = checkedMul(mm, UX.subarray(0, KK), Yt, K, K, K);

  const G = new Float64Array(KK);
  for (let i = 0; i < K; i++) {
    const eii = E[i * K + i]!;
    for (let j = 0; j < K; j++) {
      const t = i * K + j;
      const first = mixed ? lb * eii + (1 - lb) * E[j * K + i]! : eii;
      const den = DN1[t]!;
      let rest: number;
      if (den > DEN_MIN_PROVIDER) {
        rest = (eScale * (lb * DN1[KK + t]! + (1 - lb) * N2[t]!)) / den;
      } else {
        // Underflow guard: the direct softmax in float64 (rare: logit gaps of about 90 or more).
        rest = directRest(A, E, K, i, j, lb);
      }
      G[t] = first - rest;
    }
  }
  return G;
}

/** Calls the provider and checks the size of what it returns. */
function checkedMul(mm: MatMul, A: Mat, B: Mat, m: number, k: number, n: number): Mat {
  const out = mm(A, B, m, k, n);
  if (out.length !== m * n) throw new RangeError(`gainMatrix: the matmul provider returned ${out.length} entries for a ${m} x ${n} product`);
  return out;
}
