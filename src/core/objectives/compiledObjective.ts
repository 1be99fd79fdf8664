// The one interface the loop, the refresh and the run stages use for an objective, built-in or custom: its value and
// score on a validation result, its constraint as reported, its multipliers and D = dpsi/dC~ (docs/ALGORITHM.md
// sections 2-3). Built-in objectives implement it here over objectives.ts and metrics.ts; a custom expression in
// customObjective.ts. Nothing outside compiles an objective any other way (compileObjective).
import type { Feasibility, MetricsReport } from '../../protocol/messages';
import type { Scored } from '../numerics/logitAdjust';
import { feasibilityOf, infeasibilityReason, objectiveMetricValue, objectiveScore } from '../numerics/metrics';
import { hasMultipliers, type ObjectiveId } from './objectiveIds';
import { objectiveD, psi, updateMultipliers, type ObjectiveOptions } from './objectives';

/** What a constrained run that missed its bound needs to say why (CompiledObjective.infeasibility). */
export interface InfeasibilityContext {
  /** The coverage bound's alpha (built-in coverage objectives). */
  alpha: number;
  keptStep: number;
  classNames: readonly string[];
  /** The warm start's tau and its validation metrics, when there was one. */
  warm: { tau: number; val?: MetricsReport } | null;
}

/** An objective compiled for K classes: what computeRefresh, the loop and the run stages need of it. */
export interface CompiledObjective {
  /** The built-in id, or the custom expression: the objective's name in events and reports. */
  readonly name: string;
  /** The built-in objective's id; null for a custom expression. */
  readonly id: ObjectiveId | null;
  readonly K: number;
  /** Length of the multiplier vector (0: the objective has none, and null stands for it). */
  readonly multiplierCount: number;
  /** The objective's value at a validation confusion matrix C whose metrics report is m (as a refresh reports it). */
  valueAt(C: Float64Array, m: MetricsReport): number;
  /** The objective's value from a metrics report alone (the run's summary, baselines, test sets). */
  valueFromMetrics(m: MetricsReport): number;
  /**
   * How a validation result ranks for the kept iterate and the warm start's tau (logitAdjust.ts betterScore); alpha:
   * the built-in coverage bound's. C may be a function that builds the matrix: built-ins read only m.
   */
  scoreAt(C: Float64Array | (() => Float64Array), m: MetricsReport, alpha: number): Scored;
  /** The constraint as the user is shown it (bound, value, met), from a metrics report; null when there is none. */
  feasibility(m: MetricsReport, alpha: number): Feasibility | null;
  /** Why the kept iterate misses the constraint on validation, in words; null when it is met or there is none. */
  infeasibility(val: MetricsReport, ctx: InfeasibilityContext): string | null;
  /**
   * Multipliers at the clipped C (prev: those of the last refresh; round: the refresh's index, 0 first); null for an
   * objective without multipliers.
   */
  updateMultipliers(
    Cclipped: Float64Array,
    prev: Float64Array | null,
    opts: ObjectiveOptions,
    round?: number,
  ): Float64Array | null;
  /** The function whose gradient D is: psi, or the Lagrangian at fixed multipliers with its scaling. */
  lagrangian(C: Float64Array, multipliers: Float64Array | null, opts: ObjectiveOptions): number;
  /**
   * D = d(lagrangian)/dC~ through C = pi softmax(C~) at the clipped C (docs/ALGORITHM.md section 2); into out when
   * given and the objective writes there (a built-in one does), else a new array: the caller reads what is returned.
   */
  D(Cclipped: Float64Array, multipliers: Float64Array | null, opts: ObjectiveOptions, out?: Float64Array): Float64Array;
}

/** A built-in objective (docs/ALGORITHM.md section 2) behind the compiled interface, for K classes. */
export function compileBuiltinObjective(id: ObjectiveId, K: number): CompiledObjective {
  return {
    name: id,
    id,
    K,
    multiplierCount: hasMultipliers(id) ? K : 0,
    valueAt: (_C, m) => objectiveMetricValue(id, m),
    valueFromMetrics: (m) => objectiveMetricValue(id, m),
    scoreAt: (_C, m, alpha) => objectiveScore(id, m, K, alpha),
    feasibility: (m, alpha) => feasibilityOf(id, m, K, alpha),
    infeasibility: (val, c) => infeasibilityReason(id, val, K, c.alpha, c.keptStep, c.classNames, c.warm),
    updateMultipliers: (Cclipped, prev, opts, round = 0) => updateMultipliers(id, Cclipped, K, prev, opts, round),
    lagrangian: (C, multipliers, opts) => psi(id, C, K, opts, multipliers),
    D: (Cclipped, multipliers, opts, out) => objectiveD(id, Cclipped, K, multipliers, opts, out),
  };
}
