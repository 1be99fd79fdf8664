// The per-class statistics of a joint confusion matrix C and the small reductions every objective and metric
// is built from: row sums R (true-class priors), column sums (coverage), recall and precision with one 0/0
// policy, means, G-mean and H-mean, the head/tail split, the soft hinge and the Hedge multiplier update of
// docs/ALGORITHM.md section 2, and the argmax of logits with one NaN policy. Written once, used by
// objectives.ts, metrics.ts, the expression tape, customObjective.ts and the refresh.
import { TrainingError } from '../errors';
import type { MetricsReport } from '../../protocol/messages';

/** Per-class statistics of a joint C: diagonal, row sums R (true-class priors) and column sums (coverage). */
export interface ClassStats {
  diag: Float64Array;
  R: Float64Array;
  cov: Float64Array;
}

/** Checks that C is K x K. */
function checkShape(C: ArrayLike<number>, K: number, what: string): void {
  if (C.length !== K * K) throw new RangeError(`${what}: C has ${C.length} entries, expected ${K * K}`);
}

/** Diagonal, row sums and column sums of a joint K x K C (row sums left to right, column sums top to bottom). */
export function classStats(C: ArrayLike<number>, K: number): ClassStats {
  checkShape(C, K, 'classStats');
  const diag = new Float64Array(K);
  const R = new Float64Array(K);
  const cov = new Float64Array(K);
  for (let k = 0; k < K; k++) {
    let s = 0;
    for (let l = 0; l < K; l++) {
      s += C[k * K + l]!;
      cov[l]! += C[k * K + l]!;
    }
    R[k] = s;
    diag[k] = C[k * K + k]!;
  }
  return { diag, R, cov };
}

/**
 * classStats of a C given by its nonzero cells only: cells (row-major indices k K + l, ascending) and their values.
 * The sums visit the cells in the order classStats visits them and a zero adds nothing, so the result is the same to
 * the last bit; O(cells + K) instead of O(K^2) (the warm start's tau search scores dozens of such matrices).
 */
export function classStatsOfCells(cells: Int32Array, values: Float64Array, K: number): ClassStats {
  const diag = new Float64Array(K);
  const R = new Float64Array(K);
  const cov = new Float64Array(K);
  for (let u = 0; u < cells.length; u++) {
    const t = cells[u]!;
    const k = Math.floor(t / K),
      l = t - k * K;
    const v = values[u]!;
    R[k]! += v;
    cov[l]! += v;
    if (k === l) diag[k] = v;
  }
  return { diag, R, cov };
}

/** Row sums R_k of C (the true-class priors of the joint C). */
export function rowSums(C: ArrayLike<number>, K: number): Float64Array {
  return classStats(C, K).R;
}

/** Column sums cov_l of C (the coverage of each predicted class). */
export function colSums(C: ArrayLike<number>, K: number): Float64Array {
  return classStats(C, K).cov;
}

/** num_k / den_k, and 0 where den_k is not positive: the one 0/0 policy of recall and precision. */
export function ratios(
  num: ArrayLike<number>,
  den: ArrayLike<number>,
  out: Float64Array = new Float64Array(num.length),
): Float64Array {
  for (let k = 0; k < num.length; k++) out[k] = den[k]! > 0 ? num[k]! / den[k]! : 0;
  return out;
}

/** Recalls r_k = C_kk / R_k (0 for a class with no examples). */
export function recallsOf(st: ClassStats, out?: Float64Array): Float64Array {
  return ratios(st.diag, st.R, out);
}

/** Precisions p_l = C_ll / cov_l (0 for a class never predicted). */
export function precisionsOf(st: ClassStats, out?: Float64Array): Float64Array {
  return ratios(st.diag, st.cov, out);
}

/** Recalls of a joint C (0 for a class with no examples). */
export function recalls(C: ArrayLike<number>, K: number): Float64Array {
  return recallsOf(classStats(C, K));
}

/** Sum of xs, left to right. */
export function sum(xs: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i]!;
  return s;
}

/** Mean of xs[from..to) over the indices where keep holds (all when absent); NaN when none. */
export function mean(xs: ArrayLike<number>, from = 0, to = xs.length, keep?: (i: number) => boolean): number {
  let s = 0;
  let n = 0;
  for (let i = from; i < to; i++)
    if (!keep || keep(i)) {
      s += xs[i]!;
      n++;
    }
  return s / n;
}

/** G-mean (prod x_i)^(1/n) as exp(mean log x_i) (docs/ALGORITHM.md section 2); 0 when an entry is 0. */
export function gMean(xs: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += Math.log(xs[i]!);
  return Math.exp(s / xs.length);
}

/** H-mean n / sum(1/x_i) (docs/ALGORITHM.md section 2); 0 when an entry is 0. */
export function hMean(xs: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += 1 / xs[i]!;
  return xs.length / s;
}

/**
 * Number of head classes: floor(headFrac * K), kept in [1, K - 1] so both groups are non-empty (docs/ALGORITHM.md
 * 7.17).
 */
export function headCount(K: number, headFrac: number): number {
  if (K < 2) return K;
  return Math.min(K - 1, Math.max(1, Math.floor(headFrac * K)));
}

/** Options of the soft hinge (the coverage multipliers of selmix.coverage). */
export interface SoftHingeOptions {
  tau: number;
  lambdaMax: number;
}

/**
 * Options of the constraint multipliers (selmix.coverage): the soft hinge's, and how a multiplier moves from one
 * refresh to the next.
 */
export interface ConstraintMultiplierOptions extends SoftHingeOptions {
  /** Absent: 'hinge' (see constraintMultiplier). */
  update?: 'dual' | 'hinge';
  /** 'hinge': lambda <- damping prev + (1 - damping) hinge. */
  damping?: number;
  /** 'dual': the step at the first refresh, in units of lambdaMax per tau of slack. */
  eta?: number;
}

/**
 * The closed-form multiplier of a constraint g >= t on its slack g - t (docs/ALGORITHM.md section 2):
 * lambda = max(0, lambdaMax (1 - exp(slack / tau))), 0 when the constraint holds with room.
 */
export function softHinge(slack: number, o: SoftHingeOptions): number {
  return Math.max(0, o.lambdaMax * (1 - Math.exp(slack / o.tau)));
}

/**
 * One refresh's multiplier of a constraint g >= t from its slack g - t, the previous multiplier (null at the
 * first refresh) and the refresh's index round = 0, 1, ... (docs/ALGORITHM.md section 2, "Coverage multipliers"):
 * - 'hinge': the soft hinge, averaged with prev by damping (damping 0: the memoryless hinge of the reference,
 *   which jumps between 0 and about lambdaMax when the constraint flips between met and not met).
 * - 'dual': projected dual ascent with a decaying step, lambda <- clip(prev - eta / sqrt(round + 1) *
 *   lambdaMax * slack / tau, 0, lambdaMax). It grows while the constraint is violated and shrinks while it holds,
 *   like the hinge, but integrates the slack instead of reacting to its last value, and its steps shrink as
 *   1/sqrt(round + 1), so the multiplier settles instead of oscillating.
 */
export function constraintMultiplier(
  slack: number,
  prev: number | null,
  round: number,
  o: ConstraintMultiplierOptions,
): number {
  if (o.update === 'dual') {
    const step = (o.eta ?? 0.1) / Math.sqrt(Math.max(0, round) + 1);
    return Math.min(o.lambdaMax, Math.max(0, (prev ?? 0) - step * o.lambdaMax * (slack / o.tau)));
  }
  const h = softHinge(slack, o);
  const damping = o.damping ?? 0;
  return damping > 0 && prev !== null ? damping * prev + (1 - damping) * h : h;
}

/**
 * The multipliers of a min (sign -1) or max (sign +1) over v (docs/ALGORITHM.md section 2, min_recall):
 * w_i proportional to prev_i^beta exp(sign eta v_i), normalised, in log space and max-subtracted. beta = 0
 * is the softmin/softmax with no memory (0^0 = 1); with beta = 1 it is the Hedge update. prev null: 1/n.
 */
export function hedgeWeights(
  v: ArrayLike<number>,
  prev: ArrayLike<number> | null,
  beta: number,
  eta: number,
  sign: -1 | 1,
  out: Float64Array = new Float64Array(v.length),
): Float64Array {
  const n = v.length;
  let mx = -Infinity;
  for (let i = 0; i < n; i++) {
    const lp = beta === 0 ? 0 : beta * Math.log(prev ? prev[i]! : 1 / n);
    out[i] = sign < 0 ? lp - eta * v[i]! : lp + eta * v[i]!;
    mx = Math.max(mx, out[i]!);
  }
  if (mx === -Infinity) return out.fill(1 / n);
  let s = 0;
  for (let i = 0; i < n; i++) {
    out[i] = Math.exp(out[i]! - mx);
    s += out[i]!;
  }
  for (let i = 0; i < n; i++) out[i]! /= s;
  return out;
}

/**
 * The predicted class of each row of an n x K logits array: the first maximum. A NaN logit means the model
 * has diverged, and is a TrainingError rather than a silent class 0 (the one NaN policy of every argmax). With
 * `shift` (K entries), of each row minus shift: logits adjusted per class (src/core/numerics/logitAdjust.ts).
 */
export function argmaxRows(logits: ArrayLike<number>, n: number, K: number, shift?: ArrayLike<number>): Int32Array {
  if (logits.length < n * K) throw new RangeError(`argmaxRows: ${logits.length} logits, expected n*K = ${n * K}`);
  if (shift && shift.length !== K)
    throw new RangeError(`argmaxRows: a shift of ${shift.length} entries, expected K = ${K}`);
  const out = new Int32Array(n);
  if (!shift) {
    // The same first maximum without a shift to subtract (a refresh's N x K validation logits, millions of entries):
    // an entry that is not <= the best so far is larger or NaN, and only then is it looked at again.
    for (let i = 0; i < n; i++) {
      const o = i * K;
      let best = 0;
      let bv = logits[o]!;
      for (let k = 1; k < K; k++) {
        const v = logits[o + k]!;
        if (!(v <= bv)) {
          if (v > bv) {
            bv = v;
            best = k;
          } else {
            bv = NaN;
            break;
          }
        }
      }
      if (Number.isNaN(bv)) throw nanLogits(i);
      out[i] = best;
    }
    return out;
  }
  const sh = shift;
  for (let i = 0; i < n; i++) {
    let best = 0;
    // The row minus shift, entry by entry: the same float64 values as a shifted copy of the logits, without the copy.
    let bv = logits[i * K]! - sh[0]!;
    for (let k = 1; k < K; k++) {
      const v = logits[i * K + k]! - sh[k]!;
      if (v > bv) {
        bv = v;
        best = k;
      } else if (Number.isNaN(v)) {
        bv = v;
        break;
      }
    }
    if (Number.isNaN(bv)) throw nanLogits(i);
    out[i] = best;
  }
  return out;
}

/** The error of a row of NaN logits (the weights diverged). */
function nanLogits(i: number): TrainingError {
  return new TrainingError(
    `the model's logits for example ${i} are NaN: the weights have diverged; lower the learning rate (training.lr or pretrain.lr)`,
  );
}

/**
 * The class statistics recovered from a metrics report (recall, coverage and class support are enough:
 * R_k = support_k / N, C_kk = recall_k R_k), so reports carry a custom objective's value.
 */
export function statsFromMetrics(m: MetricsReport): ClassStats {
  const K = m.recall.length;
  let N = 0;
  for (const s of m.support) N += s;
  const R = Float64Array.from(m.support, (s) => (N > 0 ? s / N : 0));
  const diag = Float64Array.from(m.recall, (r, k) => r * R[k]!);
  return { diag, R, cov: Float64Array.from(m.coverage.slice(0, K)) };
}
