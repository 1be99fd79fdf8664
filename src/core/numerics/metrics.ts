// Test-time metrics of a joint confusion matrix (docs/ALGORITHM.md section 2, "test-time metrics") and the
// link from an objective id to the metric it targets and to its constraint.
import { classStats, gMean, headCount, hMean, mean, recallsOf, type ClassStats } from './classStats';
import {
  isCoverageObjective,
  isHeadTailCoverageObjective,
  unknownObjective,
  type ObjectiveId,
} from '../objectives/objectiveIds';
import type { Feasibility, MetricsReport } from '../../protocol/messages';

/**
 * Metrics of an unclipped joint confusion matrix C (docs/ALGORITHM.md section 2). Classes with support 0 get
 * recall 0 in `recall` but are excluded from the recall aggregates; coverage uses every class.
 */
export function metricsReport(C: Float64Array, K: number, support: number[], headFrac = 0.9): MetricsReport {
  if (C.length !== K * K) throw new RangeError(`metricsReport: C has ${C.length} entries, expected ${K * K}`);
  return metricsOfStats(classStats(C, K), K, support, headFrac);
}

/** metricsReport from C's diagonal, row and column sums (classStats or classStatsOfCells), without C itself. */
export function metricsOfStats(st: ClassStats, K: number, support: number[], headFrac = 0.9): MetricsReport {
  if (support.length !== K) throw new RangeError(`metricsReport: support has ${support.length} entries, expected ${K}`);
  const recall = Array.from(recallsOf(st));
  const coverage = Array.from(st.cov);
  let accuracy = 0;
  for (let k = 0; k < K; k++) accuracy += st.diag[k]!;
  const has = (k: number): boolean => support[k]! > 0;
  // The recall aggregates are over the classes present; G-/H-mean are 0 when one of them has recall 0.
  const present = recall.filter((_, k) => has(k));
  const n = present.length;
  const anyZero = present.some((r) => r <= 0);
  const H = headCount(K, headFrac);
  const headRecallRaw = mean(recall, 0, H, has);
  const tailRecallRaw = mean(recall, H, K, has);
  const groups = [headRecallRaw, tailRecallRaw].filter((x) => !Number.isNaN(x));
  return {
    accuracy,
    meanRecall: n > 0 ? mean(present) : 0,
    minRecall: n > 0 ? Math.min(...present) : 0,
    maxRecall: n > 0 ? Math.max(...present) : 0,
    gMean: n > 0 && !anyZero ? gMean(present) : 0,
    hMean: n > 0 && !anyZero ? hMean(present) : 0,
    headRecall: Number.isNaN(headRecallRaw) ? 0 : headRecallRaw,
    tailRecall: Number.isNaN(tailRecallRaw) ? 0 : tailRecallRaw,
    minHeadTailRecall: groups.length > 0 ? Math.min(...groups) : 0,
    minCoverage: Math.min(...coverage),
    headCoverage: mean(coverage, 0, H),
    tailCoverage: mean(coverage, H, K),
    recall,
    coverage,
    support: support.slice(),
  };
}

/** The metric an objective targets (docs/ALGORITHM.md section 2): what SelMix maximises, as reported. */
export function objectiveMetricValue(id: ObjectiveId, m: MetricsReport): number {
  switch (id) {
    case 'meanRecall':
      return m.meanRecall;
    case 'minRecall':
      return m.minRecall;
    case 'minHeadTailRecall':
      return m.minHeadTailRecall;
    case 'gMean':
      return m.gMean;
    case 'hMean':
      return m.hMean;
    case 'meanRecallMinCoverage':
      return m.meanRecall;
    case 'hMeanMinCoverage':
      return m.hMean;
    case 'meanRecallMinHeadTailCoverage':
      return m.meanRecall;
    case 'hMeanMinHeadTailCoverage':
      return m.hMean;
    default:
      return unknownObjective(id);
  }
}

/** Whether the coverage constraint of a coverage objective holds (cov >= alpha/K); true for the others. */
export function constraintSatisfied(id: ObjectiveId, m: MetricsReport, K: number, alpha: number): boolean {
  if (!isCoverageObjective(id)) return true;
  const t = alpha / K;
  if (isHeadTailCoverageObjective(id)) return m.headCoverage >= t && m.tailCoverage >= t;
  return m.coverage.every((c) => c >= t);
}

/**
 * How a validation result scores for an objective's best-iterate and warm-start choices (logitAdjust.ts betterScore):
 * its value, whether its constraint holds, and by how much it misses the bound when it does not.
 */
export function objectiveScore(
  id: ObjectiveId,
  m: MetricsReport,
  K: number,
  alpha: number,
): { score: number; feasible: boolean; violation?: number } {
  const f = feasibilityOf(id, m, K, alpha);
  const score = objectiveMetricValue(id, m);
  return f && !f.met ? { score, feasible: false, violation: f.bound - f.value } : { score, feasible: true };
}

/**
 * The coverage constraint of a coverage objective as reported to the user: the bound alpha/K, the achieved value (the
 * smallest class coverage, or the smaller of the head's and the tail's mean coverage) and whether it is met; null for
 * objectives without a constraint.
 */
export function feasibilityOf(id: ObjectiveId, m: MetricsReport, K: number, alpha: number): Feasibility | null {
  if (!isCoverageObjective(id)) return null;
  const bound = alpha / K;
  const ht = isHeadTailCoverageObjective(id);
  const value = ht ? Math.min(m.headCoverage, m.tailCoverage) : m.minCoverage;
  return {
    constraint: ht ? 'min head/tail mean coverage' : 'min coverage',
    bound,
    value,
    met: constraintSatisfied(id, m, K, alpha),
  };
}

/**
 * Why a constrained run ended with its bound not met on validation, in words (null when it was met): the kept iterate
 * is
 * the closest, which classes fall short, and how close logit adjustment came over the tau it searched.
 */
export function infeasibilityReason(
  id: ObjectiveId,
  val: MetricsReport,
  K: number,
  alpha: number,
  keptStep: number,
  classNames: readonly string[],
  warm: { tau: number; val?: MetricsReport } | null,
): string | null {
  const f = feasibilityOf(id, val, K, alpha);
  if (!f || f.met) return null;
  const pct = (v: number) => `${(100 * v).toFixed(2)} %`;
  const ht = isHeadTailCoverageObjective(id);
  const short = ht
    ? []
    : val.coverage
        .map((c, k) => ({ c, k }))
        .filter((x) => x.c < f.bound)
        .sort((a, b) => a.c - b.c);
  const classes = ht
    ? ` (head ${pct(val.headCoverage)}, tail ${pct(val.tailCoverage)})`
    : ` (below it: ${short
        .slice(0, 5)
        .map((x) => `${classNames[x.k] ?? x.k} ${pct(x.c)}`)
        .join(', ')}${short.length > 5 ? ` and ${short.length - 5} more` : ''})`;
  const w = warm?.val ? feasibilityOf(id, warm.val, K, alpha) : null;
  const la = w
    ? ` Logit adjustment, tau searched on validation, came no closer than ${pct(w.value)} (tau = ${+warm!.tau.toFixed(3)})${w.met ? ' and met it' : ''}.`
    : '';
  return (
    `infeasible on validation: ${f.constraint} >= ${pct(f.bound)} (alpha ${alpha} / K ${K}) was not met by any iterate; the kept one, step ${keptStep}, is the closest at ${pct(f.value)}${classes}.${la} ` +
    `The bound asks every ${ht ? 'group' : 'class'} for ${alpha} of an even 1/K share of the predictions; lower selmix.coverage.alpha (now ${alpha}) to a bound the model can reach.`
  );
}
