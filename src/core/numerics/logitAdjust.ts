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
 * The predictions of logits - tau lp (argmaxRows with that shift, the same classes bit for bit) for many tau in
 * [0, tauMax], from each row's candidates: the classes that can be the row's first maximum at some tau there. A class's
 * shifted logit is a line in tau, so it can beat the row's maxima at 0 and at tauMax only on an interval of tau; the
 * classes whose interval misses [0, tauMax] (allowing for rounding) never win. At K = 1000 a row keeps a handful of
 * its K classes, so the warm start's 50-odd values of tau cost one pass over the logits and then a few entries a row
 * each, instead of n x K each. With a logit that is not finite anywhere, or more candidates than a quarter of the
 * classes a row, every tau is argmaxRows itself (which names a NaN row).
 */
export class TauArgmax {
  /** Row i's candidates are cand[start[i]] .. cand[start[i + 1] - 1], ascending; null: a logit is not finite. */
  private readonly start: Int32Array | null = null;
  private readonly cand: Int32Array = new Int32Array(0);

  constructor(
    private readonly logits: ArrayLike<number>,
    private readonly n: number,
    private readonly K: number,
    private readonly lp: ArrayLike<number>,
    readonly tauMax: number,
  ) {
    if (logits.length < n * K) throw new RangeError(`TauArgmax: ${logits.length} logits, expected n*K = ${n * K}`);
    if (lp.length !== K) throw new RangeError(`TauArgmax: a log prior of ${lp.length} entries, expected K = ${K}`);
    if (!(tauMax >= 0) || !Number.isFinite(tauMax)) throw new RangeError(`TauArgmax: tauMax = ${tauMax}`);
    const T = tauMax;
    let lpMax = 0;
    for (let k = 0; k < K; k++) lpMax = Math.max(lpMax, Math.abs(lp[k]!));
    if (!Number.isFinite(lpMax)) return;
    const start = new Int32Array(n + 1);
    let cand = new Int32Array(Math.max(16, 4 * n));
    let used = 0;
    // Past a quarter of the classes a row on average, the candidates would save little and hold up to n x K indices
    // (32 MB at K = 1000 with 8,000 rows): every tau is then argmaxRows itself.
    const cap = Math.max(16, Math.ceil(K / 4)) * n;
    for (let i = 0; i < n; i++) {
      const o = i * K;
      // The row's first maxima at tau = 0 and at tau = tauMax.
      let a = 0,
        b = 0,
        va = -Infinity,
        vb = -Infinity,
        lMax = 0;
      for (let k = 0; k < K; k++) {
        const l = logits[o + k]!;
        // A logit that is not finite: every tau is argmaxRows on all of the logits (and its error for a NaN row).
        if (!Number.isFinite(l)) return;
        lMax = Math.max(lMax, Math.abs(l));
        if (l > va) {
          va = l;
          a = k;
        }
        const w = l - T * lp[k]!;
        if (w > vb) {
          vb = w;
          b = k;
        }
      }
      // Rounding of the shifted logits is far under this (a few ulps of the largest magnitude in play).
      const slack = 1e-9 * (1 + lMax + T * lpMax);
      const la = logits[o + a]!,
        lbt = logits[o + b]!,
        pa = lp[a]!,
        pb = lp[b]!;
      for (let k = 0; k < K; k++) {
        const l = logits[o + k]!,
          p = lp[k]!;
        // Class k can be the first maximum only where l - tau p >= la - tau pa and >= lbt - tau pb (less the slack),
        // each c0 - tau c1 >= 0: an interval of tau that must meet [0, T].
        let lo = 0,
          hi = T;
        const c0a = l - la + slack,
          c1a = p - pa,
          c0b = l - lbt + slack,
          c1b = p - pb;
        if (c1a > 0) hi = Math.min(hi, c0a / c1a);
        else if (c1a < 0) lo = Math.max(lo, c0a / c1a);
        else if (c0a < 0) continue;
        if (c1b > 0) hi = Math.min(hi, c0b / c1b);
        else if (c1b < 0) lo = Math.max(lo, c0b / c1b);
        else if (c0b < 0) continue;
        if (lo > hi) continue;
        if (used === cap) return;
        if (used === cand.length) {
          const grown = new Int32Array(Math.min(cap, 2 * cand.length));
          grown.set(cand);
          cand = grown;
        }
        cand[used++] = k;
      }
      start[i + 1] = used;
    }
    this.start = start;
    this.cand = cand.subarray(0, used);
  }

  /** Candidates kept per row on average (what each tau costs); K when every row is scanned in full. */
  get perRow(): number {
    return this.start && this.n > 0 ? this.start[this.n]! / this.n : this.K;
  }

  /** argmaxRows(logits, n, K, tau lp) for 0 <= tau <= tauMax (computed in full outside that range). */
  preds(tau: number): Int32Array {
    const { logits, n, K, lp, start, cand } = this;
    const shift = new Float64Array(K);
    for (let k = 0; k < K; k++) shift[k] = tau * lp[k]!;
    if (!start || !(tau >= 0 && tau <= this.tauMax)) return argmaxRows(logits, n, K, shift);
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const o = i * K,
        c1 = start[i + 1]!;
      let c = start[i]!;
      let best = cand[c]!;
      let bv = logits[o + best]! - shift[best]!;
      // The same comparisons as argmaxRows over the candidates, in ascending order: the first maximum.
      for (c++; c < c1; c++) {
        const k = cand[c]!;
        const v = logits[o + k]! - shift[k]!;
        if (v > bv) {
          bv = v;
          best = k;
        }
      }
      out[i] = best;
    }
    return out;
  }
}

/**
 * The nonzero cells of adjustedMetrics's C (row-major indices, ascending) and their values, #{y = k, yhat = l} / n as
 * confusionMatrix computes them: O(n log n) instead of a K x K matrix per tau.
 */
function adjustedCells(labels: Int32Array, K: number, preds: Int32Array): { cells: Int32Array; values: Float64Array } {
  const n = labels.length;
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
  // Every tau the search can reach: the coarse grid up to max, then the fine one up to a coarse step above it.
  const argmax = new TauArgmax(logits, labels.length, K, lp, Math.max(3, max) + coarse);
  const at = (tau: number): TauChoice => {
    let c = seen.get(tau);
    if (!c) {
      // The metrics from C's nonzero cells; the dense C (what adjustedMetrics returns) only when the score asks.
      const { cells, values } = adjustedCells(labels, K, argmax.preds(tau));
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
