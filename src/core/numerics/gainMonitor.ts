// The linear-approximation monitor (docs/ALGORITHM.md section 3, "Approximations"): over each refresh interval, the
// first-order predicted change of the objective (the sum over the interval's steps of lr x the mean gain G_ij of the
// batch's pairs: the change up to G's unknown scale) against the realised change, with the realised change's noise
// (its standard error as a measurement on a validation set of this size: a bootstrap that redraws each class's
// validation examples, the same draw for both ends of the interval, so it carries each class's recall noise through the
// objective, paired as the two ends are). It warns only when the evidence says the estimate is wrong: when the realised
// changes run
// against the predicted ones by more than their noise allows (their noise-weighted mean, in the predicted direction,
// three standard errors below 0: the monitor looks at every refresh, so it asks for strong evidence). Its
// state is a plain object, so the training loop checkpoints it with the rest.
import { classStatsOfCells, type ClassStats } from './classStats';
import { Rng } from './rng';

/** Refresh intervals needed before the gain monitor judges the estimate. */
export const MONITOR_MIN_INTERVALS = 5;

/**
 * Standard errors by which the mean realised change in the predicted direction must lie below 0 before the monitor
 * warns.
 */
export const MONITOR_Z = 3;

/** A change's standard error at or below this is rounding: the objective did not see the predictions that changed. */
const NO_NOISE = 1e-9;

/** Predicted gains of the sampled pairs against realised objective changes, one entry per closed interval. */
export interface GainTrack {
  predicted: number[];
  realised: number[];
  /** The standard error of each realised change; NaN: unknown. */
  noise: number[];
  /** The objective at the last refresh (null before the first). */
  lastObjective: number | null;
  /** The validation predictions at the last refresh (the paired noise of the next change needs them); null: none. */
  lastPreds: Int32Array | null;
  /** The predicted change of the open interval so far (sum over steps of weight x mean gain), and the pairs counted. */
  predictedSum: number;
  predictedCount: number;
}

/** A monitor with no interval yet. */
export function emptyGainTrack(): GainTrack {
  return {
    predicted: [],
    realised: [],
    noise: [],
    lastObjective: null,
    lastPreds: null,
    predictedSum: 0,
    predictedCount: 0,
  };
}

/**
 * Adds one batch to the open interval: weight (the step's learning rate) x the mean predicted gain G[a * K + p] of its
 * (anchor class, partner class) pairs.
 */
export function recordPairs(
  track: GainTrack,
  G: Float64Array,
  K: number,
  anchorClass: ArrayLike<number>,
  partnerClass: ArrayLike<number>,
  weight = 1,
): void {
  const n = anchorClass.length;
  if (n === 0) return;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += G[anchorClass[i]! * K + partnerClass[i]!]!;
  track.predictedSum += (weight * sum) / n;
  track.predictedCount += n;
}

/**
 * Closes the open interval at a refresh: its predicted change against the objective's change since the last refresh,
 * with that change's standard error (changeNoise; null: unknown). preds: the validation predictions now, kept for the
 * next interval's noise.
 */
export function closeInterval(
  track: GainTrack,
  objectiveValue: number,
  changeNoiseValue: number | null = null,
  preds: Int32Array | null = null,
): void {
  if (track.lastObjective !== null && track.predictedCount > 0) {
    track.predicted.push(track.predictedSum);
    track.realised.push(objectiveValue - track.lastObjective);
    track.noise.push(changeNoiseValue ?? Number.NaN);
  }
  track.lastObjective = objectiveValue;
  track.lastPreds = preds;
  track.predictedSum = 0;
  track.predictedCount = 0;
}

/** The monitor's reading: the realised change in the predicted direction with its standard error, and the verdict. */
export interface GainVerdict {
  /** Pearson correlation of predicted and realised changes (for display; the verdict does not use it). */
  correlation: number | null;
  /**
   * The realised change per interval in the direction the estimate predicted (sign(predicted) x realised), averaged
   * with weights 1 / noise^2, and its standard error. Only the sign of the prediction is used: the scale of G is not
   * comparable from one refresh to the next (it moves with the multipliers and the features).
   */
  meanChange: number | null;
  meanChangeSE: number | null;
  /** Intervals that carry evidence (a non-zero prediction and a change with noise). */
  intervals: number;
  /** Mean squared residual in units of the noise (about 1 or less when the changes are as noisy as measured). */
  dispersion: number | null;
  /** Intervals whose change went against the prediction by more than MONITOR_Z of its own standard errors. */
  against: number;
  /**
   * False when, after MONITOR_MIN_INTERVALS intervals, meanChange is below 0 by more than MONITOR_Z standard errors, or
   * more intervals went against the prediction beyond their noise than chance allows (MONITOR_AGAINST_RATE, tail
   * probability under MONITOR_ALPHA): a step so large that the objective jumps about, whatever the gain says.
   */
  tracking: boolean;
}

/**
 * The rate at which an interval may go against the prediction beyond MONITOR_Z standard errors by chance (generous: the
 * noise is estimated).
 */
export const MONITOR_AGAINST_RATE = 0.02;

/** The tail probability below which that many intervals against the prediction is evidence. */
export const MONITOR_ALPHA = 1e-3;

/** P(X >= k) for X ~ Binomial(n, p). */
export function binomialTail(k: number, n: number, p: number): number {
  if (k <= 0) return 1;
  if (k > n) return 0;
  let term = Math.pow(1 - p, n),
    below = 0;
  for (let i = 0; i < k; i++) {
    below += term;
    term *= ((n - i) / (i + 1)) * (p / (1 - p));
  }
  return Math.max(0, 1 - below);
}

/**
 * The verdict on a track. The first-order estimate says that the objective moves the way the gain of the drawn pairs
 * points. An interval whose change has no noise (no validation prediction changed) carries no evidence and is left
 * out; intervals of unknown noise (older checkpoints) take the median known noise, or unit weight. The standard error
 * is the noise-only one, inflated by the residuals when they exceed the noise (overdispersion).
 */
export function gainVerdict(track: Pick<GainTrack, 'predicted' | 'realised' | 'noise'>): GainVerdict {
  const n = Math.min(track.predicted.length, track.realised.length);
  const correlation = pearson(track.predicted, track.realised);
  const known = track.noise
    .slice(0, n)
    .filter((s) => Number.isFinite(s) && s > NO_NOISE)
    .sort((a, b) => a - b);
  const fallback = known.length ? known[Math.floor(known.length / 2)]! : 1;
  const ys: number[] = [],
    ws: number[] = [];
  let against = 0;
  for (let i = 0; i < n; i++) {
    const x = Math.sign(track.predicted[i]!);
    const s = track.noise[i];
    // No noise (below rounding: no prediction changed in a way the objective sees) is no evidence.
    if (x === 0 || (s !== undefined && s <= NO_NOISE)) continue;
    const sd = s !== undefined && Number.isFinite(s) && s > 0 ? s : fallback;
    ys.push(x * track.realised[i]!);
    ws.push(1 / (sd * sd));
    if (x * track.realised[i]! < -MONITOR_Z * sd) against++;
  }
  const m = ys.length;
  const sw = ws.reduce((a, w) => a + w, 0);
  if (m < 2 || !(sw > 0))
    return {
      correlation,
      meanChange: null,
      meanChangeSE: null,
      intervals: m,
      dispersion: null,
      against,
      tracking: true,
    };
  let meanChange = 0;
  for (let i = 0; i < m; i++) meanChange += ws[i]! * ys[i]!;
  meanChange /= sw;
  let chi2 = 0;
  for (let i = 0; i < m; i++) chi2 += ws[i]! * (ys[i]! - meanChange) ** 2;
  const dispersion = chi2 / (m - 1);
  const meanChangeSE = Math.sqrt(Math.max(1, dispersion) / sw);
  const tracking =
    m < MONITOR_MIN_INTERVALS ||
    (meanChange >= -MONITOR_Z * meanChangeSE && binomialTail(against, m, MONITOR_AGAINST_RATE) >= MONITOR_ALPHA);
  return { correlation, meanChange, meanChangeSE, intervals: m, dispersion, against, tracking };
}

/** The correlation so far, and whether the estimate still tracks (gainVerdict). */
export function trackingOf(track: Pick<GainTrack, 'predicted' | 'realised' | 'noise'>): {
  correlation: number | null;
  tracking: boolean;
} {
  const v = gainVerdict(track);
  return { correlation: v.correlation, tracking: v.tracking };
}

/** Pearson correlation, or null with fewer than 3 points or zero variance. */
export function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number | null {
  const n = Math.min(a.length, b.length);
  if (n < 3) return null;
  let ma = 0,
    mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i]!;
    mb += b[i]!;
  }
  ma /= n;
  mb /= n;
  let sab = 0,
    saa = 0,
    sbb = 0;
  for (let i = 0; i < n; i++) {
    const x = a[i]! - ma,
      y = b[i]! - mb;
    sab += x * y;
    saa += x * x;
    sbb += y * y;
  }
  if (saa <= 0 || sbb <= 0) return null;
  return sab / Math.sqrt(saa * sbb);
}

/**
 * The standard error of the change of an objective between two sets of predictions on the same labeled set (before,
 * after): a stratified bootstrap that redraws each class's examples with replacement, B times, scores both ends on the
 * same draw and takes the spread of the difference. It carries each class's recall noise through any objective
 * (min-type and constrained ones included), and pairs the two ends: predictions that did not change add no noise.
 * objective scores a joint confusion matrix (C_kl = share of examples of class k predicted l) from its class sums
 * (classStats) and, when it needs the matrix itself, C() (valid during the call only). A draw touches at most N of the
 * K^2 cells: only those are summed and cleared, so at K = 1000 a draw costs O(N log N), not O(K^2). Deterministic in
 * seed.
 */
export function changeNoise(
  before: ArrayLike<number>,
  after: ArrayLike<number>,
  labels: ArrayLike<number>,
  K: number,
  objective: (C: () => Float64Array, st: ClassStats) => number,
  seed: number,
  B = 24,
): number {
  const N = labels.length;
  if (N === 0 || B < 2 || before.length !== N || after.length !== N) return 0;
  const byClass: number[][] = Array.from({ length: K }, () => []);
  for (let i = 0; i < N; i++) byClass[labels[i]!]?.push(i);
  const rng = new Rng(seed);
  const ends = [new SparseConfusion(K, N), new SparseConfusion(K, N)] as const;
  const diffs: number[] = [];
  for (let b = 0; b < B; b++) {
    const [Cb, Ca] = ends;
    for (let k = 0; k < K; k++) {
      const idx = byClass[k]!;
      for (let t = 0; t < idx.length; t++) {
        const i = idx[rng.int(idx.length)]!;
        Cb.add(k, before[i]!, 1 / N);
        Ca.add(k, after[i]!, 1 / N);
      }
    }
    const d = Ca.score(objective) - Cb.score(objective);
    Ca.clear();
    Cb.clear();
    if (Number.isFinite(d)) diffs.push(d);
  }
  if (diffs.length < 2) return 0;
  const m = diffs.reduce((a, v) => a + v, 0) / diffs.length;
  return Math.sqrt(diffs.reduce((a, v) => a + (v - m) ** 2, 0) / (diffs.length - 1));
}

/**
 * A K x K confusion matrix kept as its touched cells (a bootstrap replicate touches at most N of K^2), filled one row
 * after another (changeNoise draws class by class): a row's cells gather in a K-long accumulator and go to the list in
 * column order when the next row starts, so the list is in row-major order (classStats's) without a sort or a map.
 * Summed by classStatsOfCells, made dense only when the objective asks for the matrix itself (a custom expression's).
 */
class SparseConfusion {
  private readonly cells: Int32Array;
  private readonly values: Float64Array;
  private used = 0;
  /** The row being filled (-1: none), its columns' sums and which columns it touched (in touched[0, nt)). */
  private row = -1;
  private readonly acc: Float64Array;
  private readonly seen: Uint8Array;
  private readonly touched: Int32Array;
  private nt = 0;

  constructor(
    private readonly K: number,
    maxCells: number,
  ) {
    this.cells = new Int32Array(Math.min(maxCells, K * K));
    this.values = new Float64Array(this.cells.length);
    this.acc = new Float64Array(K);
    this.seen = new Uint8Array(K);
    this.touched = new Int32Array(K);
  }

  /** Adds v to cell (k, l); k never decreases between two clears. */
  add(k: number, l: number, v: number): void {
    if (k !== this.row) {
      if (k < this.row) throw new RangeError(`SparseConfusion: row ${k} after row ${this.row}`);
      this.endRow();
      this.row = k;
    }
    if (this.seen[l] === 0) {
      this.seen[l] = 1;
      this.touched[this.nt++] = l;
    }
    this.acc[l]! += v;
  }

  /** The row being filled goes to the list, its columns in increasing order. */
  private endRow(): void {
    if (this.nt === 0) return;
    const cols = this.touched.subarray(0, this.nt).sort();
    const o = this.row * this.K;
    for (let q = 0; q < cols.length; q++) {
      const l = cols[q]!;
      this.cells[this.used] = o + l;
      this.values[this.used++] = this.acc[l]!;
      this.acc[l] = 0;
      this.seen[l] = 0;
    }
    this.nt = 0;
  }

  /** objective of the matrix: the class sums from the touched cells in row-major order (classStats's order). */
  score(objective: (C: () => Float64Array, st: ClassStats) => number): number {
    this.endRow();
    const cells = this.cells.subarray(0, this.used);
    const values = this.values.subarray(0, this.used);
    const dense = (): Float64Array => {
      const C = new Float64Array(this.K * this.K);
      for (let q = 0; q < cells.length; q++) C[cells[q]!] = values[q]!;
      return C;
    };
    return objective(dense, classStatsOfCells(cells, values, this.K));
  }

  clear(): void {
    this.endRow();
    this.used = 0;
    this.row = -1;
  }
}

/** What a refresh did to the monitor's verdict: nothing, raised the warning, or withdrew it. */
export type MonitorChange = 'none' | 'raised' | 'withdrawn';

/**
 * Closes the open interval (closeInterval) and says whether the verdict changed. Raised or not is the verdict of the
 * track before and after, a function of the checkpointed track alone: a warning is raised once per episode of not
 * tracking and withdrawn when the evidence no longer says the estimate is wrong.
 */
export function monitorChange(
  track: GainTrack,
  objectiveValue: number,
  changeNoiseValue: number | null = null,
  preds: Int32Array | null = null,
): { change: MonitorChange; verdict: GainVerdict; correlation: number | null; tracking: boolean } {
  const before = gainVerdict(track).tracking;
  closeInterval(track, objectiveValue, changeNoiseValue, preds);
  const verdict = gainVerdict(track);
  const { tracking, correlation } = verdict;
  return {
    change: before && !tracking ? 'raised' : !before && tracking ? 'withdrawn' : 'none',
    verdict,
    correlation,
    tracking,
  };
}
