// Post-hoc logit adjustment (Menon et al., 2021), the cheap baseline SelMix has to beat and the point a run may start
// from (docs/ALGORITHM.md section 5.1): the head's bias becomes b - tau log(prior) with the labeled set's class prior,
// which moves every logit by the same per-class offset. tau is chosen on the validation set for the run's objective.
import { argmaxRows } from './classStats';
import { classSupport, confusionMatrix } from './confusion';
import { metricsReport } from './metrics';
import type { MetricsReport } from '../protocol/messages';

/** The tau values tried on validation (0 keeps the model as it is, 1 is the textbook adjustment). */
export const TAU_GRID: readonly number[] = [0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2, 2.5, 3];

/** log of the labeled set's class prior; a class with no example counts as one (as pre-training does, section 5.9). */
export function logPrior(labels: ArrayLike<number>, K: number): Float64Array {
  const counts = new Float64Array(K);
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i]!;
    if (y >= 0 && y < K) counts[y]!++;
  }
  const out = new Float64Array(K);
  for (let k = 0; k < K; k++) out[k] = Math.log(Math.max(counts[k]!, 1) / Math.max(labels.length, 1));
  return out;
}

/** How a candidate scores: feasible ones first, then the higher value (the loop's best-iterate rule, section 5.6). */
export interface Scored {
  score: number;
  feasible: boolean;
  /** How far an infeasible candidate is from its bound (bound - achieved value, > 0); absent when unknown or feasible. */
  violation?: number;
}

/**
 * Whether a is better than b: a feasible candidate beats an infeasible one; between two infeasible ones whose
 * violations are known, the one nearer its bound wins (a constrained run with no feasible iterate keeps the one
 * closest to feasible); otherwise the higher value.
 */
export function betterScore(a: Scored, b: Scored): boolean {
  if (a.feasible !== b.feasible) return a.feasible;
  if (!a.feasible && a.violation !== undefined && b.violation !== undefined && a.violation !== b.violation) return a.violation < b.violation;
  return a.score > b.score;
}

/** The joint confusion matrix and metrics of logits shifted by -tau logPrior. */
export function adjustedMetrics(logits: ArrayLike<number>, labels: Int32Array, K: number, lp: ArrayLike<number>, tau: number, headFrac: number): { C: Float64Array; metrics: MetricsReport } {
  const n = labels.length;
  // The predictions of the shifted logits without an n x K shifted copy (the tau search evaluates this many times).
  const shift = new Float64Array(K);
  for (let k = 0; k < K; k++) shift[k] = tau * lp[k]!;
  const C = confusionMatrix(labels, argmaxRows(logits, n, K, shift), K);
  return { C, metrics: metricsReport(C, K, classSupport(labels, K), headFrac) };
}

/** The chosen adjustment: tau, and the validation metrics and score it gives. */
export interface TauChoice extends Scored {
  tau: number;
  metrics: MetricsReport;
}

/**
 * The tau of TAU_GRID whose adjusted validation logits score best for the objective (feasible first, then the value;
 * ties keep the smaller tau, so tau = 0 wins unless an adjustment helps).
 */
export function tuneTau(logits: ArrayLike<number>, labels: Int32Array, K: number, lp: ArrayLike<number>, headFrac: number,
  score: (C: Float64Array, m: MetricsReport) => Scored, grid: readonly number[] = TAU_GRID): TauChoice {
  let best: TauChoice | null = null;
  for (const tau of grid) {
    const { C, metrics } = adjustedMetrics(logits, labels, K, lp, tau, headFrac);
    const c = { tau, metrics, ...score(C, metrics) };
    if (!best || betterScore(c, best)) best = c;
  }
  if (!best) throw new RangeError('tuneTau: empty grid');
  return best;
}
