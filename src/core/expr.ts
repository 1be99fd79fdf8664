// User-defined objectives (issue 5, item 1): a tokenizer and recursive-descent parser for expressions over
// the per-class vectors of a joint confusion matrix (recall, precision, coverage), a binder that fixes K
// (indices, slices, vector lengths), and a small float64 tape whose reverse pass gives M = dpsi/dC, the input
// of the chain rule of SELMIX.md section 2. Pure: no eval, no Function, no I/O.
//
// Grammar (lowest precedence first; `^` is right-associative and binds tighter than unary minus, as in Python):
//   constraint := expr (">=" | "<=") expr
//   expr       := term (("+" | "-") term)*
//   term       := unary (("*" | "/") unary)*
//   unary      := ("-" | "+") unary | power
//   power      := postfix (("^" | "**") unary)?
//   postfix    := primary ("[" index "]")*          index := expr | expr? ":" expr?   (constant, Python semantics)
//   primary    := number | name | name "(" (expr ("," expr)*)? ")" | "(" expr ")"
import { ExprError } from './errors';
import type { MetricsReport } from '../protocol/messages';

/** Names that denote per-class vectors of length K (f1 = 2 P R / (P + R) per class). */
export const VECTOR_NAMES = ['recall', 'precision', 'coverage', 'f1'] as const;
/** Names that denote scalars: the number of classes and the accuracy (trace of C). */
export const SCALAR_NAMES = ['K', 'accuracy'] as const;
/** Function names. */
export const FUNCTION_NAMES = ['min', 'max', 'mean', 'sum', 'gmean', 'hmean', 'log', 'exp', 'sqrt', 'f1'] as const;

type BinOp = '+' | '-' | '*' | '/' | '^';

/** A parsed expression; col is the 1-based column of the node (of the operator for binary nodes). */
export type Ast =
  | { t: 'num'; value: number; col: number }
  | { t: 'name'; name: string; col: number }
  | { t: 'call'; name: string; args: Ast[]; col: number }
  | { t: 'index'; target: Ast; lo: Ast | null; hi: Ast | null; slice: boolean; col: number }
  | { t: 'neg'; arg: Ast; col: number }
  | { t: 'bin'; op: BinOp; a: Ast; b: Ast; col: number };

/** A parsed constraint lhs >= rhs (or <=), as g = lhs - rhs >= 0 (or rhs - lhs). */
export interface ConstraintAst {
  g: Ast;
  op: '>=' | '<=';
}

interface Token {
  kind: 'num' | 'name' | 'op' | 'end';
  text: string;
  value: number;
  col: number;
}

const OPS = ['>=', '<=', '**', '+', '-', '*', '/', '^', '(', ')', '[', ']', ':', ','];
const NUMBER = /^(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/;
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*/;

/** Splits an expression into tokens; throws ExprError at the first character that starts no token. */
function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) { i++; continue; }
    const col = i + 1;
    const rest = src.slice(i);
    const num = NUMBER.exec(rest);
    if (num) { out.push({ kind: 'num', text: num[0], value: Number(num[0]), col }); i += num[0].length; continue; }
    const id = IDENT.exec(rest);
    if (id) { out.push({ kind: 'name', text: id[0], value: 0, col }); i += id[0].length; continue; }
    const op = OPS.find((o) => src.startsWith(o, i));
    if (op) { out.push({ kind: 'op', text: op === '**' ? '^' : op, value: 0, col }); i += op.length; continue; }
    const hint = c === '>' || c === '<' || c === '=' ? '; constraints use ">=" or "<="' : '';
    throw new ExprError(`unexpected character "${c}" at column ${col}${hint}`, src, col);
  }
  out.push({ kind: 'end', text: '', value: 0, col: src.length + 1 });
  return out;
}

function describe(t: Token): string {
  return t.kind === 'end' ? 'the end of the expression' : `"${t.text}"`;
}

/** Recursive-descent parser over the token list (grammar at the top of this file). */
class Parser {
  private pos = 0;
  private readonly toks: Token[];
  constructor(private readonly src: string) {
    this.toks = tokenize(src);
  }

  private peek(): Token { return this.toks[this.pos]!; }
  private isOp(text: string): boolean { const t = this.peek(); return t.kind === 'op' && t.text === text; }
  private next(): Token { return this.toks[this.pos++]!; }
  fail(expected: string, t = this.peek()): ExprError {
    return new ExprError(`expected ${expected} at column ${t.col}, found ${describe(t)}`, this.src, t.col);
  }
  private expectOp(text: string, what = `"${text}"`): Token {
    if (!this.isOp(text)) throw this.fail(what);
    return this.next();
  }
  end(): void {
    if (this.peek().kind !== 'end') throw this.fail('an operator or the end of the expression');
  }
  atComparison(): Token | null {
    return this.isOp('>=') || this.isOp('<=') ? this.next() : null;
  }

  expr(): Ast {
    let a = this.term();
    while (this.isOp('+') || this.isOp('-')) {
      const op = this.next();
      a = { t: 'bin', op: op.text as BinOp, a, b: this.term(), col: op.col };
    }
    return a;
  }
  private term(): Ast {
    let a = this.unary();
    while (this.isOp('*') || this.isOp('/')) {
      const op = this.next();
      a = { t: 'bin', op: op.text as BinOp, a, b: this.unary(), col: op.col };
    }
    return a;
  }
  private unary(): Ast {
    if (this.isOp('-')) { const op = this.next(); return { t: 'neg', arg: this.unary(), col: op.col }; }
    if (this.isOp('+')) { this.next(); return this.unary(); }
    return this.power();
  }
  private power(): Ast {
    const base = this.postfix();
    if (!this.isOp('^')) return base;
    const op = this.next();
    return { t: 'bin', op: '^', a: base, b: this.unary(), col: op.col };
  }
  private postfix(): Ast {
    let p = this.primary();
    while (this.isOp('[')) {
      const open = this.next();
      let lo: Ast | null = null;
      let hi: Ast | null = null;
      let slice = false;
      if (!this.isOp(':')) {
        if (this.isOp(']')) throw this.fail('an index or a slice "a:b"');
        lo = this.expr();
      }
      if (this.isOp(':')) {
        this.next();
        slice = true;
        if (!this.isOp(']')) hi = this.expr();
      }
      this.expectOp(']', slice ? '"]"' : '":" or "]"');
      p = { t: 'index', target: p, lo, hi, slice, col: open.col };
    }
    return p;
  }
  private primary(): Ast {
    const t = this.peek();
    if (t.kind === 'num') { this.next(); return { t: 'num', value: t.value, col: t.col }; }
    if (t.kind === 'name') {
      this.next();
      if (!this.isOp('(')) return { t: 'name', name: t.text, col: t.col };
      this.next();
      const args: Ast[] = [];
      if (!this.isOp(')')) {
        args.push(this.expr());
        while (this.isOp(',')) { this.next(); args.push(this.expr()); }
      }
      this.expectOp(')', args.length ? '"," or ")"' : 'an argument or ")"');
      return { t: 'call', name: t.text, args, col: t.col };
    }
    if (this.isOp('(')) {
      this.next();
      const e = this.expr();
      this.expectOp(')');
      return e;
    }
    throw this.fail('a number, a name or "("');
  }
}

/** Edit distance with adjacent transpositions (optimal string alignment), for "did you mean". */
function editDistance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  const d: number[][] = Array.from({ length: x.length + 1 }, (_, i) => Array.from({ length: y.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= x.length; i++) {
    for (let j = 1; j <= y.length; j++) {
      const cost = x[i - 1] === y[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && x[i - 1] === y[j - 2] && x[i - 2] === y[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[x.length]![y.length]!;
}

function suggest(name: string, candidates: readonly string[]): string {
  let best = '';
  let bd = Infinity;
  for (const c of candidates) { const e = editDistance(name, c); if (e < bd) { bd = e; best = c; } }
  return bd <= Math.max(1, Math.floor(name.length / 3)) + 1 && bd < name.length
    ? `; did you mean "${best}"?` : `; known names: ${[...VECTOR_NAMES, ...SCALAR_NAMES].join(', ')}, functions: ${FUNCTION_NAMES.join(', ')}`;
}

type Kind = 'scalar' | 'vector';

const isFunction = (n: string): boolean => (FUNCTION_NAMES as readonly string[]).includes(n);

/** The column where a node's text starts (binary nodes carry their operator's column). */
function startCol(a: Ast): number {
  return a.t === 'bin' ? startCol(a.a) : a.t === 'index' ? startCol(a.target) : a.col;
}

/** True when the node does not depend on the confusion matrix (numbers, K and arithmetic on them). */
function isConstant(a: Ast): boolean {
  switch (a.t) {
    case 'num': return true;
    case 'name': return a.name === 'K';
    case 'neg': return isConstant(a.arg);
    case 'bin': return isConstant(a.a) && isConstant(a.b);
    case 'call': return a.name !== 'f1' && a.args.every(isConstant);
    case 'index': return false;
  }
}

/** The kind of every node, with K-free checks: names, arities, indexing, constant indices. */
function kindOf(a: Ast, src: string): Kind {
  const err = (msg: string, col: number): ExprError => new ExprError(`${msg} at column ${col}`, src, col);
  switch (a.t) {
    case 'num': return 'scalar';
    case 'name': {
      if ((VECTOR_NAMES as readonly string[]).includes(a.name)) return 'vector';
      if ((SCALAR_NAMES as readonly string[]).includes(a.name)) return 'scalar';
      if (isFunction(a.name)) throw err(`"${a.name}" is a function: write ${a.name}(...)`, a.col);
      throw new ExprError(`unknown name "${a.name}" at column ${a.col}${suggest(a.name, [...VECTOR_NAMES, ...SCALAR_NAMES, ...FUNCTION_NAMES])}`, src, a.col);
    }
    case 'neg': return kindOf(a.arg, src);
    case 'bin': {
      const ka = kindOf(a.a, src);
      const kb = kindOf(a.b, src);
      return ka === 'vector' || kb === 'vector' ? 'vector' : 'scalar';
    }
    case 'index': {
      if (kindOf(a.target, src) !== 'vector') throw err('cannot index a scalar', a.col);
      for (const e of [a.lo, a.hi]) {
        if (!e) continue;
        if (!isConstant(e) || kindOf(e, src) !== 'scalar') throw err('an index must be a constant (numbers and K)', startCol(e));
      }
      return a.slice ? 'vector' : 'scalar';
    }
    case 'call': {
      if (!isFunction(a.name)) {
        if ([...VECTOR_NAMES, ...SCALAR_NAMES].includes(a.name as never)) throw err(`"${a.name}" is not a function`, a.col);
        throw new ExprError(`unknown function "${a.name}" at column ${a.col}${suggest(a.name, FUNCTION_NAMES)}`, src, a.col);
      }
      const kinds = a.args.map((x) => kindOf(x, src));
      const n = kinds.length;
      switch (a.name) {
        case 'min':
        case 'max':
          if (n === 0) throw err(`${a.name}() needs a vector or two or more scalars`, a.col);
          if (n === 1 && kinds[0] === 'scalar') throw err(`${a.name} of a single scalar: pass a vector, or two or more scalars`, a.col);
          if (n > 1) {
            const v = kinds.indexOf('vector');
            if (v >= 0) throw err(`${a.name} of several arguments takes scalars; argument ${v + 1} is a vector (write ${a.name}(v) to reduce a vector)`, startCol(a.args[v]!));
          }
          return 'scalar';
        case 'mean':
        case 'sum':
        case 'gmean':
        case 'hmean':
          if (n !== 1) throw err(`${a.name}() takes one vector, got ${n} arguments`, a.col);
          if (kinds[0] !== 'vector') throw err(`${a.name}() takes a vector, got a scalar`, startCol(a.args[0]!));
          return 'scalar';
        case 'log':
        case 'exp':
        case 'sqrt':
          if (n !== 1) throw err(`${a.name}() takes one argument, got ${n}`, a.col);
          return kinds[0]!;
        default: // f1
          if (n !== 2) throw err(`f1() takes two arguments (precision, recall), got ${n}; plain "f1" is the per-class F1 vector`, a.col);
          return kinds.includes('vector') ? 'vector' : 'scalar';
      }
    }
  }
}

/** Parses an objective expression and checks it (names, arities, a scalar result) without K. */
export function parseExpression(src: string): Ast {
  const p = new Parser(src);
  const ast = p.expr();
  p.end();
  if (kindOf(ast, src) !== 'scalar') {
    throw new ExprError('the objective must be a scalar, not a per-class vector, at column 1; reduce it with mean(...), min(...), sum(...), gmean(...) or hmean(...)', src, 1);
  }
  return ast;
}

/** Parses a constraint `lhs >= rhs` or `lhs <= rhs` (elementwise when a side is a vector), without K. */
export function parseConstraint(src: string): ConstraintAst {
  const p = new Parser(src);
  const lhs = p.expr();
  const op = p.atComparison();
  if (!op) throw p.fail('">=" or "<="');
  const rhs = p.expr();
  p.end();
  kindOf(lhs, src);
  kindOf(rhs, src);
  return op.text === '>=' ? { g: { t: 'bin', op: '-', a: lhs, b: rhs, col: op.col }, op: '>=' } : { g: { t: 'bin', op: '-', a: rhs, b: lhs, col: op.col }, op: '<=' };
}

// ---- the tape ----

type Op = 'const' | 'recall' | 'precision' | 'coverage' | 'accuracy' | 'gather' | 'neg'
  | 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'f1' | 'log' | 'exp' | 'sqrt'
  | 'sum' | 'mean' | 'gmean' | 'hmean' | 'min' | 'max';

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

/** Per-class statistics of a joint C: diagonal, row sums R (true-class priors) and column sums (coverage). */
export interface ClassStats {
  diag: Float64Array;
  R: Float64Array;
  cov: Float64Array;
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
const BINARY: Partial<Record<Op, (x: number, y: number) => number>> = { add: ADD, sub: SUB, mul: MUL, div: DIV, pow: POW, f1: F1 };

/** A compiled expression for a fixed K: straight-line float64 instructions, run forward then in reverse. */
export class Tape {
  constructor(readonly K: number, private readonly instrs: Instr[], readonly root: number, readonly slots: MinMaxSlot[]) {}

  /** Number of min/max multipliers (the width of Linearisation.weights). */
  get width(): number {
    const s = this.slots[this.slots.length - 1];
    return s ? s.offset + s.n : 0;
  }
  /** Length of the result (1 for a scalar). */
  get outputLength(): number { return this.instrs[this.root]!.len; }

  /**
   * Values of every instruction. Without lin, min/max are exact; with lin, each min/max node takes the
   * value sum_i w_i v_i with its weights (the linearisation whose gradient is w; see customObjective.ts).
   */
  forward(st: ClassStats, lin?: Linearisation): Float64Array[] {
    const vals: Float64Array[] = [];
    const K = this.K;
    for (const ins of this.instrs) {
      const out = new Float64Array(ins.len);
      const A = vals[ins.args[0]!];
      switch (ins.op) {
        case 'const': out.set(ins.value!); break;
        case 'recall': for (let k = 0; k < K; k++) out[k] = st.R[k]! > 0 ? st.diag[k]! / st.R[k]! : 0; break;
        case 'precision': for (let k = 0; k < K; k++) out[k] = st.cov[k]! > 0 ? st.diag[k]! / st.cov[k]! : 0; break;
        case 'coverage': out.set(st.cov); break;
        case 'accuracy': { let s = 0; for (let k = 0; k < K; k++) s += st.diag[k]!; out[0] = s; break; }
        case 'gather': for (let i = 0; i < ins.len; i++) out[i] = A![ins.idx![i]!]!; break;
        case 'neg': for (let i = 0; i < ins.len; i++) out[i] = -A![i]!; break;
        case 'log': for (let i = 0; i < ins.len; i++) out[i] = Math.log(A![i]!); break;
        case 'exp': for (let i = 0; i < ins.len; i++) out[i] = Math.exp(A![i]!); break;
        case 'sqrt': for (let i = 0; i < ins.len; i++) out[i] = Math.sqrt(A![i]!); break;
        case 'sum': case 'mean': {
          let s = 0;
          for (let i = 0; i < A!.length; i++) s += A![i]!;
          out[0] = ins.op === 'mean' ? s / A!.length : s;
          break;
        }
        case 'gmean': {
          // exp(mean log v), as gMeanOf in objectives.ts.
          let s = 0;
          for (let i = 0; i < A!.length; i++) s += Math.log(A![i]!);
          out[0] = Math.exp(s / A!.length);
          break;
        }
        case 'hmean': {
          let s = 0;
          for (let i = 0; i < A!.length; i++) s += 1 / A![i]!;
          out[0] = A!.length / s;
          break;
        }
        case 'min': case 'max': {
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
          for (let i = 0; i < ins.len; i++) out[i] = f(A!.length === 1 ? A![0]! : A![i]!, B.length === 1 ? B[0]! : B[i]!);
        }
      }
      vals.push(out);
    }
    return vals;
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
   */
  backward(vals: Float64Array[], seed: Float64Array, adj: ClassStats, st: ClassStats, lin?: Linearisation): void {
    const K = this.K;
    const g: (Float64Array | undefined)[] = new Array(this.instrs.length);
    g[this.root] = Float64Array.from(seed);
    const acc = (j: number, i: number, x: number): void => {
      if (this.instrs[j]!.constant) return;
      const t = g[j] ?? (g[j] = new Float64Array(this.instrs[j]!.len));
      t[t.length === 1 ? 0 : i]! += x;
    };
    for (let n = this.instrs.length - 1; n >= 0; n--) {
      const ins = this.instrs[n]!;
      const G = g[n];
      if (!G || ins.constant) continue;
      const a = ins.args[0]!;
      const A = vals[a];
      const out = vals[n]!;
      switch (ins.op) {
        case 'const': break;
        case 'recall':
          for (let k = 0; k < K; k++) {
            const R = st.R[k]!;
            if (R > 0) { adj.diag[k]! += G[k]! / R; adj.R[k]! -= (G[k]! * st.diag[k]!) / (R * R); }
          }
          break;
        case 'precision':
          for (let k = 0; k < K; k++) {
            const c = st.cov[k]!;
            if (c > 0) { adj.diag[k]! += G[k]! / c; adj.cov[k]! -= (G[k]! * st.diag[k]!) / (c * c); }
          }
          break;
        case 'coverage': for (let k = 0; k < K; k++) adj.cov[k]! += G[k]!; break;
        case 'accuracy': for (let k = 0; k < K; k++) adj.diag[k]! += G[0]!; break;
        case 'gather': for (let i = 0; i < ins.len; i++) acc(a, ins.idx![i]!, G[i]!); break;
        case 'neg': for (let i = 0; i < ins.len; i++) acc(a, i, -G[i]!); break;
        case 'log': for (let i = 0; i < ins.len; i++) acc(a, i, G[i]! / A![i]!); break;
        case 'exp': for (let i = 0; i < ins.len; i++) acc(a, i, G[i]! * out[i]!); break;
        case 'sqrt': for (let i = 0; i < ins.len; i++) acc(a, i, (0.5 * G[i]!) / out[i]!); break;
        case 'sum': for (let i = 0; i < A!.length; i++) acc(a, i, G[0]!); break;
        case 'mean': for (let i = 0; i < A!.length; i++) acc(a, i, G[0]! / A!.length); break;
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
        case 'min': case 'max': {
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
              case 'add': acc(a, i, gi); acc(b, i, gi); break;
              case 'sub': acc(a, i, gi); acc(b, i, -gi); break;
              case 'mul': acc(a, i, gi * y); acc(b, i, gi * x); break;
              case 'div': acc(a, i, gi / y); acc(b, i, (-gi * x) / (y * y)); break;
              case 'pow':
                acc(a, i, gi * y * Math.pow(x, y - 1));
                if (!this.instrs[b]!.constant) acc(b, i, gi * out[i]! * Math.log(x));
                break;
              default: { // f1: 2xy/(x+y); d/dx = 2y^2/(x+y)^2, d/dy = 2x^2/(x+y)^2
                const s = x + y;
                if (s !== 0) { acc(a, i, (2 * gi * y * y) / (s * s)); acc(b, i, (2 * gi * x * x) / (s * s)); }
              }
            }
          }
        }
      }
    }
  }
}

/** Evaluates a constant index expression (numbers, K, arithmetic, and functions of constants). */
function constValue(a: Ast, K: number): number {
  switch (a.t) {
    case 'num': return a.value;
    case 'name': return K;
    case 'neg': return -constValue(a.arg, K);
    case 'bin': {
      const x = constValue(a.a, K);
      const y = constValue(a.b, K);
      return a.op === '+' ? x + y : a.op === '-' ? x - y : a.op === '*' ? x * y : a.op === '/' ? x / y : Math.pow(x, y);
    }
    case 'call': {
      const xs = a.args.map((e) => constValue(e, K));
      switch (a.name) {
        case 'min': return Math.min(...xs);
        case 'max': return Math.max(...xs);
        case 'log': return Math.log(xs[0]!);
        case 'exp': return Math.exp(xs[0]!);
        default: return Math.sqrt(xs[0]!);
      }
    }
    default: return NaN;
  }
}

/** Compiles a checked AST (of parseExpression or parseConstraint) into a tape for K classes: resolves indices and slices, checks vector lengths. */
export function compile(ast: Ast, src: string, K: number): Tape {
  if (!(Number.isInteger(K) && K >= 2)) throw new RangeError(`expression: K must be an integer >= 2, got ${K}`);
  const instrs: Instr[] = [];
  const slots: MinMaxSlot[] = [];
  let width = 0;
  const err = (msg: string, col: number): ExprError => new ExprError(`${msg} at column ${col}`, src, col);
  const push = (ins: Instr): number => { instrs.push(ins); return instrs.length - 1; };
  const leaves = new Map<string, number>();
  const leaf = (op: Op, len: number): number => {
    if (!leaves.has(op)) leaves.set(op, push({ op, args: [], len, constant: false }));
    return leaves.get(op)!;
  };
  const konst = (v: number): number => push({ op: 'const', args: [], len: 1, constant: true, value: Float64Array.of(v) });
  const index = (e: Ast): number => {
    const v = constValue(e, K);
    if (!Number.isInteger(v)) throw err(`an index must be an integer, got ${v}`, startCol(e));
    return v;
  };
  const emit = (a: Ast): number => {
    switch (a.t) {
      case 'num': return konst(a.value);
      case 'name':
        switch (a.name) {
          case 'K': return konst(K);
          case 'accuracy': return leaf('accuracy', 1);
          case 'f1': {
            const p = leaf('precision', K);
            const r = leaf('recall', K);
            return push({ op: 'f1', args: [p, r], len: K, constant: false });
          }
          default: return leaf(a.name as Op, K);
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
        if (lx !== ly && lx !== 1 && ly !== 1) throw err(`vectors of different lengths (${lx} and ${ly}) in "${a.op}"`, a.col);
        const op: Op = a.op === '+' ? 'add' : a.op === '-' ? 'sub' : a.op === '*' ? 'mul' : a.op === '/' ? 'div' : 'pow';
        return push({ op, args: [x, y], len: Math.max(lx, ly), constant: instrs[x]!.constant && instrs[y]!.constant });
      }
      case 'index': {
        const x = emit(a.target);
        const n = instrs[x]!.len;
        let idx: number[];
        if (!a.slice) {
          const i0 = index(a.lo!);
          const i = i0 < 0 ? i0 + n : i0;
          if (i < 0 || i >= n) throw err(`index ${i0} out of range for a vector of ${n} entries (K = ${K}; valid: ${-n} to ${n - 1})`, startCol(a.lo!));
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
          if (hi <= lo) throw err(`empty slice: [${a.lo ? constValue(a.lo, K) : ''}:${a.hi ? constValue(a.hi, K) : ''}] of a vector of ${n} entries (K = ${K}) selects nothing`, a.col);
          idx = Array.from({ length: hi - lo }, (_, i) => lo + i);
        }
        return push({ op: 'gather', args: [x], len: a.slice ? idx.length : 1, constant: false, idx: Int32Array.from(idx) });
      }
      case 'call': {
        const args = a.args.map(emit);
        const constant = args.every((j) => instrs[j]!.constant);
        switch (a.name) {
          case 'min': case 'max': {
            if (constant) return push({ op: a.name, args, len: 1, constant });
            const n = args.length === 1 ? instrs[args[0]!]!.len : args.length;
            const slot: MinMaxSlot = { kind: a.name, offset: width, n, many: args.length > 1, col: a.col };
            slots.push(slot);
            width += n;
            return push({ op: a.name, args, len: 1, constant, slot: slots.length - 1 });
          }
          case 'mean': case 'sum': case 'gmean': case 'hmean':
            return push({ op: a.name, args, len: 1, constant });
          case 'log': case 'exp': case 'sqrt':
            return push({ op: a.name, args, len: instrs[args[0]!]!.len, constant });
          default: { // f1(x, y)
            const lx = instrs[args[0]!]!.len;
            const ly = instrs[args[1]!]!.len;
            if (lx !== ly && lx !== 1 && ly !== 1) throw err(`vectors of different lengths (${lx} and ${ly}) in f1()`, a.col);
            return push({ op: 'f1', args, len: Math.max(lx, ly), constant });
          }
        }
      }
    }
  };
  const root = emit(ast);
  return new Tape(K, instrs, root, slots);
}

/** Parses, checks and compiles an objective expression for K classes (a scalar psi(C)). */
export function compileExpression(src: string, K: number): Tape {
  return compile(parseExpression(src), src, K);
}

/** Parses and compiles a constraint for K classes: a tape for g(C), feasible when every entry of g is >= 0. */
export function compileConstraint(src: string, K: number): Tape {
  return compile(parseConstraint(src).g, src, K);
}

/** Diagonal, row sums and column sums of a joint K x K C (summed in the order objectives.ts uses). */
export function classStats(C: Float64Array, K: number): ClassStats {
  if (C.length !== K * K) throw new RangeError(`classStats: C has ${C.length} entries, expected ${K * K}`);
  const diag = new Float64Array(K);
  const R = new Float64Array(K);
  const cov = new Float64Array(K);
  for (let k = 0; k < K; k++) {
    let s = 0;
    for (let l = 0; l < K; l++) { s += C[k * K + l]!; cov[l]! += C[k * K + l]!; }
    R[k] = s;
    diag[k] = C[k * K + k]!;
  }
  return { diag, R, cov };
}

/**
 * The same statistics recovered from a metrics report (recall, coverage and class support are enough:
 * R_k = support_k / N, C_kk = recall_k R_k), so reports carry a custom objective's value.
 */
export function statsFromMetrics(m: MetricsReport): ClassStats {
  const K = m.recall.length;
  let N = 0;
  for (const s of m.support) N += s;
  const R = Float64Array.from(m.support, (s) => (N > 0 ? s / N : 0));
  const diag = Float64Array.from(m.recall, (r, k) => r * R[k]!);
  return { diag, R, cov: Float64Array.from(m.coverage.slice(0, K)) };
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
    value: (C) => { const v = tape.forward(classStats(C, K)); return v[tape.root]![0]!; },
    gradient: (C) => {
      const st = classStats(C, K);
      const vals = tape.forward(st);
      const adj = zeroStats(K);
      tape.backward(vals, Float64Array.of(1), adj, st);
      return { value: vals[tape.root]![0]!, M: gradientMatrix(adj, K) };
    },
  };
}
