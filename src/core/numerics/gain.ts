// The gain matrix G of docs/ALGORITHM.md section 3 in closed form, O(K^2 d + K^3) time and O(K^2) memory, as one
// pipeline over a MatMul provider: float64MatMul (plain JS, exact) unless the caller hands a backend's (tfjs float32).
//
// With S = Z Z^T and E = S D (section 3, "Closed form"):
//   prototype: G_ij = E_ii                  - r_ij
//   mixed:     G_ij = lb E_ii + (1-lb) E_ji - r_ij,      r_ij = sum_l p^ij_l (lb E_il + (1-lb) E_jl),
// where p^ij = softmax(c^ij), c^ij_l = lb a_il + (1-lb) a_jl and a_k = W^T z_k + b (section 3, step 3).
//
// The K^2 softmaxes of length K as matrix products, in a form that neither overflows nor loses a pair silently.
// Shift each row by its max, z_kl = a_kl - max_l a_kl <= 0. Then
//   exp(c^ij_l - lb max a_i - (1-lb) max a_j) = U_il V_jl,   U_il = exp(lb z_il),  V_jl = exp((1-lb) z_jl),  in (0, 1],
// and with X = U.E/e, Y = V.E/e (e = max|E|) and the products S = U V^T, N1 = X V^T, N2 = U Y^T:
//   r_ij = e (lb N1_ij + (1-lb) N2_ij) / S_ij.
// The factors are scaled and flushed for the provider's number format (FactorFormat), so a sum S_ij at or above
// the reliable floor has lost under 2^relErr of itself to flushing, at any logit gap. A pair under the floor (its
// two rows disagree by tens of nats or more: a confident head, gaps in the hundreds or thousands) is summed
// directly in float64 over the few columns that can carry its softmax (directSums), O(K^2) for all such pairs.
// When half the pairs or more may fall under the floor (a lower bound of the pair's largest term, read off the rows'
// maxima, is under it), every pair is summed that way and the three products are skipped, unless that proves dearer.

/** A row-major operand or result of a MatMul provider. */
export type Mat = Float64Array | Float32Array;

/**
 * A matrix-multiply provider for the gain: row-major A (m x k) times B (k x n), returned as a new m x n array.
 * A provider may also offer `transB` (A times the transpose of B, n x k) to spare the transposed copies. A provider
 * that computes in float32
 * says so with `precision: 'float32'`: gainMatrix then builds every operand as a Float32Array (no conversion
 * copy on the way in) and scales its softmax factors for the float32 exponent range.
 */
export interface MatMul {
  /**
   * out: an array the caller offers for the result (GainScratch's, reused between refreshes). A provider may write
   * the product into it and return it, or ignore it and return a new array; the caller reads only what is returned.
   */
  (A: Mat, B: Mat, m: number, k: number, n: number, out?: Mat): Mat;
  precision?: 'float32' | 'float64';
  /**
   * Optional: A (m x k) times the transpose of B, B given row-major as n x k (a Gemm with transB). When present,
   * gainMatrix hands it the operands it would otherwise transpose (Z for the Gram matrix, the softmax panels), so
   * no transposed copy is written: those strided writes cost about as much as a float32 product at K = 1000.
   */
  transB?: (A: Mat, B: Mat, m: number, k: number, n: number, out?: Mat) => Mat;
  /**
   * Optional: the first column of the largest entry in each row of X W + b (X n x k, W k x m, b m, float32), without
   * handing back the n x m product: a head's predictions on a validation set, where the training loop needs nothing
   * else of its logits (ONNX Runtime: one graph, 4 bytes a row out instead of 4 m). null when any of X W + b is not a
   * finite number: the caller then computes the logits themselves (argmaxRows says which row is NaN).
   */
  argmaxAffine?: (
    X: Float32Array,
    W: Float32Array,
    b: Float32Array,
    n: number,
    k: number,
    m: number,
  ) => Int32Array | null;
  /**
   * Optional, for a float32 provider: the softmax sums of the shifted logits z (K x K) in one call, the factors and
   * their products never leaving the provider (see SoftmaxFactors): with e = max |E| (1 when that is 0 or not finite),
   * U = exp(lb z), V = exp((1 - lb) z), X = U.E/e, Y = V.E/e, each scaled by up and flushed to 0 under floor, and
   * S = U V^T, N1 = X V^T, N2 = U Y^T: r = e (lb N1 + (1 - lb) N2) / S (K x K), NaN where S is under tq; and e as
   * eScale. out offers an array for r, as for a product.
   */
  softmaxRatios?: (
    z: Float32Array,
    E: Float32Array,
    K: number,
    f: SoftmaxFactors,
    out?: Mat,
  ) => { r: Mat; eScale: number };
  /** Optional: directSums' pairs on more than one thread, when there are at least THREADED_MIN_PAIRS of them. */
  pairThreads?: PairThreads;
}

/**
 * Runs directSums' jobs on more than one thread (a provider's pairThreads): run calls DIRECT_JOBS[job](tables, lo, hi,
 * counts, DIRECT_LIB) for every block [b size, min(K, (b + 1) size)), b < blocks, spread over this thread and others,
 * and returns when all are done: true when none of them passed the budget (only the pairs job has one). Every array of
 * tables is in a SharedArrayBuffer.
 */
export interface PairThreads {
  run(job: DirectJob, tables: DirectTables, blocks: number, size: number): boolean;
}

/** How a provider's softmaxRatios builds the factors (gainMatrix's FactorFormat for that provider, as numbers). */
export interface SoftmaxFactors {
  lb: number;
  /** The factors' scale 2^scale. */
  up: number;
  /** A scaled factor (or its product with E / e) under this in magnitude is 0: 2^flush. */
  floor: number;
  /** The reliable floor of a scaled sum S: a pair whose S is under it is summed directly (r NaN there). */
  tq: number;
}

/** Row-major product A (m x k) times B (k x n) in float64 JS: the exact provider, used when none is given. */
export const float64MatMul: MatMul = Object.assign(
  (A: Mat, B: Mat, m: number, k: number, n: number, into?: Mat): Float64Array => {
    if (A.length !== m * k || B.length !== k * n)
      throw new RangeError(
        `float64MatMul: operands of ${A.length} and ${B.length} entries for ${m} x ${k} times ${k} x ${n}`,
      );
    const out = into instanceof Float64Array && into.length === m * n ? into.fill(0) : new Float64Array(m * n);
    for (let i = 0; i < m; i++) {
      const o = i * n;
      const a = i * k;
      let t = 0;
      // Four rows of B per pass over the output row.
      for (; t + 3 < k; t += 4) {
        const s0 = A[a + t]!,
          s1 = A[a + t + 1]!,
          s2 = A[a + t + 2]!,
          s3 = A[a + t + 3]!;
        if (s0 === 0 && s1 === 0 && s2 === 0 && s3 === 0) continue;
        const b0 = t * n,
          b1 = b0 + n,
          b2 = b1 + n,
          b3 = b2 + n;
        for (let l = 0; l < n; l++)
          out[o + l]! += s0 * B[b0 + l]! + s1 * B[b1 + l]! + s2 * B[b2 + l]! + s3 * B[b3 + l]!;
      }
      for (; t < k; t++) {
        const s0 = A[a + t]!;
        if (s0 === 0) continue;
        const b0 = t * n;
        for (let l = 0; l < n; l++) out[o + l]! += s0 * B[b0 + l]!;
      }
    }
    return out;
  },
  { precision: 'float64' as const },
);

/**
 * K from which a run hands gainMatrix a tensor-backend (float32) provider instead of the exact float64 one
 * (prepareGainMatMul in src/backend/backend.ts). Below it G is exact; above it G carries float32 rounding, which
 * only matters for entries that are zero up to rounding anyway (docs/ALGORITHM.md section 7).
 */
export const FAST_GAIN_MIN_K = 100;

/**
 * Which positive term the modelled head update uses: class centroid z_i (reference) or mixed centroid (exact CE
 * gradient).
 */
export type DeltaWVariant = 'prototype' | 'mixed';

/** Arguments of gainMatrix: centroids Z (K x d), head W (d x K) and b (K), D = dpsi/dC~ (K x K). */
export interface GainArgs {
  K: number;
  d: number;
  Z: Float64Array;
  /** d x K, in either precision: converted to the provider's only when A is computed or checked from it. */
  W: Float64Array | Float32Array;
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
  /**
   * Work arrays kept between calls (a run's refreshes): the K x K and K x d intermediates are written into the same
   * memory each time. Fresh arrays of 4 to 16 MB each cost more in page faults than in arithmetic at K = 1000.
   */
  scratch?: GainScratch;
}

/** A typed-array constructor gainMatrix works in. */
type ArrayCtor<T> = {
  new (n: number): T;
  new (buffer: SharedArrayBuffer): T;
  readonly BYTES_PER_ELEMENT: number;
};

/** A new array of n entries, in memory other threads can share when shared (a SharedArrayBuffer). */
function fresh<T>(C: ArrayCtor<T>, n: number, shared: boolean): T {
  return shared ? new C(new SharedArrayBuffer(n * C.BYTES_PER_ELEMENT)) : new C(n);
}

/**
 * Named work arrays of gainMatrix, kept for the next call (GainArgs.scratch). take hands back the array of that
 * name when its type and length match, else a new one it keeps instead; its contents are whatever the last call
 * left, so a caller writes every entry it reads. Nothing gainMatrix returns is ever one of them.
 */
export class GainScratch {
  private readonly arrays = new Map<string, Mat | Int32Array>();

  /** shared: the array must be in a SharedArrayBuffer (one another thread can write into). */
  take<T extends Mat | Int32Array>(name: string, C: ArrayCtor<T>, n: number, shared = false): T {
    const a = this.arrays.get(name);
    if (a instanceof C && a.length === n && (!shared || a.buffer instanceof SharedArrayBuffer)) return a;
    const made = fresh(C, n, shared);
    this.arrays.set(name, made);
    return made;
  }

  /** Lets every array go (the end of a run: what comes after it, writing the outputs, has no use for them). */
  release(): void {
    this.arrays.clear();
  }

  /** Bytes held, for tests and the memory notes. */
  get bytes(): number {
    let b = 0;
    for (const a of this.arrays.values()) b += a.byteLength;
    return b;
  }
}

/**
 * An output array to offer a provider: the scratch's of that name, or none without a scratch (a provider then
 * allocates its result itself; an offered fresh array would only be a second one, as ONNX Runtime's binding hands
 * back a copy either way).
 */
function offer(scratch: GainScratch | undefined, name: string, F: MatCtor, n: number): Mat | undefined {
  return scratch?.take<Mat>(name, F, n);
}

/** A work array: the scratch's of that name when there is one, else a new array. */
function work<T extends Mat | Int32Array>(
  scratch: GainScratch | undefined,
  name: string,
  C: ArrayCtor<T>,
  n: number,
  shared = false,
): T {
  return scratch ? scratch.take(name, C, n, shared) : fresh(C, n, shared);
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

/**
 * p^ij = softmax(lambdaBar a_i + (1 - lambdaBar) a_j) from the centroid logits A (docs/ALGORITHM.md section 3, step 3).
 */
export function mixedProbabilities(A: Float64Array, K: number, i: number, j: number, lambdaBar = 0.8): Float64Array {
  const p = new Float64Array(K);
  let mx = -Infinity;
  for (let l = 0; l < K; l++) {
    p[l] = lambdaBar * A[i * K + l]! + (1 - lambdaBar) * A[j * K + l]!;
    mx = Math.max(mx, p[l]!);
  }
  let s = 0;
  for (let l = 0; l < K; l++) {
    p[l] = Math.exp(p[l]! - mx);
    s += p[l]!;
  }
  for (let l = 0; l < K; l++) p[l]! /= s;
  return p;
}

/** Validates the shapes of the gain inputs. */
function checkArgs(a: GainArgs): void {
  const { K, d } = a;
  if (!(K >= 1) || !Number.isInteger(K) || !(d >= 1) || !Number.isInteger(d))
    throw new RangeError(`gainMatrix: bad sizes K=${K}, d=${d}`);
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

/**
 * S = Z Z^T through the provider, upper block triangle only, mirrored. Zt: Z^T (d x K), or null for a provider with
 * transB.
 */
function gramBlocks(mm: MatMul, F: MatCtor, Z: Mat, Zt: Mat | null, K: number, d: number, scratch?: GainScratch): Mat {
  const S = work<Mat>(scratch, 'S', F, K * K);
  const nb = Math.min(gramBlockCount(mm), K);
  const edge = (q: number): number => Math.round((q * K) / nb);
  for (let q = 0; q < nb; q++) {
    const r0 = edge(q),
      r1 = edge(q + 1),
      w = K - r0;
    let P: Mat;
    if (mm.transB && !Zt) {
      // Rows r0..r1-1 of Z times rows r0..K-1 of Z, transposed by the provider.
      const out = offer(scratch, `gram${q}`, F, (r1 - r0) * w);
      P = checkedProduct(mm.transB(Z.subarray(r0 * d, r1 * d), Z.subarray(r0 * d), r1 - r0, d, w, out), r1 - r0, d, w);
    } else {
      if (!Zt) throw new Error('gramBlocks: Z^T is needed for a provider without transB');
      // Columns r0..K-1 of Z^T as a d x w matrix.
      const B = work<Mat>(scratch, `gramB${q}`, F, d * w);
      for (let r = 0; r < d; r++) B.set(Zt.subarray(r * K + r0, (r + 1) * K), r * w);
      P = checkedMul(mm, Z.subarray(r0 * d, r1 * d), B, r1 - r0, d, w, offer(scratch, `gram${q}`, F, (r1 - r0) * w));
    }
    for (let i = r0; i < r1; i++) S.set(P.subarray((i - r0) * w, (i - r0 + 1) * w), i * K + r0);
  }
  for (let q = 1; q < nb; q++) {
    const r0 = edge(q),
      r1 = edge(q + 1);
    for (let i0 = r0; i0 < r1; i0 += TILE) {
      for (let j0 = 0; j0 < r0; j0 += TILE) {
        const i1 = Math.min(r1, i0 + TILE),
          j1 = Math.min(r0, j0 + TILE);
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
    const z0 = Z[o0 + r]!,
      z1 = Z[o1 + r]!,
      z2 = Z[o2 + r]!,
      z3 = Z[o3 + r]!;
    const w = r * K;
    for (let l = 0; l < K; l++) {
      const x = Wp[w + l]!;
      const o = 4 * l;
      a[o]! += z0 * x;
      a[o + 1]! += z1 * x;
      a[o + 2]! += z2 * x;
      a[o + 3]! += z3 * x;
    }
  }
  for (let q = 0; q < 4; q++) {
    const k = rows[q]!;
    let scale = 0,
      err = 0;
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
 * block sum at the reliable floor. A pair summed directly (directSums) leaves out the columns under e^-directNats / K
 * of its largest term, under 2^relErr of its sum as well.
 */
interface FactorFormat {
  scale: number;
  flush: number;
  relErr: number;
  directNats: number;
}
const F32_FORMAT: FactorFormat = { scale: 50, flush: -63, relErr: -27, directNats: 19 };
const F64_FORMAT: FactorFormat = { scale: 400, flush: -511, relErr: -55, directNats: 40 };

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
  const sc = args.scratch;
  // x in the provider's format: x itself when it already is, else a copy (into the scratch's array of that name; a
  // new array for name null).
  const asF = (x: Mat, name: string | null): Mat => {
    if (x instanceof F) return x;
    const y = name === null ? new F(x.length) : work<Mat>(sc, name, F, x.length);
    y.set(x);
    return y;
  };
  // Z in the provider's format, made only when a product reads it: with a cached Gram matrix and trusted centroid
  // logits (a head on fixed features) no product does.
  let ZpMade: Mat | null = null;
  // With a Gram cache (a head on fixed features) one product in the whole run reads it: not worth keeping.
  const Zp = (): Mat => (ZpMade ??= asF(Z, args.gram ? null : 'Z'));

  // Centroid logits A = Z W + b (section 3, step 3), kept in float64 for the softmax shifts. W in the provider's
  // format only when they are checked or computed (a trusted A needs no W at all).
  let A: Float64Array;
  if (args.A && args.trustA === true && args.A.length === K * K) {
    A = args.A;
  } else if (args.A && args.trustA !== true && logitsMatch(args.A, Z, asF(W, 'W'), b, K, d)) {
    A = args.A;
  } else {
    A = Float64Array.from(checkedMul(mm, Zp(), asF(W, 'W'), K, d, K));
    for (let k = 0; k < K; k++) for (let l = 0; l < K; l++) A[k * K + l]! += b[l]!;
  }

  // E = Z Z^T D in the order gainOrderViaGram picks.
  const Dp = asF(D, 'D');
  const cached = args.gram?.S instanceof F && args.gram.S.length === K * K ? args.gram.S : null;
  const transposedZ = (): Mat => {
    const Zt = work<Mat>(sc, 'Zt', F, d * K);
    transposeInto(Zp(), K, d, Zt, K, 0);
    return Zt;
  };
  let E: Mat;
  const Eout = offer(sc, 'E', F, K * K);
  if (gainOrderViaGram(K, d, mm, cached !== null)) {
    let S = cached;
    if (!S) {
      // A Gram matrix the caller caches is its own array, never the scratch's.
      S = gramBlocks(mm, F, Zp(), mm.transB ? null : transposedZ(), K, d, args.gram ? undefined : sc);
      if (args.gram) args.gram.S = S;
    }
    E = checkedMul(mm, S, Dp, K, K, K, Eout);
  } else {
    const ZtD = checkedMul(mm, transposedZ(), Dp, d, K, K, offer(sc, 'ZtD', F, d * K));
    E = checkedMul(mm, Zp(), ZtD, K, d, K, Eout);
  }

  // r_ij first, then G_ij = (prototype or mixed term) - r_ij in place: one K x K array, not two.
  const G = new Float64Array(K * K);
  softmaxSums(mm, F, f32 ? F32_FORMAT : F64_FORMAT, A, E, K, lb, G, sc);
  for (let i = 0; i < K; i++) {
    const eii = E[i * K + i]!;
    for (let j = 0; j < K; j++) {
      const t = i * K + j;
      G[t] = (mixed ? lb * eii + (1 - lb) * E[j * K + i]! : eii) - G[t]!;
    }
  }
  return G;
}

/**
 * r_ij = sum_l p^ij_l (lb E_il + (1-lb) E_jl) for all pairs: one block of products through the provider (the
 * header's form); the pairs whose sum falls under the reliable floor are summed directly (directSums). When most
 * pairs' two rows are far apart (a confident head: logit gaps in the hundreds or more) nearly every block sum would
 * fall under the floor: then every pair is summed directly and the products are skipped, unless the direct sums turn
 * out to need more than DIRECT_BUDGET column visits a pair. Writes every entry of rest (K x K).
 */
function softmaxSums(
  mm: MatMul,
  F: MatCtor,
  fmt: FactorFormat,
  A: Float64Array,
  E: Mat,
  K: number,
  lb: number,
  rest: Float64Array,
  sc: GainScratch | undefined,
): void {
  const KK = K * K;
  // In shared memory when the provider sums pairs on more than one thread (directSums' jobs read them).
  const { z, top } = shiftedLogits(A, K, sc, mm.pairThreads !== undefined);
  const reliableLog2 = fmt.flush - fmt.scale - fmt.relErr + Math.log2(K);
  // A sum at or above the floor is reliable: what flushing dropped is under 2^relErr of it, whatever the gaps.
  const tq = 2 ** (reliableLog2 + 2 * fmt.scale);
  let eScale = 0;
  const direct = (): DirectArgs => ({
    z,
    top,
    E,
    K,
    lb,
    eScale,
    nats: fmt.directNats,
    rest,
    sc,
    threads: mm.pairThreads,
  });

  // A pair's sum is at least e^m0 (m0 its largest term's lower bound, farApartShare): at or above the floor when
  // m0 >= reliableLog2 ln 2.
  if (farApartShare(z, top, K, lb, reliableLog2 * Math.LN2) >= DIRECT_SHARE) {
    eScale = maxAbsScale(E);
    if (directSums(direct(), null, DIRECT_BUDGET)) return;
  }

  // Every pair's r, or NaN where its block sum fell under the floor.
  let nLow = 0;
  if (mm.softmaxRatios && F === Float32Array && E instanceof Float32Array) {
    // A provider that sums them itself: z goes in as float32; the factors and products never come out.
    const z32 = work(sc, 'z32', Float32Array, KK);
    z32.set(z);
    const got = mm.softmaxRatios(
      z32,
      E,
      K,
      { lb, up: 2 ** fmt.scale, floor: 2 ** fmt.flush, tq },
      offer(sc, 'ratios', F, KK),
    );
    const r = checkedProduct(got.r, K, K, K);
    eScale = got.eScale;
    for (let t = 0; t < KK; t++) {
      const v = r[t]!;
      rest[t] = v;
      if (v !== v) nLow++;
    }
  } else {
    if (eScale === 0) eScale = maxAbsScale(E);
    const { S, N1, N2 } = factorProducts(mm, F, fmt, z, E, K, lb, 1 / eScale, sc);
    for (let t = 0; t < KK; t++) {
      const s = S[t]!;
      if (s < tq) {
        rest[t] = NaN;
        nLow++;
      } else rest[t] = (eScale * (lb * N1[t]! + (1 - lb) * N2[t]!)) / s;
    }
  }
  if (nLow === 0) return;
  // A few such pairs (a confident class or two among ordinary ones): each summed over all its columns, K
  // exponentials a pair, instead of directSums' K^2 set-up (transposes, thresholds, candidate lists: 20 to 30 ms at
  // K = 1000 for a single pair).
  if (nLow <= K / FEW_LOW_PAIRS) {
    for (let t = 0; t < KK && nLow > 0; t++)
      if (Number.isNaN(rest[t]!)) {
        rest[t] = pairSum(z, E, K, lb, Math.floor(t / K), t % K);
        nLow--;
      }
    return;
  }
  directSums(direct(), nLow, Infinity);
}

/** max |E|, or 1 when that is 0 or not finite: the scale E is divided by before the factors are multiplied by it. */
function maxAbsScale(E: Mat): number {
  let eMax = 0;
  for (let t = 0; t < E.length; t++) eMax = Math.max(eMax, Math.abs(E[t]!));
  return eMax > 0 && Number.isFinite(eMax) ? eMax : 1;
}

/** Up to K / FEW_LOW_PAIRS pairs under the floor are summed one by one (pairSum), more through directSums. */
const FEW_LOW_PAIRS = 4;

/**
 * r_ij = sum_l p^ij_l (lb E_il + (1-lb) E_jl) for one pair, in float64 over every column, with p^ij from
 * mixedProbabilities on the shifted logits z (the softmax is unchanged by the rows' shifts; its largest term is
 * exp(0) = 1, so it neither overflows nor vanishes at any gap).
 */
export function pairSum(z: Float64Array, E: Mat, K: number, lb: number, i: number, j: number): number {
  const p = mixedProbabilities(z, K, i, j, lb);
  let r = 0;
  for (let l = 0; l < K; l++) r += p[l]! * (lb * E[i * K + l]! + (1 - lb) * E[j * K + l]!);
  return r;
}

/** The share of pairs whose two rows are far apart (under which gainMatrix sums every pair directly). */
const DIRECT_SHARE = 0.5;
/**
 * Other rows a block of directSums' pairs (64 float64 and float32 entries of each of K table rows: under 1 MiB at
 * K = 1000).
 */
const DIRECT_BLOCK = 64;
/** Pairs from which directSums hands its blocks to the provider's pairThreads (a K = 180 all-direct sum and up). */
export const THREADED_MIN_PAIRS = 2 ** 15;
/** Column visits a pair, on average, past which directSums gives up (the products are then cheaper). */
const DIRECT_BUDGET = 16;

/**
 * The share of pairs (i, j) whose largest softmax term has the lower bound m0 = max(lb z_i,top(j), (1-lb) z_j,top(i))
 * under logFloor (natural log), from every pair up to K = 64 and a strided sample of about 4096 above: O(K^2) at
 * most, microseconds at K = 1000.
 */
export function farApartShare(z: Float64Array, top: Int32Array, K: number, lb: number, logFloor: number): number {
  const KK = K * K;
  const step = KK <= 4096 ? 1 : Math.floor(KK / 4096) | 1;
  let far = 0,
    seen = 0;
  for (let t = 0; t < KK; t += step) {
    const i = Math.floor(t / K),
      j = t - i * K;
    if (Math.max(lb * z[i * K + top[j]!]!, (1 - lb) * z[j * K + top[i]!]!) < logFloor) far++;
    seen++;
  }
  return far / seen;
}

/**
 * The softmax factors (float64 exponentials, rounded once to the provider's format) and their three products through
 * the provider: S = U V^T, N1 = X V^T, N2 = U Y^T.
 */
function factorProducts(
  mm: MatMul,
  F: MatCtor,
  fmt: FactorFormat,
  z: Float64Array,
  E: Mat,
  K: number,
  lb: number,
  inv: number,
  sc: GainScratch | undefined,
): { S: Mat; N1: Mat; N2: Mat } {
  const KK = K * K;
  const up = 2 ** fmt.scale;
  const floor = 2 ** fmt.flush;
  // U = V^q when lb/(1-lb) is a small integer q (4 for the default lb = 0.8): half the exponentials, a few ulps apart.
  const qPow = Math.round(lb / (1 - lb));
  const pow = qPow >= 1 && qPow <= 8 && Math.abs(lb / (1 - lb) - qPow) < 1e-9 ? qPow : 0;
  // Panels [U; X] (2K x K), V^T and Y^T (K x K), scaled by 2^scale and flushed under 2^flush. With a transB
  // provider V and Y are written as they are (K x K, contiguous) and the provider transposes them.
  const tb = mm.transB;
  const UX = work<Mat>(sc, 'UX', F, 2 * KK);
  const Vt = work<Mat>(sc, 'Vt', F, KK);
  const Yt = work<Mat>(sc, 'Yt', F, KK);
  const a = 1 - lb;
  for (let k = 0; k < K; k++) {
    for (let c = 0; c < K; c++) {
      const t = k * K + c;
      const x = z[t]!;
      let v = Math.exp(a * x);
      let u = v;
      // The default lb's q = 4 written out (the same products in the same order as the loop, a third faster here).
      if (pow === 4) {
        u *= v;
        u *= v;
        u *= v;
      } else if (pow > 0) for (let p = 1; p < pow; p++) u *= v;
      else u = Math.exp(lb * x);
      const e = E[t]! * inv;
      u *= up;
      v *= up;
      const ue = u * e,
        ve = v * e;
      UX[t] = u < floor ? 0 : u;
      UX[KK + t] = Math.abs(ue) < floor ? 0 : ue;
      // V and Y as they are for a transB provider, transposed for another.
      const j = tb ? t : c * K + k;
      Vt[j] = v < floor ? 0 : v;
      Yt[j] = Math.abs(ve) < floor ? 0 : ve;
    }
  }
  const SN1out = offer(sc, 'SN1', F, 2 * KK);
  const N2out = offer(sc, 'N2', F, KK);
  const SN1 = tb
    ? checkedProduct(tb(UX, Vt, 2 * K, K, K, SN1out), 2 * K, K, K)
    : checkedMul(mm, UX, Vt, 2 * K, K, K, SN1out);
  const N2 = tb
    ? checkedProduct(tb(UX.subarray(0, KK), Yt, K, K, K, N2out), K, K, K)
    : checkedMul(mm, UX.subarray(0, KK), Yt, K, K, K, N2out);
  return { S: SN1.subarray(0, KK), N1: SN1.subarray(KK), N2 };
}

/**
 * z = A shifted by its row maxima (every row's max is 0) and top[k], the column of row k's max; the logits must be
 * finite.
 */
function shiftedLogits(
  A: Float64Array,
  K: number,
  sc: GainScratch | undefined,
  shared: boolean,
): { z: Float64Array; top: Int32Array } {
  const z = work(sc, 'z', Float64Array, K * K, shared);
  const top = fresh(Int32Array, K, shared);
  for (let k = 0; k < K; k++) {
    let mx = -Infinity;
    for (let l = 0; l < K; l++) {
      const a = A[k * K + l]!;
      if (a > mx) {
        mx = a;
        top[k] = l;
      }
    }
    if (!Number.isFinite(mx)) throw new RangeError(`gainMatrix: the logits of centroid ${k} are not finite`);
    for (let l = 0; l < K; l++) {
      const v = A[k * K + l]! - mx;
      if (Number.isNaN(v)) throw new RangeError(`gainMatrix: the logits of centroid ${k} are not finite`);
      z[k * K + l] = v;
    }
  }
  return { z, top };
}

/** What directSums reads and writes: the shifted logits, their row maxima's columns, E, and the output. */
interface DirectArgs {
  z: Float64Array;
  top: Int32Array;
  E: Mat;
  K: number;
  lb: number;
  eScale: number;
  /** The format's directNats. */
  nats: number;
  rest: Float64Array;
  sc: GainScratch | undefined;
  threads: PairThreads | undefined;
}

/**
 * Sums pairs t = i K + j directly in float64 over the only columns that can matter: every pair (nanCount null), or
 * those whose entry of rest is NaN (their block sum fell under the floor; nanCount of them, as the caller counted).
 * Writes r_ij = e num / den into rest; false (rest partly written) as soon as the column visits pass budget a pair on
 * average over the pairs summed so far (at least a quarter of them).
 *
 * Each pair is taken from its anchor row a, the row of the larger weight wa = max(lb, 1-lb) (a = i when lb >= 1/2,
 * else a = j), and its other row o, weight wo = 1 - wa: c_l = wa z_al + wo z_ol. With m = max_l c_l, a column with
 * c_l < m - T adds under e^-T of the largest term, so under K e^-T = e^-nats of the sum when T = nats + ln K. Since
 * z <= 0, c_l <= wa z_al, and m >= m0 = max(wa z_a,top(o), wo z_o,top(a)); so every column that matters has
 * z_al >= (m0 - T) / wa. With large gaps that is a handful of columns of row a (often its top alone): the pairs cost
 * O(K^2) in all, not O(K^3).
 *
 * When a third of the pairs or more are summed, the other rows' factors exp(wo z_ol) are tabled once (K^2
 * exponentials) and a term is a product of two factors, e^{c_l} itself, over every column down to the pair's
 * threshold: its exponential would cost more. A pair whose sum of those is under 2^-800 (its largest term near
 * float64's smallest numbers) is summed again with exponentials of c_l - m.
 *
 * The work is four jobs over blocks of rows (DIRECT_JOBS), each spread over the provider's threads when there are
 * enough pairs: the set-up (transposes, the tabled factors) and the candidate lists are K^2 too, and on one thread they
 * took as long as the pairs on two.
 */
function directSums(g: DirectArgs, nanCount: number | null, budget: number): boolean {
  const { z, top, E, K, lb, eScale, rest, sc } = g;
  const KK = K * K;
  const aIsI = lb >= 0.5;
  const wa = aIsI ? lb : 1 - lb;
  const onlyNaN = nanCount !== null;
  const n = nanCount ?? KK;
  // With more threads every table the jobs read or write is in shared memory (z and top are, when the provider has
  // threads: shiftedLogits), and each job's blocks are shared between the threads.
  const threads = g.threads && n >= THREADED_MIN_PAIRS ? g.threads : null;
  const sh = threads !== null;
  const shared = <T extends Mat | Int32Array>(x: T, name: string): T => {
    if (!sh || x.buffer instanceof SharedArrayBuffer) return x;
    const copy = work(sc, name, x.constructor as ArrayCtor<T>, x.length, true);
    copy.set(x as never);
    return copy;
  };
  // The other rows' factors are tabled (setup) when a third of the pairs or more are summed.
  const tabled = 3 * n >= KK;
  const out = sh ? work(sc, 'directRest', Float64Array, KK, true) : rest;
  // The pairs left out (onlyNaN) are told by their entry of rest: the other threads read them from the copy.
  if (sh && onlyNaN) out.set(rest);
  const tables: DirectTables = {
    K,
    aIsI,
    wa,
    wo: 1 - wa,
    T: g.nats + Math.log(K),
    eScale,
    n,
    budget,
    onlyNaN,
    z: shared(z, 'directZ'),
    top: shared(top, 'directTop'),
    E: shared(E, 'directE'),
    rowTheta: fresh(Float64Array, K, sh),
    start: fresh(Int32Array, K + 1, sh),
    // The candidates' tables, once counted (empty until then, shared like the rest so the helper takes the first jobs).
    cols: fresh(Int32Array, 0, sh),
    off: fresh(Int32Array, 0, sh),
    zc: fresh(Float64Array, 0, sh),
    uc: fresh(Float64Array, 0, sh),
    ec: fresh(Float64Array, 0, sh),
    thAll: work(sc, 'thAll', Float64Array, KK, sh),
    VT: tabled ? work(sc, 'VT', Float64Array, KK, sh) : null,
    zT: work(sc, 'zT', Float64Array, KK, sh),
    // E's transpose in E's own number type (the same values; half the memory for a float32 provider).
    ET: work<Mat>(sc, 'ET', E instanceof Float32Array ? Float32Array : Float64Array, KK, sh),
    rest: out,
  };
  const blocks = Math.ceil(K / DIRECT_BLOCK);
  const run = (job: DirectJob): boolean => {
    if (threads) return threads.run(job, tables, blocks, DIRECT_BLOCK);
    const counts = new Float64Array(2);
    for (let b = 0; b < blocks; b++)
      if (!DIRECT_JOBS[job](tables, b * DIRECT_BLOCK, Math.min(K, (b + 1) * DIRECT_BLOCK), counts, DIRECT_LIB))
        return false;
    return true;
  };
  // The transposes (and the other rows' factors), then each pair's threshold and each anchor row's candidate count.
  run('setup');
  run('rows');
  const { start } = tables;
  for (let a = 0; a < K; a++) start[a + 1] = start[a]! + start[a + 1]!;
  const nc = start[K]!;
  tables.cols = fresh(Int32Array, nc, sh);
  tables.off = fresh(Int32Array, nc, sh);
  tables.zc = fresh(Float64Array, nc, sh);
  tables.ec = fresh(Float64Array, nc, sh);
  tables.uc = fresh(Float64Array, tabled ? nc : 0, sh);
  run('candidates');
  // The pairs in blocks of DIRECT_BLOCK other rows o, every anchor a within a block: a block's slice of the transposed
  // tables (K rows of DIRECT_BLOCK entries) stays in cache while the anchors read their candidates' rows of it. Each
  // pair's sum runs over its columns in the same order whatever the blocking.
  if (!run('pairs')) return false;
  // The other threads wrote into the shared copy (which holds rest's other entries too).
  if (out !== rest) rest.set(out);
  return true;
}

/**
 * The jobs of directSums, in order, each over blocks of rows [lo, hi) that any thread can take (see PairThreads):
 * setup transposes z and E and tables exp(wo z) (rows of z), rows finds each pair's threshold and counts each
 * anchor row's candidate columns (anchor rows), candidates lists them (anchor rows), pairs sums the pairs (other
 * rows: directBlock). Each names nothing outside itself but its arguments, so that another thread can run its source.
 */
export type DirectJob = 'setup' | 'rows' | 'candidates' | 'pairs';

/** What the jobs call (given to them, since their source alone goes to another thread). */
export interface DirectLib {
  sortDescending: typeof sortDescending;
}

/**
 * directSums' setup for rows r0 <= r < r1 of z and E: their columns of zT and ET (the transposes), and of VT (exp(wo
 * z) transposed) when tabled. In tiles of 32 columns, so that the 32 rows of each transposed table being written stay
 * in cache while the block's rows are read.
 */
function directSetup(g: DirectTables, r0: number, r1: number): boolean {
  const { K, z, E, zT, ET, VT, wo } = g;
  for (let l0 = 0; l0 < K; l0 += 32) {
    const l1 = Math.min(K, l0 + 32);
    for (let r = r0; r < r1; r++) {
      const row = r * K;
      for (let l = l0; l < l1; l++) {
        const v = z[row + l]!;
        zT[l * K + r] = v;
        ET[l * K + r] = E[row + l]!;
        if (VT) VT[l * K + r] = Math.exp(wo * v);
      }
    }
  }
  return true;
}

/**
 * directSums' thresholds for anchor rows a0 <= a < a1: each pair's threshold on z_al in thAll (Infinity for a pair
 * not summed here), each row's lowest in rowTheta, and how many of the row's columns reach it in start[a + 1] (the
 * caller turns the counts into offsets).
 */
function directRows(g: DirectTables, a0: number, a1: number): boolean {
  const { K, z, top, zT, thAll, rowTheta, start, rest, aIsI, wa, wo, T, onlyNaN } = g;
  for (let a = a0; a < a1; a++) {
    const za = a * K,
      zta = top[a]! * K;
    let lo = Infinity;
    for (let o = 0; o < K; o++) {
      if (onlyNaN && !Number.isNaN(rest[aIsI ? za + o : o * K + a]!)) {
        thAll[za + o] = Infinity;
        continue;
      }
      const th = (Math.max(wa * z[za + top[o]!]!, wo * zT[zta + o]!) - T) / wa;
      thAll[za + o] = th;
      if (th < lo) lo = th;
    }
    rowTheta[a] = lo;
    let c = 0;
    if (lo < Infinity) for (let l = 0; l < K; l++) if (z[za + l]! >= lo) c++;
    start[a + 1] = c;
  }
  return true;
}

/**
 * directSums' candidate columns of anchor rows a0 <= a < a1 (those with z_al >= rowTheta[a], start[a] to
 * start[a + 1]), largest z first, ties in column order, with their z, E, offset in the transposed tables (column
 * times K) and (tabled) exp(wa z).
 */
function directCandidates(g: DirectTables, a0: number, a1: number, _counts: Float64Array, lib: DirectLib): boolean {
  const { K, z, E, rowTheta, start, cols, off, zc, ec, uc, wa, VT } = g;
  let widest = 0;
  for (let a = a0; a < a1; a++) widest = Math.max(widest, start[a + 1]! - start[a]!);
  const tmpKey = new Float64Array(widest),
    tmpIdx = new Int32Array(widest);
  for (let a = a0; a < a1; a++) {
    const th = rowTheta[a]!;
    if (th === Infinity) continue;
    const s0 = start[a]!,
      s1 = start[a + 1]!,
      za = a * K;
    // The row's candidates in column order, then sorted by z.
    let o = s0;
    for (let l = 0; l < K && o < s1; l++) {
      const v = z[za + l]!;
      if (v >= th) {
        cols[o] = l;
        zc[o++] = v;
      }
    }
    lib.sortDescending(zc, cols, s0, s1, tmpKey, tmpIdx);
    for (let c = s0; c < o; c++) {
      const l = cols[c]!;
      off[c] = l * K;
      ec[c] = E[za + l]!;
      if (VT) uc[c] = Math.exp(wa * zc[c]!);
    }
  }
  return true;
}

/** What directBlock reads and writes: directSums' tables (typed arrays only, so they can be shared) and scalars. */
export interface DirectTables {
  K: number;
  /** Whether the anchor a of pair t = i K + j is i (lb >= 1/2) or j. */
  aIsI: boolean;
  wa: number;
  wo: number;
  /** nats + ln K. */
  T: number;
  eScale: number;
  /** Pairs summed in all, and the column visits a pair past which the sums give up (Infinity: never). */
  n: number;
  budget: number;
  /** Whether only the pairs whose entry of rest is NaN are summed. */
  onlyNaN: boolean;
  /** The shifted logits (row-major), their row maxima's columns, E (row-major). */
  z: Float64Array;
  top: Int32Array;
  E: Mat;
  /** Each anchor row's lowest pair threshold (Infinity: none of its pairs is summed). */
  rowTheta: Float64Array;
  /**
   * Anchor a's candidates are start[a] to start[a + 1]: their column, column times K, z, exp(wa z) (tabled) and E.
   */
  start: Int32Array;
  cols: Int32Array;
  off: Int32Array;
  zc: Float64Array;
  uc: Float64Array;
  ec: Float64Array;
  /** Each pair's threshold on z_al, anchor-major (thAll[a K + o]); Infinity for a pair not summed here. */
  thAll: Float64Array;
  /** exp(wo z) transposed (null: not tabled), z transposed, E transposed. */
  VT: Float64Array | null;
  zT: Float64Array;
  ET: Mat;
  /** Where r of pair t goes (and, with onlyNaN, where the pairs to sum are NaN). */
  rest: Float64Array;
}

/**
 * directSums' pairs with other row o0 <= o < o1, every anchor (see directSums). counts holds this caller's column
 * visits and pairs so far and is updated; false as soon as the visits pass budget a pair on average over those pairs
 * (counted as a quarter of all pairs at least, so that a few first anchors decide nothing): the rest would cost as
 * much, so the products take over. It names nothing outside itself, so that it can run in another thread.
 */
export function directBlock(g: DirectTables, o0: number, o1: number, counts: Float64Array): boolean {
  const { K, aIsI, wa, wo, T, eScale, n, budget, start, off, zc, uc, ec, thAll, VT, zT, ET, rest } = g;
  // A pair's sum of tabled terms at or above this is kept: its terms that matter (over e^-T of the sum, T < 60) are
  // normal numbers, and those that underflowed are under 2^-1022 each. Below it the pair is summed with exponentials.
  const NORMAL_SUM = 2 ** -800;
  const inv = 1 / eScale;
  let visits = counts[0]!,
    done = counts[1]!;
  let ok = true;
  for (let a = 0; a < K && ok; a++) {
    const za = a * K;
    const c0 = start[a]!,
      c1 = start[a + 1]!;
    for (let o = o0; o < o1; o++) {
      const th = thAll[za + o]!;
      if (th === Infinity) continue;
      const t = aIsI ? za + o : o * K + a;
      let den = 0,
        num = 0;
      let c = c0;
      if (VT) {
        // The terms as they are, e^{c_l}: every column down to the pair's threshold, in one pass.
        for (; c < c1 && zc[c]! >= th; c++) {
          const lo = off[c]! + o;
          const x = uc[c]! * VT[lo]!;
          den += x;
          num += x * (wa * ec[c]! + wo * ET[lo]!) * inv;
        }
        visits += c - c0;
      }
      if (!(den >= NORMAL_SUM)) {
        // The pair's max m over its candidates (every column within T of m is among them), then the terms
        // e^{c_l - m}.
        let ref = -Infinity;
        for (c = c0; c < c1; c++) {
          const zal = zc[c]!;
          // Every later column has c_l <= wa z_al (z <= 0, and rounding keeps the order): none can raise ref.
          if (zal < th || wa * zal < ref) break;
          const v = wa * zal + wo * zT[off[c]! + o]!;
          if (v > ref) ref = v;
        }
        visits += c - c0;
        const th2 = Math.max(th, (ref - T) / wa);
        den = 0;
        num = 0;
        for (c = c0; c < c1 && zc[c]! >= th2; c++) {
          const lo = off[c]! + o;
          const arg = wa * zc[c]! + wo * zT[lo]! - ref;
          const x = arg === 0 ? 1 : Math.exp(arg);
          den += x;
          num += x * (wa * ec[c]! + wo * ET[lo]!) * inv;
        }
        visits += c - c0;
      }
      rest[t] = (eScale * num) / den;
      done++;
    }
    if (visits > budget * Math.max(done, n / 4)) ok = false;
  }
  counts[0] = visits;
  counts[1] = done;
  return ok;
}

/**
 * Sorts key[lo, hi) from largest to smallest, stably (equal keys keep their order), moving idx along: insertion sort
 * on runs of 16, then merges through tk and ti (at least hi - lo long). Keys must not be NaN.
 */
export function sortDescending(
  key: Float64Array,
  idx: Int32Array,
  lo: number,
  hi: number,
  tk: Float64Array,
  ti: Int32Array,
): void {
  const RUN = 16;
  for (let r0 = lo; r0 < hi; r0 += RUN) {
    const r1 = Math.min(hi, r0 + RUN);
    for (let c = r0 + 1; c < r1; c++) {
      const v = key[c]!,
        x = idx[c]!;
      let p = c;
      for (; p > r0 && key[p - 1]! < v; p--) {
        key[p] = key[p - 1]!;
        idx[p] = idx[p - 1]!;
      }
      key[p] = v;
      idx[p] = x;
    }
  }
  for (let w = RUN; w < hi - lo; w *= 2) {
    for (let m0 = lo; m0 + w < hi; m0 += 2 * w) {
      const mid = m0 + w,
        m1 = Math.min(hi, m0 + 2 * w);
      // The left run out to tk/ti, then merged back: the right run's entries move only when they are larger.
      const n = mid - m0;
      for (let q = 0; q < n; q++) {
        tk[q] = key[m0 + q]!;
        ti[q] = idx[m0 + q]!;
      }
      let p = 0,
        r = mid,
        out = m0;
      while (p < n && r < m1) {
        if (key[r]! > tk[p]!) {
          key[out] = key[r]!;
          idx[out++] = idx[r++]!;
        } else {
          key[out] = tk[p]!;
          idx[out++] = ti[p++]!;
        }
      }
      while (p < n) {
        key[out] = tk[p]!;
        idx[out++] = ti[p++]!;
      }
    }
  }
}

/** directSums' jobs by name (their sources are what another thread runs: src/backend/pairThreads.ts). */
export const DIRECT_JOBS: Record<
  DirectJob,
  (g: DirectTables, lo: number, hi: number, counts: Float64Array, lib: DirectLib) => boolean
> = { setup: directSetup, rows: directRows, candidates: directCandidates, pairs: directBlock };

/** What the jobs are given to call on this thread. */
export const DIRECT_LIB: DirectLib = { sortDescending };

/** Calls the provider and checks the size of what it returns. */
function checkedMul(mm: MatMul, A: Mat, B: Mat, m: number, k: number, n: number, out?: Mat): Mat {
  return checkedProduct(mm(A, B, m, k, n, out), m, k, n);
}

/** A provider's result, checked for its size. */
function checkedProduct(out: Mat, m: number, k: number, n: number): Mat {
  if (out.length !== m * n)
    throw new RangeError(
      `gainMatrix: the matmul provider returned ${out.length} entries for a ${m} x ${k} x ${n} product`,
    );
  return out;
}
