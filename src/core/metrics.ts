// Test-time metrics of a joint confusion matrix (SELMIX.md section 2, "test-time metrics") and the
// link from an objective id to the metric it targets and to its constraint.
import type { ObjectiveId } from './objectives';
import type { MetricsReport } from '../protocol/messages';

/** Number of head classes: floor(headFrac * K), kept in [1, K - 1] so both groups are non-empty (SELMIX.md 7.17). */
export function headCount(K: number, headFrac: number): number {
  if (K < 2) return K;
  return Math.min(K - 1, Math.max(1, Math.floor(headFrac * K)));
}

/** True for the objectives with a coverage constraint. */
export function isCoverageObjective(id: ObjectiveId): boolean {
  return id === 'meanRecallMinCoverage' || id === 'hMeanMinCoverage'
    || id === 'meanRecallMinHeadTailCoverage' || id === 'hMeanMinHeadTailCoverage';
}

/** True for the coverage objectives whose constraint is on the head and tail mean coverage. */
export function isHeadTailCoverageObjective(id: ObjectiveId): boolean {
  return id === 'meanRecallMinHeadTailCoverage' || id === 'hMeanMinHeadTailCoverage';
}

/** Mean of xs over the indices where keep is true; NaN when none. */
function meanWhere(xs: number[], keep: (i: number) => boolean, from: number, to: number): number {
  let s = 0;
  let n = 0;
  for (let i = from; i < to; i++) if (keep(i)) { s += xs[i]!; n++; }
  return n > 0 ? s / n : NaN;
}

/**
 * Metrics of an unclipped joint confusion matrix C (SELMIX.md section 2). Classes with support 0 get
 * recall 0 in `recall` but are excluded from the recall aggregates; coverage uses every class.
 */
export function metricsReport(C: Float64Array, K: number, support: number[], headFrac = 0.9): MetricsReport {
  if (C.length !== K * K) throw new RangeError(`metricsReport: C has ${C.length} entries, expected ${K * K}`);
  if (support.length !== K) throw new RangeError(`metricsReport: support has ${support.length} entries, expected ${K}`);
  const recall = new Array<number>(K).fill(0);
  const coverage = new Array<number>(K).fill(0);
  let accuracy = 0;
  for (let k = 0; k < K; k++) {
    let R = 0;
    for (let l = 0; l < K; l++) {
      R += C[k * K + l]!;
      coverage[l]! += C[k * K + l]!;
    }
    accuracy += C[k * K + k]!;
    recall[k] = R > 0 ? C[k * K + k]! / R : 0;
  }
  const has = (k: number): boolean => support[k]! > 0;
  let n = 0;
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  let logSum = 0;
  let invSum = 0;
  let anyZero = false;
  for (let k = 0; k < K; k++) {
    if (!has(k)) continue;
    const r = recall[k]!;
    n++;
    sum += r;
    min = Math.min(min, r);
    max = Math.max(max, r);
    if (r <= 0) anyZero = true;
    else { logSum += Math.log(r); invSum += 1 / r; }
  }
  const H = headCount(K, headFrac);
  const headRecallRaw = meanWhere(recall, has, 0, H);
  const tailRecallRaw = meanWhere(recall, has, H, K);
  const groups = [headRecallRaw, tailRecallRaw].filter((x) => !Number.isNaN(x));
  const all = (): boolean => true;
  return {
    accuracy,
    meanRecall: n > 0 ? sum / n : 0,
    minRecall: n > 0 ? min : 0,
    maxRecall: n > 0 ? max : 0,
    gMean: n > 0 && !anyZero ? Math.exp(logSum / n) : 0,
    hMean: n > 0 && !anyZero ? n / invSum : 0,
    headRecall: Number.isNaN(headRecallRaw) ? 0 : headRecallRaw,
    tailRecall: Number.isNaN(tailRecallRaw) ? 0 : tailRecallRaw,
    minHeadTailRecall: groups.length > 0 ? Math.min(...groups) : 0,
    minCoverage: Math.min(...coverage),
    headCoverage: meanWhere(coverage, all, 0, H),
    tailCoverage: meanWhere(coverage, all, H, K),
    recall,
    coverage,
    support: support.slice(),
  };
}

/** The metric an objective targets (SELMIX.md section 2): what SelMix maximises, as reported. */
export function objectiveMetricValue(id: ObjectiveId, m: MetricsReport): number {
  switch (id) {
    case 'meanRecall': return m.meanRecall;
    case 'minRecall': return m.minRecall;
    case 'minHeadTailRecall': return m.minHeadTailRecall;
    case 'gMean': return m.gMean;
    case 'hMean': return m.hMean;
    case 'meanRecallMinCoverage': return m.meanRecall;
    case 'hMeanMinCoverage': return m.hMean;
    case 'meanRecallMinHeadTailCoverage': return m.meanRecall;
    case 'hMeanMinHeadTailCoverage': return m.hMean;
  }
}

/** Whether the coverage constraint of a coverage objective holds (cov >= alpha/K); true for the others. */
export function constraintSatisfied(id: ObjectiveId, m: MetricsReport, K: number, alpha: number): boolean {
  if (!isCoverageObjective(id)) return true;
  const t = alpha / K;
  if (isHeadTailCoverageObjective(id)) return m.headCoverage >= t && m.tailCoverage >= t;
  return m.coverage.every((c) => c >= t);
}
