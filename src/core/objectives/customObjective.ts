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
import type { Feasibility, MetricsReport } from '../../protocol/messages';
import type { CompiledObjective } from './compiledObjective';

/** The config's customObjective field. */
export interface CustomObjectiveSpec {
  expression: string;
  constraints?: string[] | undefined;
}

/**
 * A custom objective compiled for K classes: the compiled interface of every objective, plus its exact value and
 * feasibility at a confusion matrix.
 */
export interface CustomObjective extends CompiledObjective {
  readonly id: null;
  /** psi(C) with exact min/max (0/0 recall or precision counts as 0). */
  value(C: Float64Array): number;
  /** True when every constraint holds at C (exact min/max). */
  feasible(C: Float64Array): boolean;
  feasibleFromMetrics(m: MetricsReport): boolean;
}

/**
 * The objective or one constraint: its tape, its config field, and where its min/max weights and lambdas sit in the
 * multiplier vector.
 */
interface Part {
  tape: Tape;
  /** customObjective.expression or customObjective.constraints[i]. */
  path: string;
  /** The constraint's text as the config has it (the expression's for the objective). */
  text: string;
  /** For a constraint `lhs >= c` with a number c: lhs's text and c (its feasibility is reported as lhs >= c). */
  lower: { lhs: string; bound: number } | null;
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
export function compileCustomObjective(spec: CustomObjectiveSpec, K: number): CustomObjective {
  const objPath = 'customObjective.expression';
  const objTape = at(objPath, () => compile(parseExpression(spec.expression), spec.expression, K));
  let off = objTape.width;
  const cons: Part[] = (spec.constraints ?? []).map((c, i) => {
    const path = `customObjective.constraints[${i}]`;
    const ast = at(path, () => parseConstraint(c));
    const tape = at(path, () => compile(ast.g, c, K));
    const rhs = ast.g.t === 'bin' ? ast.g.b : null;
    const lower =
      ast.op === '>=' && ast.g.t === 'bin' && rhs?.t === 'num'
        ? { lhs: c.slice(0, ast.g.col - 1).trim(), bound: rhs.value }
        : null;
    const part = { tape, path, text: c, lower, wOff: off, lOff: off + tape.width };
    off += tape.width + tape.outputLength;
    return part;
  });
  const count = off;
  const obj: Part = { tape: objTape, path: objPath, text: spec.expression, lower: null, wOff: 0, lOff: 0 };

  const lin = (p: Part, m: Float64Array): Linearisation => ({ weights: m.subarray(p.wOff, p.wOff + p.tape.width) });
  const rootOf = (p: Part, st: ClassStats, l?: Linearisation): Float64Array => {
    const v = p.tape.forward(st, l);
    return v[p.tape.root]!;
  };
  const feasibleAt = (st: ClassStats): boolean => cons.every((p) => rootOf(p, st).every((g) => g >= 0));
  // The constraint as reported: the one with the smallest slack g = lhs - rhs (its smallest entry), as lhs >= c when
  // its right side is a number, else as its slack >= 0. met agrees with feasibleAt: every slack >= 0.
  const feasibilityAt = (st: ClassStats): Feasibility | null => {
    let worst: { p: Part; slack: number } | null = null;
    for (const p of cons) {
      const slack = Math.min(...rootOf(p, st));
      if (!worst || !(slack >= worst.slack)) worst = { p, slack };
    }
    if (!worst) return null;
    const { p, slack } = worst;
    const many = p.tape.outputLength > 1 ? 'smallest entry of ' : '';
    const met = slack >= 0;
    return p.lower
      ? { constraint: `${many}${p.lower.lhs}`, bound: p.lower.bound, value: slack + p.lower.bound, met }
      : { constraint: `${many}the slack of ${p.text}`, bound: 0, value: slack, met };
  };
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

  const value = (C: Float64Array): number => rootOf(obj, classStats(C, K))[0]!;
  const feasible = (C: Float64Array): boolean => feasibleAt(classStats(C, K));
  return {
    name: spec.expression,
    id: null,
    K,
    multiplierCount: count,
    value,
    valueAt: (C) => value(C),
    valueFromMetrics: (m) => rootOf(obj, statsFromMetrics(m))[0]!,
    scoreAt: (C) => {
      const c = typeof C === 'function' ? C() : C;
      return { score: value(c), feasible: feasible(c) };
    },
    feasible,
    feasibleFromMetrics: (m) => feasibleAt(statsFromMetrics(m)),
    feasibility: (m) => feasibilityAt(statsFromMetrics(m)),
    infeasibility(val, c) {
      const f = feasibilityAt(statsFromMetrics(val));
      if (!f || f.met) return null;
      return (
        `infeasible on validation: ${f.constraint} >= ${+f.bound.toPrecision(6)} was not met at the kept iterate, step ${c.keptStep} ` +
        `(${+f.value.toPrecision(6)}). Loosen the constraint to a bound the model can reach.`
      );
    },
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
