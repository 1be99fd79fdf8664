// Post-hoc logit adjustment (Menon et al., 2021), the cheap baseline SelMix has to beat and the point a run may start
// from (docs/ALGORITHM.md section 5.1): the head's bias becomes b - tau log(prior) with the labeled set's class prior,
// which moves every logit by the same per-class offset. tau is chosen on the validation set for the run's objective.
import { argmaxRows, classStatsOfCells } from './classStats';
import { classSupport, confusionMatrix } from './confusion';
import { metricsOfStats, metricsReport } from './metrics';
import type { MetricsReport } from '../../protocol/messages';

/** The earlier coarse grid of tau values (0 keeps the model as it is, 1 is the textbook adjustment). */
export const TAU_GRID: readonly number[] = [0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2, 2.5, 3];

/** A grid of tau from lo to hi (inclusive) in steps of step, rounded so that 0.1 x 3 is 0.3. */
export function tauGrid(lo: number, hi: number, step: number): number[] {
  const n = Math.round((hi - lo) / step);
  return Array.from({ length: n + 1 }, (_, i) => Math.round((lo + i * step) * 1e6) / 1e6);
}

/** The 0.1 grid over [0, 3] that the warm start's search starts from (and the tuned logit-adjustment baseline uses). */
export const TAU_GRID_01: readonly number[] = tauGrid(0, 3, 0.1);

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
  /**
   * How far an infeasible candidate is from its bound (bound - achieved value, > 0); absent when unknown or feasible.
   */
  violation?: number;
}

/**
 * Whether a is better than b: a feasible candidate beats an infeasible one; between two infeasible ones whose
 * violations are known, the one nearer its bound wins (a constrained run with no feasible iterate keeps the one
 * closest to feasible); otherwise the higher value.
 */
export function betterScore(a: Scored, b: Scored): boolean {
  if (a.feasible !== b.feasible) return a.feasible;
  if (!a.feasible && a.violation !== undefined && b.violation !== undefined && a.violation !== b.violation)
    return a.violation < b.violation;
  return a.score > b.score;
}

/** The joint confusion matrix and metrics of logits shifted by -tau logPrior. */
export function adjustedMetrics(
  logits: ArrayLike<number>,
  labels: Int32Array,
  K: number,
  lp: ArrayLike<number>,
  tau: number,
  headFrac: number,
): { C: Float64Array; metrics: MetricsReport } {
  const n = labels.length;
  // The predictions of the shifted logits without an n x K shifted copy (the tau search evaluates this many times).
  const shift = new Float64Array(K);
  for (let k = 0; k < K; k++) shift[k] = tau * lp[k]!;
  const C = confusionMatrix(labels, argmaxRows(logits, n, K, shift), K);
  return { C, metrics: metricsReport(C, K, classSupport(labels, K), headFrac) };
}

/**
 * The nonzero cells of adjustedMetrics's C (row-major indices, ascending) and their values, #{y = k, yhat = l} / n as
 * confusionMatrix computes them: O(n log n) instead of a K x K matrix per tau.
 */
function adjustedCells(
  logits: ArrayLike<number>,
  labels: Int32Array,
  K: number,
  lp: ArrayLike<number>,
  tau: number,
): { cells: Int32Array; values: Float64Array } {
  const n = labels.length;
  const shift = new Float64Array(K);
  for (let k = 0; k < K; k++) shift[k] = tau * lp[k]!;
  const preds = argmaxRows(logits, n, K, shift);
  const all = new Int32Array(n);
  for (let i = 0; i < n; i++) all[i] = labels[i]! * K + preds[i]!;
  all.sort();
  let used = 0;
  for (let i = 0; i < n; i++) if (i === 0 || all[i] !== all[i - 1]) used++;
  const cells = new Int32Array(used);
  const values = new Float64Array(used);
  let u = -1;
  for (let i = 0; i < n; i++) {
    if (i === 0 || all[i] !== all[i - 1]) cells[++u] = all[i]!;
    values[u]! += 1;
  }
  for (let v = 0; v < used; v++) values[v]! /= n;
  return { cells, values };
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
export function tuneTau(
  logits: ArrayLike<number>,
  labels: Int32Array,
  K: number,
  lp: ArrayLike<number>,
  headFrac: number,
  score: (C: Float64Array, m: MetricsReport) => Scored,
  grid: readonly number[] = TAU_GRID,
): TauChoice {
  let best: TauChoice | null = null;
  for (const tau of grid) {
    const { C, metrics } = adjustedMetrics(logits, labels, K, lp, tau, headFrac);
    const c = { tau, metrics, ...score(C, metrics) };
    if (!best || betterScore(c, best)) best = c;
  }
  if (!best) throw new RangeError('tuneTau: empty grid');
  return best;
}

/** The search of the warm start: the chosen tau, with how many values it scored. */
export interface TauSearch extends TauChoice {
  evaluations: number;
}

/**
 * The warm start's tau, per objective (docs/ALGORITHM.md section 5.1): the 0.1 grid over [0, 3] (extended by 1 while
 * its
 * best is at the top, up to 6), then a 0.01 grid within 0.1 of the best. Its result is never worse on validation than
 * the 0.1 grid's best. The objective of hard predictions is a step function of tau, so the best is a plateau: the
 * middle of the plateau the best lies on is taken (further from both edges, it transfers better); tau = 0 stays when no
 * adjustment helps.
 */
export function searchTau(
  logits: ArrayLike<number>,
  labels: Int32Array,
  K: number,
  lp: ArrayLike<number>,
  headFrac: number,
  score: (C: () => Float64Array, m: MetricsReport) => Scored,
  opts: { coarse?: number; fine?: number; max?: number } = {},
): TauSearch {
  const coarse = opts.coarse ?? 0.1,
    fine = opts.fine ?? 0.01,
    max = opts.max ?? 6;
  const seen = new Map<number, TauChoice>();
  const support = classSupport(labels, K);
  if (logits.length < labels.length * K)
    throw new RangeError(`searchTau: ${logits.length} logits, expected n*K = ${labels.length * K}`);
  const at = (tau: number): TauChoice => {
    let c = seen.get(tau);
    if (!c) {
      // The metrics from C's nonzero cells; the dense C (what adjustedMetrics returns) only when the score asks.
      const { cells, values } = adjustedCells(logits, labels, K, lp, tau);
      const metrics = metricsOfStats(classStatsOfCells(cells, values, K), K, support, headFrac);
      const dense = (): Float64Array => {
        const C = new Float64Array(K * K);
        for (let u = 0; u < cells.length; u++) C[cells[u]!] = values[u]!;
        return C;
      };
      c = { tau, metrics, ...score(dense, metrics) };
      seen.set(tau, c);
    }
    return c;
  };
  const bestOf = (grid: number[]): TauChoice => grid.map(at).reduce((b, c) => (betterScore(c, b) ? c : b));
  let hi = 3;
  let best = bestOf(tauGrid(0, hi, coarse));
  while (best.tau >= hi - 1e-9 && hi < max) {
    const next = Math.min(max, hi + 1);
    best = bestOf([best.tau, ...tauGrid(hi, next, coarse).slice(1)]);
    hi = next;
  }
  const fineGrid = tauGrid(Math.max(0, best.tau - coarse), best.tau + coarse, fine).map(at);
  const top = fineGrid.reduce((b, c) => (betterScore(c, b) ? c : b));
  // Nothing strictly better than no adjustment: keep the model as it is.
  if (!betterScore(top, at(0)) && !betterScore(at(0), top)) return { ...at(0), evaluations: seen.size };
  const i = fineGrid.indexOf(top);
  let lo = i,
    up = i;
  const tied = (c: TauChoice) => !betterScore(top, c) && !betterScore(c, top);
  while (lo > 0 && tied(fineGrid[lo - 1]!)) lo--;
  while (up < fineGrid.length - 1 && tied(fineGrid[up + 1]!)) up++;
  return { ...fineGrid[Math.floor((lo + up) / 2)]!, evaluations: seen.size };
}
