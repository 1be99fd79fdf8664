// A user-defined objective (the config's customObjective): an expression of exprParser.ts plus optional
// constraints, compiled for K classes (exprTape.ts) into the same pieces as a built-in objective of
// objectives.ts: the value psi(C), multipliers recomputed at each refresh, and D = dpsi/dC~ for the gain
// (docs/ALGORITHM.md sections 2-3).
//
// Non-smooth min/max are linearised with multipliers, exactly as the built-ins do:
//  - min(v) / max(v) of a vector: lambda <- lambda^beta exp(-/+ etaLambda v), normalised (the minRecall
//    update of selmix.minRecall; beta = 0 gives softmin/softmax with no memory), so min(recall) is minRecall;
//  - min(a, b, ...) of scalars: softmin/softmax of etaLambda [a, b, ...] with no memory (as minHeadTailRecall);
//  - in D such a node stands for sum_i lambda_i v_i, whose gradient is lambda.
// Constraints g(C) >= t take the closed-form soft hinge of the coverage objectives (selmix.coverage):
// lambda = max(0, lambdaMax (1 - exp((g - t)/tau))) per entry, Lagrangian psi + sum lambda (g - t), and D is
// divided by 1 + max lambda. The reported value and feasibility use the exact min/max.
import { ExprError } from '../errors';
import {
  classStats,
  constraintMultiplier,
  hedgeWeights,
  statsFromMetrics,
  type ClassStats,
} from '../numerics/classStats';
import { parseConstraint, parseExpression } from './exprParser';
import {
  compile,
  gradientMatrix,
  nonFiniteError,
  zeroStats,
  type Linearisation,
  type MinMaxSlot,
  type Tape,
} from './exprTape';
import { chainRuleD, jacobianPriors, type ObjectiveOptions } from './objectives';
import type { MetricsReport } from '../../protocol/messages';

/** The config's customObjective field. */
export interface CustomObjectiveSpec {
  expression: string;
  constraints?: string[] | undefined;
}

/** A custom objective compiled for K classes: what computeRefresh and the loop need instead of an ObjectiveId. */
export interface CompiledObjective {
  /** The expression, used as the objective's name in events and reports. */
  readonly name: string;
  readonly K: number;
  /**
   * Length of the multiplier vector: the min/max weights of the objective, then for each constraint its
   * min/max weights followed by its per-entry lambdas (0: no multipliers, null is used instead).
   */
  readonly multiplierCount: number;
  /** psi(C) with exact min/max (0/0 recall or precision counts as 0). */
  value(C: Float64Array): number;
  /** psi from a metrics report (recall, coverage and support determine diag(C), R and coverage). */
  valueFromMetrics(m: MetricsReport): number;
  /** True when every constraint holds at C (exact min/max). */
  feasible(C: Float64Array): boolean;
  feasibleFromMetrics(m: MetricsReport): boolean;
  /**
   * Multipliers at the clipped C (prev: those of the last refresh, for the min/max weights when beta > 0 and for the
   * constraint lambdas; round: the refresh's index, 0 first); an ExprError when a value is not finite.
   */
  updateMultipliers(
    Cclipped: Float64Array,
    prev: Float64Array | null,
    opts: ObjectiveOptions,
    round?: number,
  ): Float64Array | null;
  /** The Lagrangian at fixed multipliers, divided by 1 + max constraint lambda: the function whose gradient D is. */
  lagrangian(C: Float64Array, multipliers: Float64Array | null, opts: ObjectiveOptions): number;
  /**
   * D = d(lagrangian)/dC~ through C = pi softmax(C~) (docs/ALGORITHM.md section 2). Throws an ExprError naming
   * the expression and its config field when a value or a derivative is NaN or infinite at Cclipped.
   */
  D(Cclipped: Float64Array, multipliers: Float64Array | null, opts: ObjectiveOptions): Float64Array;
}

/**
 * The objective or one constraint: its tape, its config field, and where its min/max weights and lambdas sit in the
 * multiplier vector.
 */
interface Part {
  tape: Tape;
  /** customObjective.expression or customObjective.constraints[i]. */
  path: string;
  /** Offset of the tape's min/max weights. */
  wOff: number;
  /** Offset of the constraint's lambdas (constraints only). */
  lOff: number;
}

/** Fills w with the multipliers of one min/max node from its inputs v (see the header of this file). */
function minMaxWeights(
  slot: MinMaxSlot,
  v: Float64Array,
  w: Float64Array,
  prev: Float64Array | null,
  opts: ObjectiveOptions,
): void {
  // min/max of several scalars has no memory, as minHeadTailRecall; of a vector it is the minRecall update.
  hedgeWeights(v, prev, slot.many ? 0 : opts.minRecall.beta, opts.minRecall.etaLambda, slot.kind === 'min' ? -1 : 1, w);
}

/** Where the non-finite checks say the values were taken. */
const AT_C = 'at the current confusion matrix';

/** Throws the ExprError of a part when a forward pass has a NaN or infinite value. */
function checkValues(p: Part, vals: Float64Array[]): Float64Array[] {
  const nf = p.tape.nonFinite(vals);
  if (nf) throw nonFiniteError(p.tape, nf, AT_C, p.path);
  return vals;
}

/** Tags an ExprError with the config path of the field it came from. */
function at<T>(path: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof ExprError) e.path = path;
    throw e;
  }
}

/** Checks a customObjective without K (syntax, names, arities, a scalar objective): the problems, with their field. */
export function customObjectiveIssues(
  spec: CustomObjectiveSpec,
): { path: (string | number)[]; message: string; column: number }[] {
  const out: { path: (string | number)[]; message: string; column: number }[] = [];
  try {
    parseExpression(spec.expression);
  } catch (e) {
    if (!(e instanceof ExprError)) throw e;
    out.push({ path: ['expression'], message: e.message, column: e.column });
  }
  (spec.constraints ?? []).forEach((c, i) => {
    try {
      parseConstraint(c);
    } catch (e) {
      if (!(e instanceof ExprError)) throw e;
      out.push({ path: ['constraints', i], message: e.message, column: e.column });
    }
  });
  return out;
}

/**
 * Compiles a customObjective for K classes. Throws ExprError (with path customObjective.expression or
 * customObjective.constraints[i]) for a bad expression, an index out of range or mismatched lengths.
 */
export function compileCustomObjective(spec: CustomObjectiveSpec, K: number): CompiledObjective {
  const objPath = 'customObjective.expression';
  const objTape = at(objPath, () => compile(parseExpression(spec.expression), spec.expression, K));
  let off = objTape.width;
  const cons: Part[] = (spec.constraints ?? []).map((c, i) => {
    const path = `customObjective.constraints[${i}]`;
    const tape = at(path, () => compile(parseConstraint(c).g, c, K));
    const part = { tape, path, wOff: off, lOff: off + tape.width };
    off += tape.width + tape.outputLength;
    return part;
  });
  const count = off;
  const obj: Part = { tape: objTape, path: objPath, wOff: 0, lOff: 0 };

  const lin = (p: Part, m: Float64Array): Linearisation => ({ weights: m.subarray(p.wOff, p.wOff + p.tape.width) });
  const rootOf = (p: Part, st: ClassStats, l?: Linearisation): Float64Array => {
    const v = p.tape.forward(st, l);
    return v[p.tape.root]!;
  };
  const feasibleAt = (st: ClassStats): boolean => cons.every((p) => rootOf(p, st).every((g) => g >= 0));
  const lambdasOf = (p: Part, m: Float64Array): Float64Array => m.subarray(p.lOff, p.lOff + p.tape.outputLength);
  const scaleOf = (m: Float64Array | null): number => {
    if (cons.length === 0 || !m) return 1;
    let mx = -Infinity;
    for (const p of cons) for (const l of lambdasOf(p, m)) mx = Math.max(mx, l);
    return 1 + mx;
  };
  const need = (m: Float64Array | null): Float64Array => {
    if (count === 0) return new Float64Array(0);
    if (!m || m.length !== count)
      throw new RangeError(
        `custom objective "${spec.expression}": ${m ? m.length : 'no'} multipliers, expected ${count}`,
      );
    return m;
  };

  return {
    name: spec.expression,
    K,
    multiplierCount: count,
    value: (C) => rootOf(obj, classStats(C, K))[0]!,
    valueFromMetrics: (m) => rootOf(obj, statsFromMetrics(m))[0]!,
    feasible: (C) => feasibleAt(classStats(C, K)),
    feasibleFromMetrics: (m) => feasibleAt(statsFromMetrics(m)),
    updateMultipliers(Cclipped, prev, opts, round = 0) {
      if (count === 0) return null;
      const st = classStats(Cclipped, K);
      const old = prev && prev.length === count ? prev : null;
      const out = new Float64Array(count);
      for (const p of [obj, ...cons]) {
        checkValues(
          p,
          p.tape.forward(st, {
            weights: out.subarray(p.wOff, p.wOff + p.tape.width),
            update: (slot, v, w) =>
              minMaxWeights(
                slot,
                v,
                w,
                old ? old.subarray(p.wOff + slot.offset, p.wOff + slot.offset + slot.n) : null,
                opts,
              ),
          }),
        );
        if (p === obj) continue;
        // The multipliers act on the exact slack g(C) (true min/max), updated as the coverage ones are.
        const g = checkValues(p, p.tape.forward(st))[p.tape.root]!;
        const lam = lambdasOf(p, out);
        const was = old ? lambdasOf(p, old) : null;
        for (let i = 0; i < g.length; i++)
          lam[i] = constraintMultiplier(g[i]!, was ? was[i]! : null, round, opts.coverage);
      }
      return out;
    },
    lagrangian(C, multipliers) {
      const m = need(multipliers);
      const st = classStats(C, K);
      let s = rootOf(obj, st, lin(obj, m))[0]!;
      for (const p of cons) {
        const g = rootOf(p, st, lin(p, m));
        const lam = lambdasOf(p, m);
        for (let i = 0; i < g.length; i++) s += lam[i]! * g[i]!;
      }
      return s / scaleOf(m);
    },
    D(Cclipped, multipliers, opts) {
      const m = need(multipliers);
      const st = classStats(Cclipped, K);
      const adj = zeroStats(K);
      const pass = (p: Part, seed: Float64Array): void => {
        const l = lin(p, m);
        const nf = p.tape.backward(checkValues(p, p.tape.forward(st, l)), seed, adj, st, l);
        if (nf) throw nonFiniteError(p.tape, nf, AT_C, p.path);
      };
      pass(obj, Float64Array.of(1));
      for (const p of cons) {
        const lam = lambdasOf(p, m);
        if (lam.every((x) => x === 0)) continue;
        pass(p, lam);
      }
      const D = chainRuleD(
        gradientMatrix(adj, K),
        Cclipped,
        K,
        jacobianPriors(Cclipped, K, opts.priorMode),
        scaleOf(m),
      );
      if (!D.every(Number.isFinite)) {
        throw new ExprError(
          `${objPath} "${spec.expression}": the derivative D is not finite ${AT_C}; keep the expression and its constraints away from divisions by 0, log(0) and overflow`,
          spec.expression,
          1,
          objPath,
        );
      }
      return D;
    },
  };
}
