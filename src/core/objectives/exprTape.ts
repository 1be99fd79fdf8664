// The expression language of custom objectives, its back half: a binder that fixes K (indices, slices, vector
// lengths) and turns a parsed expression of exprParser.ts into a small float64 tape, whose forward pass gives
// psi(C) and whose reverse pass gives M = dpsi/dC, the input of the chain rule of docs/ALGORITHM.md section 2.
import { ExprError } from '../errors';
import { classStats, gMean, hMean, precisionsOf, recallsOf, sum, type ClassStats } from '../numerics/classStats';
import { parseConstraint, parseExpression, startCol, type Ast } from './exprParser';

type Op =
  | 'const'
  | 'recall'
  | 'precision'
  | 'coverage'
  | 'accuracy'
  | 'gather'
  | 'neg'
  | 'add'
  | 'sub'
  | 'mul'
  | 'div'
  | 'pow'
  | 'f1'
  | 'log'
  | 'exp'
  | 'sqrt'
  | 'sum'
  | 'mean'
  | 'gmean'
  | 'hmean'
  | 'min'
  | 'max';

interface Instr {
  op: Op;
  args: number[];
  /** Output length (1 for a scalar). */
  len: number;
  /** True when the value does not depend on C. */
  constant: boolean;
  value?: Float64Array;
  idx?: Int32Array;
  /** min/max: index of this node's entry in Tape.slots. */
  slot?: number;
  /** 1-based column of the node in the source (of the operator for binary nodes), for messages. */
  col: number;
}

/** One min/max node: where its multipliers live and how many there are (vector length or argument count). */
export interface MinMaxSlot {
  kind: 'min' | 'max';
  offset: number;
  n: number;
  /** True for min/max of several scalars (no memory, like minHeadTailRecall); false for a vector. */
  many: boolean;
  col: number;
}

/** Multipliers of the min/max nodes: read (and with update, first written) during a pass. */
export interface Linearisation {
  weights: Float64Array;
  update?: (slot: MinMaxSlot, inputs: Float64Array, w: Float64Array) => void;
}

const ADD = (x: number, y: number): number => x + y;
const SUB = (x: number, y: number): number => x - y;
const MUL = (x: number, y: number): number => x * y;
const DIV = (x: number, y: number): number => x / y;
const POW = (x: number, y: number): number => Math.pow(x, y);
const F1 = (x: number, y: number): number => (x + y !== 0 ? (2 * x * y) / (x + y) : 0);
const BINARY: Partial<Record<Op, (x: number, y: number) => number>> = {
  add: ADD,
  sub: SUB,
  mul: MUL,
  div: DIV,
  pow: POW,
  f1: F1,
};

/** Where a pass first left the finite numbers: the node (its column and words for it) and what it gave. */
export interface NonFinite {
  col: number;
  /** The node in words, e.g. 'log(...)' or '"/"'. */
  what: string;
  value: number;
  /** True when the value was finite but its derivative was not. */
  gradient: boolean;
  /** What usually causes it and how to guard against it, starting with "; " (or empty). */
  hint: string;
}

/** The node of an instruction in words, for messages. */
function describeOp(ins: Instr): string {
  switch (ins.op) {
    case 'add':
      return '"+"';
    case 'sub':
      return '"-"';
    case 'mul':
      return '"*"';
    case 'div':
      return '"/"';
    case 'pow':
      return '"^"';
    case 'neg':
      return 'unary "-"';
    case 'const':
      return 'a constant';
    case 'gather':
      return 'the index';
    case 'recall':
    case 'precision':
    case 'coverage':
    case 'accuracy':
      return ins.op;
    default:
      return `${ins.op}(...)`;
  }
}

/** Why an instruction's value (or, with gradient, its derivative) is not finite, and the usual guard. */
function hintOf(ins: Instr, gradient: boolean): string {
  switch (ins.op) {
    case 'log':
      return gradient
        ? '; log has an infinite slope at 0: keep its argument away from 0, e.g. log(x + 1e-6)'
        : '; log of 0 or of a negative number: keep its argument positive, e.g. log(x + 1e-6)';
    case 'div':
      return '; a division by 0 (or by a number close to it): keep the denominator away from 0, e.g. x / (y + 1e-6)';
    case 'sqrt':
      return gradient ? '; sqrt has an infinite slope at 0: use sqrt(x + 1e-6)' : '; sqrt of a negative number';
    case 'pow':
      return '; a power of 0 or of a negative number with this exponent: keep the base positive, e.g. (x + 1e-6)^p';
    case 'exp':
      return '; exp overflows: scale its argument down';
    default:
      return '';
  }
}

/** A compiled expression for a fixed K: straight-line float64 instructions, run forward then in reverse. */
export class Tape {
  constructor(
    readonly K: number,
    private readonly instrs: Instr[],
    readonly root: number,
    readonly slots: MinMaxSlot[],
    readonly source = '',
  ) {}

  /** Number of min/max multipliers (the width of Linearisation.weights). */
  get width(): number {
    const s = this.slots[this.slots.length - 1];
    return s ? s.offset + s.n : 0;
  }
  /** Length of the result (1 for a scalar). */
  get outputLength(): number {
    return this.instrs[this.root]!.len;
  }

  /**
   * Values of every instruction. Without lin, min/max are exact; with lin, each min/max node takes the
   * value sum_i w_i v_i with its weights (the linearisation whose gradient is w; see customObjective.ts).
   */
  forward(st: ClassStats, lin?: Linearisation): Float64Array[] {
    const vals: Float64Array[] = [];
    for (const ins of this.instrs) {
      const out = new Float64Array(ins.len);
      const A = vals[ins.args[0]!];
      switch (ins.op) {
        case 'const':
          out.set(ins.value!);
          break;
        case 'recall':
          recallsOf(st, out);
          break;
        case 'precision':
          precisionsOf(st, out);
          break;
        case 'coverage':
          out.set(st.cov);
          break;
        case 'accuracy':
          out[0] = sum(st.diag);
          break;
        case 'gather':
          for (let i = 0; i < ins.len; i++) out[i] = A![ins.idx![i]!]!;
          break;
        case 'neg':
          for (let i = 0; i < ins.len; i++) out[i] = -A![i]!;
          break;
        case 'log':
          for (let i = 0; i < ins.len; i++) out[i] = Math.log(A![i]!);
          break;
        case 'exp':
          for (let i = 0; i < ins.len; i++) out[i] = Math.exp(A![i]!);
          break;
        case 'sqrt':
          for (let i = 0; i < ins.len; i++) out[i] = Math.sqrt(A![i]!);
          break;
        case 'sum':
          out[0] = sum(A!);
          break;
        case 'mean':
          out[0] = sum(A!) / A!.length;
          break;
        case 'gmean':
          out[0] = gMean(A!);
          break;
        case 'hmean':
          out[0] = hMean(A!);
          break;
        case 'min':
        case 'max': {
          const v = this.minMaxInputs(ins, vals);
          if (lin && ins.slot !== undefined) {
            const slot = this.slots[ins.slot]!;
            const w = lin.weights.subarray(slot.offset, slot.offset + slot.n);
            lin.update?.(slot, v, w);
            let s = 0;
            for (let i = 0; i < v.length; i++) s += w[i]! * v[i]!;
            out[0] = s;
          } else {
            out[0] = v[this.pick(ins.op, v)]!;
          }
          break;
        }
        default: {
          const f = BINARY[ins.op]!;
          const B = vals[ins.args[1]!]!;
          for (let i = 0; i < ins.len; i++)
            out[i] = f(A!.length === 1 ? A![0]! : A![i]!, B.length === 1 ? B[0]! : B[i]!);
        }
      }
      vals.push(out);
    }
    return vals;
  }

  /** The first instruction of a forward pass whose value is NaN or infinite (null: all finite). */
  nonFinite(vals: Float64Array[]): NonFinite | null {
    for (let n = 0; n < this.instrs.length; n++) {
      const v = vals[n]!;
      for (let i = 0; i < v.length; i++) {
        if (Number.isFinite(v[i]!)) continue;
        const ins = this.instrs[n]!;
        return { col: ins.col, what: describeOp(ins), value: v[i]!, gradient: false, hint: hintOf(ins, false) };
      }
    }
    return null;
  }

  /** Index of the min (max) of v, the first on ties: the subgradient of the exact pass. */
  private pick(op: Op, v: Float64Array): number {
    let best = 0;
    for (let i = 1; i < v.length; i++) if (op === 'min' ? v[i]! < v[best]! : v[i]! > v[best]!) best = i;
    return best;
  }

  private minMaxInputs(ins: Instr, vals: Float64Array[]): Float64Array {
    if (ins.args.length === 1) return vals[ins.args[0]!]!;
    return Float64Array.from(ins.args, (a) => vals[a]![0]!);
  }

  /**
   * Reverse pass from a seed on the root (scalar or vector): adds the adjoints of the class statistics to
   * adj. min/max pass their adjoint to the argmin/argmax (exact) or spread it by their weights (lin).
   * Returns the first node (from the root down) whose derivative is not finite, or null.
   */
  backward(
    vals: Float64Array[],
    seed: Float64Array,
    adj: ClassStats,
    st: ClassStats,
    lin?: Linearisation,
  ): NonFinite | null {
    const K = this.K;
    const g: (Float64Array | undefined)[] = new Array(this.instrs.length);
    g[this.root] = Float64Array.from(seed);
    let bad: NonFinite | null = null;
    let n = this.instrs.length - 1;
    const acc = (j: number, i: number, x: number): void => {
      if (this.instrs[j]!.constant) return;
      if (!bad && !Number.isFinite(x)) {
        const ins = this.instrs[n]!;
        bad = { col: ins.col, what: describeOp(ins), value: x, gradient: true, hint: hintOf(ins, true) };
      }
      const t = g[j] ?? (g[j] = new Float64Array(this.instrs[j]!.len));
      t[t.length === 1 ? 0 : i]! += x;
    };
    for (; n >= 0; n--) {
      const ins = this.instrs[n]!;
      const G = g[n];
      if (!G || ins.constant) continue;
      const a = ins.args[0]!;
      const A = vals[a];
      const out = vals[n]!;
      switch (ins.op) {
        case 'const':
          break;
        case 'recall':
          for (let k = 0; k < K; k++) {
            const R = st.R[k]!;
            if (R > 0) {
              adj.diag[k]! += G[k]! / R;
              adj.R[k]! -= (G[k]! * st.diag[k]!) / (R * R);
            }
          }
          break;
        case 'precision':
          for (let k = 0; k < K; k++) {
            const c = st.cov[k]!;
            if (c > 0) {
              adj.diag[k]! += G[k]! / c;
              adj.cov[k]! -= (G[k]! * st.diag[k]!) / (c * c);
            }
          }
          break;
        case 'coverage':
          for (let k = 0; k < K; k++) adj.cov[k]! += G[k]!;
          break;
        case 'accuracy':
          for (let k = 0; k < K; k++) adj.diag[k]! += G[0]!;
          break;
        case 'gather':
          for (let i = 0; i < ins.len; i++) acc(a, ins.idx![i]!, G[i]!);
          break;
        case 'neg':
          for (let i = 0; i < ins.len; i++) acc(a, i, -G[i]!);
          break;
        case 'log':
          for (let i = 0; i < ins.len; i++) acc(a, i, G[i]! / A![i]!);
          break;
        case 'exp':
          for (let i = 0; i < ins.len; i++) acc(a, i, G[i]! * out[i]!);
          break;
        case 'sqrt':
          for (let i = 0; i < ins.len; i++) acc(a, i, (0.5 * G[i]!) / out[i]!);
          break;
        case 'sum':
          for (let i = 0; i < A!.length; i++) acc(a, i, G[0]!);
          break;
        case 'mean':
          for (let i = 0; i < A!.length; i++) acc(a, i, G[0]! / A!.length);
          break;
        case 'gmean': {
          // d gmean / d v_i = gmean / (n v_i); 0 when the mean is 0 (a zero entry).
          const m = out[0]!;
          for (let i = 0; i < A!.length; i++) acc(a, i, m === 0 ? 0 : (G[0]! * m) / (A!.length * A![i]!));
          break;
        }
        case 'hmean': {
          // d hmean / d v_i = hmean^2 / (n v_i^2).
          const h = out[0]!;
          for (let i = 0; i < A!.length; i++) acc(a, i, h === 0 ? 0 : (G[0]! * h * h) / (A!.length * A![i]! * A![i]!));
          break;
        }
        case 'min':
        case 'max': {
          const v = this.minMaxInputs(ins, vals);
          const many = ins.args.length > 1;
          const put = (i: number, x: number): void => (many ? acc(ins.args[i]!, 0, x) : acc(a, i, x));
          if (lin) {
            const off = this.slots[ins.slot!]!.offset;
            const w = lin.weights.subarray(off, off + v.length);
            for (let i = 0; i < v.length; i++) put(i, G[0]! * w[i]!);
          } else {
            put(this.pick(ins.op, v), G[0]!);
          }
          break;
        }
        default: {
          const b = ins.args[1]!;
          const B = vals[b]!;
          for (let i = 0; i < ins.len; i++) {
            const x = A!.length === 1 ? A![0]! : A![i]!;
            const y = B.length === 1 ? B[0]! : B[i]!;
            const gi = G[i]!;
            switch (ins.op) {
              case 'add':
                acc(a, i, gi);
                acc(b, i, gi);
                break;
              case 'sub':
                acc(a, i, gi);
                acc(b, i, -gi);
                break;
              case 'mul':
                acc(a, i, gi * y);
                acc(b, i, gi * x);
                break;
              case 'div':
                acc(a, i, gi / y);
                acc(b, i, (-gi * x) / (y * y));
                break;
              case 'pow':
                acc(a, i, gi * y * Math.pow(x, y - 1));
                if (!this.instrs[b]!.constant) acc(b, i, gi * out[i]! * Math.log(x));
                break;
              default: {
                // f1: 2xy/(x+y); d/dx = 2y^2/(x+y)^2, d/dy = 2x^2/(x+y)^2
                const s = x + y;
                if (s !== 0) {
                  acc(a, i, (2 * gi * y * y) / (s * s));
                  acc(b, i, (2 * gi * x * x) / (s * s));
                }
              }
            }
          }
        }
      }
    }
    return bad;
  }
}

/** The ExprError for a pass that left the finite numbers, naming the expression (and its config field when known). */
export function nonFiniteError(
  tape: Tape,
  nf: NonFinite,
  where = 'at this confusion matrix',
  path?: string,
): ExprError {
  const field = path ? `${path} ` : '';
  const what = nf.gradient ? 'has a derivative that is not finite' : 'is not finite';
  const msg = `${field}"${tape.source}" ${what} ${where}: ${nf.what} at column ${nf.col} gives ${nf.value}${nf.hint}`;
  return new ExprError(msg, tape.source, nf.col, path);
}

/** Evaluates a constant index expression (numbers, K, arithmetic, and functions of constants). */
function constValue(a: Ast, K: number): number {
  switch (a.t) {
    case 'num':
      return a.value;
    case 'name':
      return K;
    case 'neg':
      return -constValue(a.arg, K);
    case 'bin': {
      const x = constValue(a.a, K);
      const y = constValue(a.b, K);
      return a.op === '+' ? x + y : a.op === '-' ? x - y : a.op === '*' ? x * y : a.op === '/' ? x / y : Math.pow(x, y);
    }
    case 'call': {
      const xs = a.args.map((e) => constValue(e, K));
      switch (a.name) {
        case 'min':
          return Math.min(...xs);
        case 'max':
          return Math.max(...xs);
        case 'log':
          return Math.log(xs[0]!);
        case 'exp':
          return Math.exp(xs[0]!);
        default:
          return Math.sqrt(xs[0]!);
      }
    }
    default:
      return NaN;
  }
}

/**
 * Compiles a checked AST (of parseExpression or parseConstraint) into a tape for K classes: resolves indices and
 * slices, checks vector lengths.
 */
export function compile(ast: Ast, src: string, K: number): Tape {
  if (!(Number.isInteger(K) && K >= 2)) throw new RangeError(`expression: K must be an integer >= 2, got ${K}`);
  const instrs: Instr[] = [];
  const slots: MinMaxSlot[] = [];
  let width = 0;
  const err = (msg: string, col: number): ExprError => new ExprError(`${msg} at column ${col}`, src, col);
  // The node being emitted: its column goes with every instruction pushed for it.
  let cur: Ast = ast;
  const push = (ins: Omit<Instr, 'col'>): number => {
    instrs.push({ ...ins, col: cur.col });
    return instrs.length - 1;
  };
  const leaves = new Map<string, number>();
  const leaf = (op: Op, len: number): number => {
    if (!leaves.has(op)) leaves.set(op, push({ op, args: [], len, constant: false }));
    return leaves.get(op)!;
  };
  const konst = (v: number): number =>
    push({ op: 'const', args: [], len: 1, constant: true, value: Float64Array.of(v) });
  const index = (e: Ast): number => {
    const v = constValue(e, K);
    if (!Number.isInteger(v)) throw err(`an index must be an integer, got ${v}`, startCol(e));
    return v;
  };
  const emit = (a: Ast): number => {
    const outer = cur;
    cur = a;
    try {
      return emitNode(a);
    } finally {
      cur = outer;
    }
  };
  const emitNode = (a: Ast): number => {
    switch (a.t) {
      case 'num':
        return konst(a.value);
      case 'name':
        switch (a.name) {
          case 'K':
            return konst(K);
          case 'accuracy':
            return leaf('accuracy', 1);
          case 'f1': {
            const p = leaf('precision', K);
            const r = leaf('recall', K);
            return push({ op: 'f1', args: [p, r], len: K, constant: false });
          }
          default:
            return leaf(a.name as Op, K);
        }
      case 'neg': {
        const x = emit(a.arg);
        return push({ op: 'neg', args: [x], len: instrs[x]!.len, constant: instrs[x]!.constant });
      }
      case 'bin': {
        const x = emit(a.a);
        const y = emit(a.b);
        const lx = instrs[x]!.len;
        const ly = instrs[y]!.len;
        if (lx !== ly && lx !== 1 && ly !== 1)
          throw err(`vectors of different lengths (${lx} and ${ly}) in "${a.op}"`, a.col);
        const op: Op =
          a.op === '+' ? 'add' : a.op === '-' ? 'sub' : a.op === '*' ? 'mul' : a.op === '/' ? 'div' : 'pow';
        return push({ op, args: [x, y], len: Math.max(lx, ly), constant: instrs[x]!.constant && instrs[y]!.constant });
      }
      case 'index': {
        const x = emit(a.target);
        const n = instrs[x]!.len;
        let idx: number[];
        if (!a.slice) {
          const i0 = index(a.lo!);
          const i = i0 < 0 ? i0 + n : i0;
          if (i < 0 || i >= n)
            throw err(
              `index ${i0} out of range for a vector of ${n} entries (K = ${K}; valid: ${-n} to ${n - 1})`,
              startCol(a.lo!),
            );
          idx = [i];
        } else {
          // Python slice semantics: negative bounds count from the end, out-of-range bounds are clamped.
          const bound = (e: Ast | null, dflt: number): number => {
            if (!e) return dflt;
            const v = index(e);
            return Math.min(n, Math.max(0, v < 0 ? v + n : v));
          };
          const lo = bound(a.lo, 0);
          const hi = bound(a.hi, n);
          if (hi <= lo)
            throw err(
              `empty slice: [${a.lo ? constValue(a.lo, K) : ''}:${a.hi ? constValue(a.hi, K) : ''}] of a vector of ${n} entries (K = ${K}) selects nothing`,
              a.col,
            );
          idx = Array.from({ length: hi - lo }, (_, i) => lo + i);
        }
        return push({
          op: 'gather',
          args: [x],
          len: a.slice ? idx.length : 1,
          constant: false,
          idx: Int32Array.from(idx),
        });
      }
      case 'call': {
        const args = a.args.map(emit);
        const constant = args.every((j) => instrs[j]!.constant);
        switch (a.name) {
          case 'min':
          case 'max': {
            if (constant) return push({ op: a.name, args, len: 1, constant });
            const n = args.length === 1 ? instrs[args[0]!]!.len : args.length;
            const slot: MinMaxSlot = { kind: a.name, offset: width, n, many: args.length > 1, col: a.col };
            slots.push(slot);
            width += n;
            return push({ op: a.name, args, len: 1, constant, slot: slots.length - 1 });
          }
          case 'mean':
          case 'sum':
          case 'gmean':
          case 'hmean':
            return push({ op: a.name, args, len: 1, constant });
          case 'log':
          case 'exp':
          case 'sqrt':
            return push({ op: a.name, args, len: instrs[args[0]!]!.len, constant });
          default: {
            // f1(x, y)
            const lx = instrs[args[0]!]!.len;
            const ly = instrs[args[1]!]!.len;
            if (lx !== ly && lx !== 1 && ly !== 1)
              throw err(`vectors of different lengths (${lx} and ${ly}) in f1()`, a.col);
            return push({ op: 'f1', args, len: Math.max(lx, ly), constant });
          }
        }
      }
    }
  };
  const root = emit(ast);
  return new Tape(K, instrs, root, slots, src);
}

/** Parses, checks and compiles an objective expression for K classes (a scalar psi(C)). */
export function compileExpression(src: string, K: number): Tape {
  return compile(parseExpression(src), src, K);
}

/** Parses and compiles a constraint for K classes: a tape for g(C), feasible when every entry of g is >= 0. */
export function compileConstraint(src: string, K: number): Tape {
  return compile(parseConstraint(src).g, src, K);
}

/** Zeroed adjoints of the class statistics. */
export function zeroStats(K: number): ClassStats {
  return { diag: new Float64Array(K), R: new Float64Array(K), cov: new Float64Array(K) };
}

/** M = dpsi/dC from the adjoints of diag, R and cov: M_kl = adjR_k + adjCov_l + delta_kl adjDiag_k. */
export function gradientMatrix(adj: ClassStats, K: number): Float64Array {
  const M = new Float64Array(K * K);
  for (let k = 0; k < K; k++) {
    for (let l = 0; l < K; l++) M[k * K + l] = adj.R[k]! + adj.cov[l]!;
    M[k * K + k]! += adj.diag[k]!;
  }
  return M;
}

/** A compiled objective expression as a function of C: its value and the exact gradient (subgradients at min/max). */
export interface ExprFunction {
  tape: Tape;
  value(C: Float64Array): number;
  /** psi(C) and M = dpsi/dC by reverse mode (min/max: the first argmin/argmax). */
  gradient(C: Float64Array): { value: number; M: Float64Array };
}

/** Compiles an objective expression into psi(C) and dpsi/dC for K classes. */
export function expressionFunction(src: string, K: number): ExprFunction {
  const tape = compileExpression(src, K);
  return {
    tape,
    value: (C) => {
      const v = tape.forward(classStats(C, K));
      return v[tape.root]![0]!;
    },
    gradient: (C) => {
      const st = classStats(C, K);
      const vals = tape.forward(st);
      const adj = zeroStats(K);
      tape.backward(vals, Float64Array.of(1), adj, st);
      return { value: vals[tape.root]![0]!, M: gradientMatrix(adj, K) };
    },
  };
}
