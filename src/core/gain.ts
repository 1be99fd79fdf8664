// The gain matrix G of docs/ALGORITHM.md section 3 in closed form, O(K^2 d + K^3) time and O(K^2) memory, as one
// pipeline over a MatMul provider: float64MatMul (plain JS, exact) unless the caller hands a backend's (tfjs float32).
//
// With S = Z Z^T and E = S D (section 3, "Closed form"):
//   prototype: G_ij = E_ii                  - r_ij
//   mixed:     G_ij = lb E_ii + (1-lb) E_ji - r_ij,      r_ij = sum_l p^ij_l (lb E_il + (1-lb) E_jl),
// where p^ij = softmax(c^ij), c^ij_l = lb a_il + (1-lb) a_jl and a_k = W^T z_k + b (section 3, step 3).
//
// The K^2 softmaxes of length K as matrix products, in a form that neither underflows nor overflows. Shift each row
// by its max, z_kl = a_kl - max_l a_kl <= 0, cut the columns into blocks B and let mu_kB = max_{l in B} z_kl. Then
//   exp(c^ij_l - lb max a_i - (1-lb) max a_j) = e^{L_ijB} U_il V_jl,   L_ijB = lb mu_iB + (1-lb) mu_jB  (l in B),
//   U_il = exp(lb (z_il - mu_iB)),  V_jl = exp((1-lb) (z_jl - mu_jB)),  both in (0, 1],
// and with X = U.E/e, Y = V.E/e (e = max|E|) and the block products S^B = U_B V_B^T, N1^B = X_B V_B^T, N2^B = U_B Y_B^T:
//   r_ij = e sum_B w_ijB (lb N1^B_ij + (1-lb) N2^B_ij) / sum_B w_ijB S^B_ij,   w_ijB = exp(L_ijB - max_B' L_ijB'),
// the weights applied in float64. No factor exceeds 1, so nothing overflows. A block sum is bounded below by one
// of its own terms (the column where u or v is 1): S^B_ij >= exp(-min(lb, 1-lb) * largest gap of a row inside B).
// While that bound stays inside the provider's exponent range (ordinary logits, and always for lb = 0 or 1) one
// block covers all columns and every pair is exact. For larger gaps the columns are cut into GAP_BLOCKS blocks: a
// block is then a smaller range, and a (pair, block) whose sum falls below the reliable floor, while not negligible
// next to the pair's other blocks, is summed over that block's columns directly in float64 (rare: the two rows
// must disagree by tens of nats inside one block of K / GAP_BLOCKS columns).

/** A row-major operand or result of a MatMul provider. */
export type Mat = Float64Array | Float32Array;

/**
 * A matrix-multiply provider for the gain: row-major A (m x k) times B (k x n), returned as a new m x n array.
 * A provider may also offer `transB` (A times the transpose of B, n x k) to spare the transposed copies. A provider that computes in float32
 * says so with `precision: 'float32'`: gainMatrix then builds every operand as a Float32Array (no conversion
 * copy on the way in) and scales its softmax factors for the float32 exponent range.
 */
export interface MatMul {
  (A: Mat, B: Mat, m: number, k: number, n: number): Mat;
  precision?: 'float32' | 'float64';
  /**
   * Optional: A (m x k) times the transpose of B, B given row-major as n x k (a Gemm with transB). When present,
   * gainMatrix hands it the operands it would otherwise transpose (Z for the Gram matrix, the softmax panels), so
   * no transposed copy is written: those strided writes cost about as much as a float32 product at K = 1000.
   */
  transB?: (A: Mat, B: Mat, m: number, k: number, n: number) => Mat;
}

/** Row-major product A (m x k) times B (k x n) in float64 JS: the exact provider, used when none is given. */
export const float64MatMul: MatMul = Object.assign((A: Mat, B: Mat, m: number, k: number, n: number): Float64Array => {
  if (A.length !== m * k || B.length !== k * n) throw new RangeError(`float64MatMul: operands of ${A.length} and ${B.length} entries for ${m} x ${k} times ${k} x ${n}`);
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    const o = i * n;
    const a = i * k;
    let t = 0;
    // Four rows of B per pass over the output row.
    for (; t + 3 < k; t += 4) {
      const s0 = A[a + t]!, s1 = A[a + t + 1]!, s2 = A[a + t + 2]!, s3 = A[a + t + 3]!;
      if (s0 === 0 && s1 === 0 && s2 === 0 && s3 === 0) continue;
      const b0 = t * n, b1 = b0 + n, b2 = b1 + n, b3 = b2 + n;
      for (let l = 0; l < n; l++) out[o + l]! += s0 * B[b0 + l]! + s1 * B[b1 + l]! + s2 * B[b2 + l]! + s3 * B[b3 + l]!;
    }
    for (; t < k; t++) {
      const s0 = A[a + t]!;
      if (s0 === 0) continue;
      const b0 = t * n;
      for (let l = 0; l < n; l++) out[o + l]! += s0 * B[b0 + l]!;
    }
  }
  return out;
}, { precision: 'float64' as const });

/**
 * K from which a run hands gainMatrix a tensor-backend (float32) provider instead of the exact float64 one
 * (prepareGainMatMul in src/backend/backend.ts). Below it G is exact; above it G carries float32 rounding, which
 * only matters for entries that are zero up to rounding anyway (docs/ALGORITHM.md section 7).
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
  /** Mean mixup weight of the anchor, (lambdaMin + 1)/2; default 0.8 (docs/ALGORITHM.md section 3, step 1). */
  lambdaBar?: number;
  /** Default 'prototype' (reference parity). */
  variant?: DeltaWVariant;
  /**
   * The matmul provider of every O(K^2 d) and O(K^3) product; default float64MatMul (exact). With a float32 one
   * (tfMatMul) G is good to about 1e-5 of max |G|; signs of entries near zero are noise (docs/ALGORITHM.md section 7).
   */
  matmul?: MatMul;
  /**
   * The centroid logits A = Z W + b (K x K) if the caller already has them, e.g. the class means of the validation
   * logits (the head is affine). Spot-checked against Z W + b; recomputed if off.
   */
  A?: Float64Array;
  /** Skip the spot check of A: for a caller that computed the logits from this very head (the training loop). */
  trustA?: boolean;
  /**
   * A cache for the Gram matrix S = Z Z^T, for a caller whose centroids do not change between calls (a head on
   * fixed features): filled when S is computed, used when present in the provider's precision. Keeping it valid is
   * the caller's part.
   */
  gram?: { S?: Mat };
}

/** Logits of the K centroids, A_kl = sum_r Z_kr W_rl + b_l (K x K, float64; docs/ALGORITHM.md section 3, step 3). */
export function centroidLogits(Z: Float64Array, W: Float64Array, b: Float64Array, K: number, d: number): Float64Array {
  const A = float64MatMul(Z, W, K, d, K) as Float64Array;
  for (let k = 0; k < K; k++) for (let l = 0; l < K; l++) A[k * K + l]! += b[l]!;
  return A;
}

/** Gram matrix S = Z Z^T of the centroids (K x K, float64; docs/ALGORITHM.md section 3, closed form). */
export function gramMatrix(Z: Float64Array, K: number, d: number): Float64Array {
  const Zt = new Float64Array(d * K);
  transposeInto(Z, K, d, Zt, K, 0);
  return gramBlocks(float64MatMul, Float64Array, Z, Zt, K, d) as Float64Array;
}

/** p^ij = softmax(lambdaBar a_i + (1 - lambdaBar) a_j) from the centroid logits A (docs/ALGORITHM.md section 3, step 3). */
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

/** The operand array type of a provider: Float32Array when it computes in float32, else Float64Array. */
type MatCtor = Float32ArrayConstructor | Float64ArrayConstructor;

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

/**
 * Row blocks of the Gram matrix: block q costs (nb - q)/nb of a full row block, (nb+1)/(2 nb) of K^2 d in all.
 * Two for a float32 (backend) provider: thin blocks ran at a lower matmul rate on wasm (each call re-packs its
 * right operand), which ate the saving. Eight for float64 JS, which has no such cost.
 */
function gramBlockCount(mm: MatMul): number {
  return mm.precision === 'float32' ? 2 : 8;
}

/** S = Z Z^T through the provider, upper block triangle only, mirrored. Zt: Z^T (d x K), or null for a provider with transB. */
function gramBlocks(mm: MatMul, F: MatCtor, Z: Mat, Zt: Mat | null, K: number, d: number): Mat {
  const S = new F(K * K);
  const nb = Math.min(gramBlockCount(mm), K);
  const edge = (q: number): number => Math.round((q * K) / nb);
  for (let q = 0; q < nb; q++) {
    const r0 = edge(q), r1 = edge(q + 1), w = K - r0;
    let P: Mat;
    if (mm.transB && !Zt) {
      // Rows r0..r1-1 of Z times rows r0..K-1 of Z, transposed by the provider.
      P = checkedProduct(mm.transB(Z.subarray(r0 * d, r1 * d), Z.subarray(r0 * d), r1 - r0, d, w), r1 - r0, d, w);
    } else {
      if (!Zt) throw new Error('gramBlocks: Z^T is needed for a provider without transB');
      // Columns r0..K-1 of Z^T as a d x w matrix.
      const B = new F(d * w);
      for (let r = 0; r < d; r++) B.set(Zt.subarray(r * K + r0, (r + 1) * K), r * w);
      P = checkedMul(mm, Z.subarray(r0 * d, r1 * d), B, r1 - r0, d, w);
    }
    for (let i = r0; i < r1; i++) S.set(P.subarray((i - r0) * w, (i - r0 + 1) * w), i * K + r0);
  }
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
 * The one rule for the order of E = Z Z^T D (docs/ALGORITHM.md section 3, closed form), for every provider: the
 * cheaper in multiply-adds of (Z Z^T) D, K^3 plus S's share of K^2 d (gramBlockCount; nothing when S is cached),
 * and Z (Z^T D), 2 K^2 d.
 */
export function gainOrderViaGram(K: number, d: number, mm: MatMul, gramCached: boolean): boolean {
  const nb = Math.min(gramBlockCount(mm), K);
  const gram = gramCached ? 0 : ((nb + 1) / (2 * nb)) * K * K * d;
  return gram + K * K * K < 2 * K * K * d;
}

/**
 * True when the given logits A agree with Z W + b on four rows (float32 rounding allowed). One pass over W, in
 * the provider's precision.
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
 * How the softmax factors are scaled and flushed for a provider's number format (powers of two, so scaling is
 * exact). Factors are multiplied by 2^scale; a scaled factor under 2^flush is set to 0, so every product of two
 * kept factors is a normal number (subnormal float32 arithmetic is slow on wasm); 2^(2 scale) times
 * the block width stays below the format's largest number. relErr bounds what flushing may drop, relative to a
 * block sum at the reliable floor.
 */
interface FactorFormat { scale: number; flush: number; relErr: number }
const F32_FORMAT: FactorFormat = { scale: 50, flush: -63, relErr: -27 };
const F64_FORMAT: FactorFormat = { scale: 400, flush: -511, relErr: -55 };

/** Column blocks used when one block's range would leave the provider's exponent range (see the header). */
const GAP_BLOCKS = 8;

/**
 * A pair with a block log-weight below this is summed in log mode (see softmaxSums): above it, a weight times a
 * reliable block sum stays a normal float64 for both formats.
 */
const WEIGHT_LOG_MIN = -600;

/** Narrowest column block. */
const MIN_BLOCK = 4;

/**
 * The gain matrix G (K x K, G[i*K+j] = anchor i mixed with partner j): the first-order change of the objective
 * along the modelled head update of an (i, j)-mixup labelled i (docs/ALGORITHM.md section 3, closed form).
 */
export function gainMatrix(args: GainArgs): Float64Array {
  checkArgs(args);
  const { K, d, Z, W, b, D } = args;
  const mm = args.matmul ?? float64MatMul;
  const lb = args.lambdaBar ?? 0.8;
  const mixed = (args.variant ?? 'prototype') === 'mixed';
  const f32 = mm.precision === 'float32';
  const F: MatCtor = f32 ? Float32Array : Float64Array;
  const asF = (x: Float64Array): Mat => (F === Float64Array ? x : new F(x));
  const Zp = asF(Z);

  // Centroid logits A = Z W + b (section 3, step 3), kept in float64 for the softmax shifts. W in the provider's
  // format only when they are checked or computed (a trusted A needs no W at all).
  let A: Float64Array;
  if (args.A && args.trustA === true && args.A.length === K * K) {
    A = args.A;
  } else if (args.A && args.trustA !== true && logitsMatch(args.A, Z, asF(W), b, K, d)) {
    A = args.A;
  } else {
    A = Float64Array.from(checkedMul(mm, Zp, asF(W), K, d, K));
    for (let k = 0; k < K; k++) for (let l = 0; l < K; l++) A[k * K + l]! += b[l]!;
  }

  // E = Z Z^T D in the order gainOrderViaGram picks.
  const Dp = asF(D);
  const cached = args.gram?.S instanceof F && args.gram.S.length === K * K ? args.gram.S : null;
  const transposedZ = (): Mat => {
    const Zt = new F(d * K);
    transposeInto(Zp, K, d, Zt, K, 0);
    return Zt;
  };
  let E: Mat;
  if (gainOrderViaGram(K, d, mm, cached !== null)) {
    let S = cached;
    if (!S) {
      S = gramBlocks(mm, F, Zp, mm.transB ? null : transposedZ(), K, d);
      if (args.gram) args.gram.S = S;
    }
    E = checkedMul(mm, S, Dp, K, K, K);
  } else {
    E = checkedMul(mm, Zp, checkedMul(mm, transposedZ(), Dp, d, K, K), K, d, K);
  }

  const rest = softmaxSums(mm, F, f32 ? F32_FORMAT : F64_FORMAT, A, E, K, lb);
  const G = new Float64Array(K * K);
  for (let i = 0; i < K; i++) {
    const eii = E[i * K + i]!;
    for (let j = 0; j < K; j++) {
      const t = i * K + j;
      G[t] = (mixed ? lb * eii + (1 - lb) * E[j * K + i]! : eii) - rest[t]!;
    }
  }
  return G;
}

/** z = A shifted by its row maxima (every row's max is 0); the logits must be finite. */
function shiftedLogits(A: Float64Array, K: number): { z: Float64Array; range: number } {
  const z = new Float64Array(K * K);
  // The largest row range, max_k (max_l a_kl - min_l a_kl) = max over all entries of -z.
  let range = 0;
  for (let k = 0; k < K; k++) {
    let mx = -Infinity;
    for (let l = 0; l < K; l++) mx = Math.max(mx, A[k * K + l]!);
    if (!Number.isFinite(mx)) throw new RangeError(`gainMatrix: the logits of centroid ${k} are not finite`);
    for (let l = 0; l < K; l++) {
      const v = A[k * K + l]! - mx;
      if (Number.isNaN(v)) throw new RangeError(`gainMatrix: the logits of centroid ${k} are not finite`);
      z[k * K + l] = v;
      if (-v > range) range = -v;
    }
  }
  return { z, range };
}

/**
 * r_ij = sum_l p^ij_l (lb E_il + (1-lb) E_jl) for all pairs, through the provider (the header's block form).
 * Returns a K x K Float64Array.
 */
function softmaxSums(mm: MatMul, F: MatCtor, fmt: FactorFormat, A: Float64Array, E: Mat, K: number, lb: number): Float64Array {
  const KK = K * K;
  // Largest row range: one block keeps every block sum above exp(-mu1 * range).
  const { z, range } = shiftedLogits(A, K);
  const mu1 = Math.min(lb, 1 - lb);
  const reliableLog2 = (width: number): number => fmt.flush - fmt.scale - fmt.relErr + Math.log2(width);
  const oneBlock = mu1 * range * Math.LOG2E < -reliableLog2(K) - 1;
  const nb = oneBlock ? 1 : Math.max(1, Math.min(GAP_BLOCKS, Math.floor(K / MIN_BLOCK)));
  const edge = (q: number): number => Math.round((q * K) / nb);

  // mu[k * nb + q] = max of z over row k, block q: 0 when one block covers the row (z is shifted by the row max).
  const mu = new Float64Array(K * nb);
  for (let k = 0; k < K && nb > 1; k++) {
    for (let q = 0; q < nb; q++) {
      let m = -Infinity;
      for (let l = edge(q); l < edge(q + 1); l++) m = Math.max(m, z[k * K + l]!);
      mu[k * nb + q] = m;
    }
  }

  let eMax = 0;
  for (let t = 0; t < KK; t++) eMax = Math.max(eMax, Math.abs(E[t]!));
  const eScale = eMax > 0 && Number.isFinite(eMax) ? eMax : 1;
  const inv = 1 / eScale;
  const up = 2 ** fmt.scale;
  const floor = 2 ** fmt.flush;
  // U = V^q when lb/(1-lb) is a small integer q (4 for the default lb = 0.8): half the exponentials, a few ulps apart.
  const qPow = Math.round(lb / (1 - lb));
  const pow = qPow >= 1 && qPow <= 8 && Math.abs(lb / (1 - lb) - qPow) < 1e-9 ? qPow : 0;

  // Block weights exp(L_ijq) = P_iq Q_jq, P_iq = exp(lb mu_iq), Q_jq = exp((1-lb) mu_jq): r_ij does not depend on a
  // per-pair factor, so none is needed while every weight of the pair is far from float64's underflow. A pair with
  // some L_ijq under WEIGHT_LOG_MIN (gaps of thousands) is summed in log mode instead: den_ij and num_ij are kept in
  // the unit exp(off_ij), off_ij the log of the pair's largest block sum so far (a log-sum-exp over the blocks).
  const P = new Float64Array(K * nb);
  const Q = new Float64Array(K * nb);
  for (let t = 0; t < K * nb; t++) { P[t] = Math.exp(lb * mu[t]!); Q[t] = Math.exp((1 - lb) * mu[t]!); }
  const logWeight = (i: number, j: number, q: number): number => (nb === 1 ? 0 : lb * mu[i * nb + q]! + (1 - lb) * mu[j * nb + q]!);
  const logMode = new Uint8Array(KK);
  if (nb > 1) {
    // min_q L_ijq >= lb min_q mu_iq + (1-lb) min_q mu_jq: the exact minimum only where that bound is too low.
    const muMin = new Float64Array(K).fill(Infinity);
    for (let k = 0; k < K; k++) for (let q = 0; q < nb; q++) muMin[k] = Math.min(muMin[k]!, mu[k * nb + q]!);
    for (let i = 0; i < K; i++) {
      for (let j = 0; j < K; j++) {
        if (lb * muMin[i]! + (1 - lb) * muMin[j]! >= WEIGHT_LOG_MIN) continue;
        let m = Infinity;
        for (let q = 0; q < nb; q++) m = Math.min(m, logWeight(i, j, q));
        if (m < WEIGHT_LOG_MIN) logMode[i * K + j] = 1;
      }
    }
  }
  // The log of the unit of den_ij and num_ij (0 outside log mode until a direct block sum is merged). One block
  // needs none of these accumulators (the fast path after the products).
  const acc = nb > 1 ? KK : 0;
  const off = new Float64Array(acc);
  // den and num in the units of the scaled products (a factor 2^(2 scale) over the true sums).
  const den = new Float64Array(acc);
  const num = new Float64Array(acc);
  // (pair, block) sums under the reliable floor, as t * nb + q.
  const low: number[] = [];
  const tau = new Float64Array(nb);
  for (let q = 0; q < nb; q++) {
    const l0 = edge(q), w = edge(q + 1) - l0;
    tau[q] = 2 ** (reliableLog2(w) + 2 * fmt.scale);
    // Panels [U_q; X_q] (2K x w), V_q^T and Y_q^T (w x K), scaled by 2^scale and flushed under 2^flush. With a
    // transB provider V_q and Y_q are written as they are (K x w, contiguous) and the provider transposes them.
    const tb = mm.transB;
    const UX = new F(2 * K * w);
    const Vt = new F(w * K);
    const Yt = new F(w * K);
    const sv = tb ? w : 1, sk = tb ? 1 : K;
    for (let k = 0; k < K; k++) {
      const m = mu[k * nb + q]!;
      for (let c = 0; c < w; c++) {
        const t = k * K + l0 + c;
        const x = z[t]! - m;
        let v = Math.exp((1 - lb) * x);
        let u = v;
        if (pow > 0) for (let p = 1; p < pow; p++) u *= v;
        else u = Math.exp(lb * x);
        const e = E[t]! * inv;
        u *= up; v *= up;
        const ue = u * e, ve = v * e;
        UX[k * w + c] = u < floor ? 0 : u;
        UX[(K + k) * w + c] = Math.abs(ue) < floor ? 0 : ue;
        Vt[c * sk + k * sv] = v < floor ? 0 : v;
        Yt[c * sk + k * sv] = Math.abs(ve) < floor ? 0 : ve;
      }
    }
    const SN1 = tb ? checkedProduct(tb(UX, Vt, 2 * K, w, K), 2 * K, w, K) : checkedMul(mm, UX, Vt, 2 * K, w, K);
    const N2 = tb ? checkedProduct(tb(UX.subarray(0, K * w), Yt, K, w, K), K, w, K) : checkedMul(mm, UX.subarray(0, K * w), Yt, K, w, K);
    const tq = tau[q]!;
    if (nb === 1) {
      // One block: every weight is 1 and the pair's unit stays 0, so r_ij = e N_ij / S_ij, the same arithmetic as the
      // accumulation below and the merge after it (a sum under the floor is summed directly), without K^2 accumulators.
      const rest = new Float64Array(KK);
      for (let t = 0; t < KK; t++) {
        const sv = SN1[t]!;
        if (sv < tq) {
          const i = Math.floor(t / K);
          const part = directBlock(z, E, K, i, t - i * K, 0, K, lb, inv);
          rest[t] = (eScale * part.num) / part.den;
        } else {
          rest[t] = (eScale * (lb * SN1[KK + t]! + (1 - lb) * N2[t]!)) / sv;
        }
      }
      return rest;
    }
    for (let i = 0; i < K; i++) {
      const pi = P[i * nb + q]!;
      for (let j = 0; j < K; j++) {
        const t = i * K + j;
        const sv = SN1[t]!;
        if (sv < tq) { low.push(t * nb + q); continue; }
        let wgt: number;
        if (logMode[t] === 1) {
          const lw = logWeight(i, j, q);
          const lv = lw + Math.log(sv);
          if (den[t] === 0 || lv > off[t]!) {
            const c = den[t] === 0 ? 0 : Math.exp(off[t]! - lv);
            den[t]! *= c; num[t]! *= c;
            off[t] = lv;
          }
          wgt = Math.exp(lw - off[t]!);
        } else {
          wgt = nb === 1 ? 1 : pi * Q[j * nb + q]!;
        }
        den[t]! += wgt * sv;
        num[t]! += wgt * (lb * SN1[KK + t]! + (1 - lb) * N2[t]!);
      }
    }
  }

  // Blocks under their floor: skipped when their largest possible share is negligible, else summed directly.
  const negligible = 2 ** fmt.relErr;
  const up2Log = 2 * fmt.scale * Math.LN2;
  for (const code of low) {
    const t = Math.floor(code / nb), q = code - t * nb;
    const i = Math.floor(t / K), j = t - i * K;
    if (den[t]! > 0 && Math.exp(logWeight(i, j, q) - off[t]!) * 2 * tau[q]! <= negligible * den[t]!) continue;
    const part = directBlock(z, E, K, i, j, edge(q), edge(q + 1), lb, inv);
    // Its log weight in the pair's current unit; the larger of the two becomes the unit (log-sum-exp merge).
    let lc = part.ref + up2Log - off[t]!;
    if (den[t] === 0 || lc > 0) {
      const c = den[t] === 0 ? 0 : Math.exp(-lc);
      den[t]! *= c; num[t]! *= c;
      off[t]! += lc;
      lc = 0;
    }
    const c = Math.exp(lc);
    den[t]! += c * part.den;
    num[t]! += c * part.num;
  }
  const rest = new Float64Array(KK);
  for (let t = 0; t < KK; t++) rest[t] = (eScale * num[t]!) / den[t]!;
  return rest;
}

/**
 * sum over the columns l0..l1-1 of exp(c_l - ref) and of exp(c_l - ref) (lb E_il + (1-lb) E_jl) / e, where
 * c_l = lb z_il + (1-lb) z_jl and ref is their max: one block of the softmax sums, directly in float64.
 */
function directBlock(z: Float64Array, E: Mat, K: number, i: number, j: number, l0: number, l1: number, lb: number, inv: number): { ref: number; den: number; num: number } {
  let ref = -Infinity;
  for (let l = l0; l < l1; l++) ref = Math.max(ref, lb * z[i * K + l]! + (1 - lb) * z[j * K + l]!);
  let den = 0, num = 0;
  for (let l = l0; l < l1; l++) {
    const w = Math.exp(lb * z[i * K + l]! + (1 - lb) * z[j * K + l]! - ref);
    den += w;
    num += w * (lb * E[i * K + l]! + (1 - lb) * E[j * K + l]!) * inv;
  }
  return { ref, den, num };
}

/** Calls the provider and checks the size of what it returns. */
function checkedMul(mm: MatMul, A: Mat, B: Mat, m: number, k: number, n: number): Mat {
  return checkedProduct(mm(A, B, m, k, n), m, k, n);
}

/** A provider's result, checked for its size. */
function checkedProduct(out: Mat, m: number, k: number, n: number): Mat {
  if (out.length !== m * n) throw new RangeError(`gainMatrix: the matmul provider returned ${out.length} entries for a ${m} x ${k} x ${n} product`);
  return out;
}
