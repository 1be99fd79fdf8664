// The objectives of docs/ALGORITHM.md section 2: their value psi(C), the multipliers that linearise the
// min-type and constrained ones, and D = dpsi/dC~ through the row-softmax chain rule.
import {
  colSums,
  constraintMultiplier,
  gMean,
  headCount,
  hedgeWeights,
  hMean,
  mean,
  recalls,
  rowSums,
  type ConstraintMultiplierOptions,
} from '../numerics/classStats';
import {
  hasMultipliers,
  isCoverageObjective,
  isHeadTailCoverageObjective,
  isHMeanObjective,
  isMinRecallObjective,
  unknownObjective,
  type ObjectiveId,
} from './objectiveIds';

/** Tunables of the objectives and their multipliers (docs/ALGORITHM.md sections 2 and 8, code-parity defaults). */
export interface ObjectiveOptions {
  /** pi_k in the Jacobians: 1/K as in the reference, or the row sums R_k of C (docs/ALGORITHM.md 7.3). */
  priorMode: 'uniformK' | 'rowsum';
  /** Head = first floor(headFrac*K) classes; per-class multipliers divide by headFrac*K and (1-headFrac)*K. */
  headFrac: number;
  /** min-recall multipliers: lambda_k <- lambda_k^beta exp(-etaLambda r_k), normalised. */
  minRecall: { beta: number; etaLambda: number };
  /**
   * Coverage constraint cov >= alpha/K; multipliers of slack temperature tau, capped at lambdaMax (classStats
   * constraintMultiplier).
   */
  coverage: { alpha: number } & ConstraintMultiplierOptions;
}

/** The code-parity defaults (docs/ALGORITHM.md section 8, suggested flags). */
export function defaultObjectiveOptions(): ObjectiveOptions {
  return {
    priorMode: 'uniformK',
    headFrac: 0.9,
    minRecall: { beta: 0, etaLambda: 50 },
    coverage: { alpha: 0.95, tau: 0.01, lambdaMax: 100 },
  };
}

/** Checks the shape of C and (when needed) the multipliers. */
function check(
  id: ObjectiveId,
  C: Float64Array,
  K: number,
  lambda: Float64Array | null | undefined,
  needLambda: boolean,
): void {
  if (!(K >= 2) || !Number.isInteger(K)) throw new RangeError(`objective ${id}: K must be an integer >= 2, got ${K}`);
  if (C.length !== K * K) throw new RangeError(`objective ${id}: C has ${C.length} entries, expected ${K * K}`);
  if (needLambda && hasMultipliers(id)) {
    if (!lambda) throw new RangeError(`objective ${id} needs multipliers (see initialMultipliers/updateMultipliers)`);
    if (lambda.length !== K) throw new RangeError(`objective ${id}: ${lambda.length} multipliers, expected ${K}`);
  }
}

/**
 * The factor 1 + max lambda that divides D of the coverage objectives (docs/ALGORITHM.md section 2, "Extra scaling").
 */
function coverageScale(id: ObjectiveId, lambda: Float64Array, K: number, headFrac: number): number {
  if (id === 'meanRecallMinHeadTailCoverage') {
    // 1 + max(lambda_H, lambda_T): undo the per-class division by headFrac*K and (1-headFrac)*K.
    return 1 + Math.max(lambda[0]! * headFrac * K, lambda[K - 1]! * (1 - headFrac) * K);
  }
  // meanRecallMinCoverage, hMeanMinCoverage: max over classes; hMeanMinHeadTailCoverage: max per-class lambda.
  let m = -Infinity;
  for (let l = 0; l < K; l++) m = Math.max(m, lambda[l]!);
  return 1 + m;
}

/**
 * The objective value psi(C) of docs/ALGORITHM.md section 2 on a joint C, taken as given (clip it first for
 * G-/H-mean). With multipliers it is the Lagrangian at those fixed multipliers (including the coverage
 * 1/(1 + max lambda) scaling), whose gradient through C = pi*softmax(C~) is objectiveD.
 */
export function psi(
  id: ObjectiveId,
  C: Float64Array,
  K: number,
  opts: ObjectiveOptions,
  lambda?: Float64Array | null,
): number {
  check(id, C, K, lambda, false);
  const r = recalls(C, K);
  const useLambda = hasMultipliers(id) && lambda !== undefined && lambda !== null;
  if (useLambda && lambda.length !== K)
    throw new RangeError(`objective ${id}: ${lambda.length} multipliers, expected ${K}`);
  const H = headCount(K, opts.headFrac);
  switch (id) {
    case 'meanRecall':
      return mean(r, 0, K);
    case 'gMean':
      return gMean(r);
    case 'hMean':
      return hMean(r);
    case 'minRecall':
    case 'minHeadTailRecall': {
      if (useLambda) {
        let s = 0;
        for (let k = 0; k < K; k++) s += lambda[k]! * r[k]!;
        return s;
      }
      return id === 'minRecall' ? Math.min(...r) : Math.min(mean(r, 0, H), mean(r, H, K));
    }
    case 'meanRecallMinCoverage':
    case 'hMeanMinCoverage':
    case 'meanRecallMinHeadTailCoverage':
    case 'hMeanMinHeadTailCoverage': {
      const base = isHMeanObjective(id) ? hMean(r) : mean(r, 0, K);
      if (!useLambda) return base;
      const cov = colSums(C, K);
      const t = opts.coverage.alpha / K;
      let s = base;
      for (let l = 0; l < K; l++) s += lambda[l]! * (cov[l]! - t);
      return s / coverageScale(id, lambda, K, opts.headFrac);
    }
    default:
      return unknownObjective(id);
  }
}

/**
 * Initial multipliers: zeros for coverage objectives, 1/K for min-type ones, null otherwise (docs/ALGORITHM.md section
 * 2).
 */
export function initialMultipliers(id: ObjectiveId, K: number): Float64Array | null {
  if (isCoverageObjective(id)) return new Float64Array(K);
  if (isMinRecallObjective(id)) return new Float64Array(K).fill(1 / K);
  return null;
}

/**
 * New multipliers from the clipped C, before D is computed (docs/ALGORITHM.md section 2 table): min recall by
 * lambda^beta exp(-eta r) normalised; min head/tail recall by a two-group softmax spread per class as
 * lambda_H/(headFrac K), lambda_T/((1-headFrac) K); coverage by constraintMultiplier (classStats.ts) on each slack,
 * from prev, at refresh number `round` (0 first). Null for objectives without multipliers.
 */
export function updateMultipliers(
  id: ObjectiveId,
  Cclipped: Float64Array,
  K: number,
  prev: Float64Array | null,
  opts: ObjectiveOptions,
  round = 0,
): Float64Array | null {
  check(id, Cclipped, K, null, false);
  if (!hasMultipliers(id)) return null;
  const hf = opts.headFrac;
  const H = headCount(K, hf);
  const out = new Float64Array(K);
  if (prev && prev.length !== K) throw new RangeError(`${id}: ${prev.length} previous multipliers, expected ${K}`);
  if (id === 'minRecall') {
    const { beta, etaLambda } = opts.minRecall;
    return hedgeWeights(recalls(Cclipped, K), prev, beta, etaLambda, -1, out);
  }
  if (id === 'minHeadTailRecall') {
    // A softmin of the two group means with no memory, beta ignored (docs/ALGORITHM.md sections 2 and 7.4).
    const r = recalls(Cclipped, K);
    const [lH, lT] = hedgeWeights([mean(r, 0, H), mean(r, H, K)], null, 0, opts.minRecall.etaLambda, -1);
    for (let k = 0; k < K; k++) out[k] = k < H ? lH! / (hf * K) : lT! / ((1 - hf) * K);
    return out;
  }
  const cov = colSums(Cclipped, K);
  const t = opts.coverage.alpha / K;
  if (isHeadTailCoverageObjective(id)) {
    // One multiplier per group, spread per class; the previous group multipliers are read back from the spread.
    const lH = constraintMultiplier(mean(cov, 0, H) - t, prev ? prev[0]! * (hf * K) : null, round, opts.coverage);
    const lT = constraintMultiplier(
      mean(cov, H, K) - t,
      prev ? prev[K - 1]! * ((1 - hf) * K) : null,
      round,
      opts.coverage,
    );
    for (let l = 0; l < K; l++) out[l] = l < H ? lH / (hf * K) : lT / ((1 - hf) * K);
  } else {
    for (let l = 0; l < K; l++)
      out[l] = constraintMultiplier(cov[l]! - t, prev ? prev[l]! : null, round, opts.coverage);
  }
  return out;
}

/**
 * D = dpsi/dC~ at the clipped C (docs/ALGORITHM.md section 2): D_kl = M_kl C_kl - (C_kl/pi_k) sum_j M_kj C_kj,
 * with M = dpsi/dC (or the Lagrangian's at the fixed multipliers), pi_k = 1/K or R_k.
 */
export function objectiveD(
  id: ObjectiveId,
  Cclipped: Float64Array,
  K: number,
  lambda: Float64Array | null,
  opts: ObjectiveOptions,
  out?: Float64Array,
): Float64Array {
  check(id, Cclipped, K, lambda, true);
  const C = Cclipped;
  const R = rowSums(C, K);
  const pi = opts.priorMode === 'rowsum' ? R : new Float64Array(K).fill(1 / K);
  // The recall objectives' M is diagonal: D from its diagonal, without a K x K M to fill and read twice.
  if (id === 'meanRecall') return diagonalChainRuleD(new Float64Array(K).fill(1 / K), C, K, pi, out);
  if (id === 'minRecall' || id === 'minHeadTailRecall') return diagonalChainRuleD(lambda!, C, K, pi, out);
  const M = new Float64Array(K * K);
  const r = recalls(C, K);
  const addRecallWeights = (w: (k: number) => number): void => {
    // psi = sum_k w_k C_kk / pi_k  =>  M_kk = w_k / pi_k (uniformK: w_k K; docs/ALGORITHM.md section 2 table).
    for (let k = 0; k < K; k++) M[k * K + k]! += w(k) / pi[k]!;
  };
  const addHMean = (): void => {
    // M_kl = -(psi^2/K)/C_kk (l != k), M_kk = -(psi^2/K)(1/C_kk - R_k/C_kk^2) (docs/ALGORITHM.md section 2).
    const h = hMean(r);
    const c = (h * h) / K;
    for (let k = 0; k < K; k++) {
      const ckk = C[k * K + k]!;
      for (let l = 0; l < K; l++) M[k * K + l]! -= c / ckk;
      M[k * K + k]! += (c * R[k]!) / (ckk * ckk);
    }
  };
  let scale = 1;
  switch (id) {
    case 'gMean': {
      // M_kl = psi (1/K)(delta_kl/C_kk - 1/R_k) (docs/ALGORITHM.md section 2; clipped C, section 7.14).
      const g = gMean(r);
      for (let k = 0; k < K; k++) {
        for (let l = 0; l < K; l++) M[k * K + l] = -(g / K) / R[k]!;
        M[k * K + k]! += g / K / C[k * K + k]!;
      }
      break;
    }
    case 'hMean':
      addHMean();
      break;
    case 'meanRecallMinCoverage':
    case 'hMeanMinCoverage':
    case 'meanRecallMinHeadTailCoverage':
    case 'hMeanMinHeadTailCoverage': {
      if (isHMeanObjective(id)) addHMean();
      else addRecallWeights(() => 1 / K);
      // Lagrangian term sum_l lambda_l (cov_l - alpha/K): M^cov_kl = lambda_l (docs/ALGORITHM.md section 2).
      for (let k = 0; k < K; k++) for (let l = 0; l < K; l++) M[k * K + l]! += lambda![l]!;
      scale = coverageScale(id, lambda!, K, opts.headFrac);
      break;
    }
    default:
      return unknownObjective(id);
  }
  return chainRuleD(M, C, K, pi, scale, out);
}

/**
 * chainRuleD for a diagonal M (psi = sum_k w_k C_kk / pi_k: M_kk = w_k / pi_k, 0 elsewhere), given w: the same values
 * bit for bit (the zero entries of M add exact zeros to each row's sum and leave 0 - x in D).
 */
export function diagonalChainRuleD(
  w: ArrayLike<number>,
  C: Float64Array,
  K: number,
  pi: Float64Array,
  out?: Float64Array,
): Float64Array {
  const D = dOut(out, K);
  for (let k = 0; k < K; k++) {
    const o = k * K;
    const mkk = 0 + w[k]! / pi[k]!;
    const s = mkk * C[o + k]!;
    const inv = 1 / pi[k]!;
    for (let l = 0; l < K; l++) {
      const ckl = C[o + l]!;
      D[o + l] = 0 * ckl - ckl * inv * s;
    }
    D[o + k] = mkk * C[o + k]! - C[o + k]! * inv * s;
  }
  return D;
}

/** D's array: out when given (every entry is written), else a new one. */
function dOut(out: Float64Array | undefined, K: number): Float64Array {
  if (out && out.length !== K * K) throw new RangeError(`D: out has ${out.length} entries, expected ${K * K}`);
  return out ?? new Float64Array(K * K);
}

/** The priors pi_k of the Jacobians: 1/K (uniformK) or the row sums R_k of C (rowsum). */
export function jacobianPriors(C: Float64Array, K: number, priorMode: ObjectiveOptions['priorMode']): Float64Array {
  return priorMode === 'rowsum' ? rowSums(C, K) : new Float64Array(K).fill(1 / K);
}

/**
 * The chain rule of docs/ALGORITHM.md section 2 for any psi: D_kl = (M_kl C_kl - (C_kl/pi_k) sum_j M_kj C_kj) / scale,
 * with M = dpsi/dC (or the Lagrangian's) at the clipped C.
 */
export function chainRuleD(
  M: Float64Array,
  C: Float64Array,
  K: number,
  pi: Float64Array,
  scale = 1,
  out?: Float64Array,
): Float64Array {
  const D = dOut(out, K);
  for (let k = 0; k < K; k++) {
    let s = 0;
    for (let j = 0; j < K; j++) s += M[k * K + j]! * C[k * K + j]!;
    const inv = 1 / pi[k]!;
    // x / 1 is x: without a scale, no division per entry.
    if (scale === 1)
      for (let l = 0; l < K; l++) {
        const ckl = C[k * K + l]!;
        D[k * K + l] = M[k * K + l]! * ckl - ckl * inv * s;
      }
    else
      for (let l = 0; l < K; l++) {
        const ckl = C[k * K + l]!;
        D[k * K + l] = (M[k * K + l]! * ckl - ckl * inv * s) / scale;
      }
  }
  return D;
}
