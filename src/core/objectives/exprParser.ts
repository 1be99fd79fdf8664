// The expression language of custom objectives, its front half: a tokenizer and recursive-descent parser for
// expressions over the per-class vectors of a joint confusion matrix (recall, precision, coverage, f1), and
// the K-free checks (names, arities, kinds). exprTape.ts binds a parsed expression to K and evaluates it.
// Pure: no eval, no Function, no I/O.
//
// Grammar (lowest precedence first; `^` is right-associative and binds tighter than unary minus, as in Python):
//   constraint := expr (">=" | "<=") expr
//   expr       := term (("+" | "-") term)*
//   term       := unary (("*" | "/") unary)*
//   unary      := ("-" | "+") unary | power
//   power      := postfix (("^" | "**") unary)?
//   postfix    := primary ("[" index "]")*          index := expr | expr? ":" expr?   (constant, Python semantics)
//   primary    := number | name | name "(" (expr ("," expr)*)? ")" | "(" expr ")"
import { ExprError } from '../errors';

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
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const col = i + 1;
    const rest = src.slice(i);
    const num = NUMBER.exec(rest);
    if (num) {
      out.push({ kind: 'num', text: num[0], value: Number(num[0]), col });
      i += num[0].length;
      continue;
    }
    const id = IDENT.exec(rest);
    if (id) {
      out.push({ kind: 'name', text: id[0], value: 0, col });
      i += id[0].length;
      continue;
    }
    const op = OPS.find((o) => src.startsWith(o, i));
    if (op) {
      out.push({ kind: 'op', text: op === '**' ? '^' : op, value: 0, col });
      i += op.length;
      continue;
    }
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
/** The longest expression accepted (a config field, not a program). */
export const MAX_EXPRESSION_CHARS = 2000;
/** The deepest nesting of brackets, calls and unary signs accepted (the parser and the tape recurse). */
export const MAX_EXPRESSION_DEPTH = 50;

class Parser {
  private pos = 0;
  private depth = 0;
  private readonly toks: Token[];
  constructor(private readonly src: string) {
    if (src.length > MAX_EXPRESSION_CHARS)
      throw new ExprError(
        `the expression is ${src.length} characters long; at most ${MAX_EXPRESSION_CHARS} are accepted`,
        src,
        MAX_EXPRESSION_CHARS + 1,
      );
    this.toks = tokenize(src);
  }

  /**
   * Runs one level of recursion, refusing nesting deeper than MAX_EXPRESSION_DEPTH (a named error, not a stack
   * overflow).
   */
  private nested<T>(f: () => T): T {
    if (++this.depth > MAX_EXPRESSION_DEPTH) {
      const t = this.peek();
      throw new ExprError(
        `the expression is nested more than ${MAX_EXPRESSION_DEPTH} levels deep at column ${t.col}`,
        this.src,
        t.col,
      );
    }
    try {
      return f();
    } finally {
      this.depth--;
    }
  }

  private peek(): Token {
    return this.toks[this.pos]!;
  }
  private isOp(text: string): boolean {
    const t = this.peek();
    return t.kind === 'op' && t.text === text;
  }
  private next(): Token {
    return this.toks[this.pos++]!;
  }
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
    return this.nested(() => this.sum());
  }
  private sum(): Ast {
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
    if (this.isOp('-')) {
      const op = this.next();
      return { t: 'neg', arg: this.nested(() => this.unary()), col: op.col };
    }
    if (this.isOp('+')) {
      this.next();
      return this.nested(() => this.unary());
    }
    return this.power();
  }
  private power(): Ast {
    const base = this.postfix();
    if (!this.isOp('^')) return base;
    const op = this.next();
    return { t: 'bin', op: '^', a: base, b: this.nested(() => this.unary()), col: op.col };
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
    if (t.kind === 'num') {
      this.next();
      return { t: 'num', value: t.value, col: t.col };
    }
    if (t.kind === 'name') {
      this.next();
      if (!this.isOp('(')) return { t: 'name', name: t.text, col: t.col };
      this.next();
      const args: Ast[] = [];
      if (!this.isOp(')')) {
        args.push(this.expr());
        while (this.isOp(',')) {
          this.next();
          args.push(this.expr());
        }
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
  const d: number[][] = Array.from({ length: x.length + 1 }, (_, i) =>
    Array.from({ length: y.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
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
  for (const c of candidates) {
    const e = editDistance(name, c);
    if (e < bd) {
      bd = e;
      best = c;
    }
  }
  return bd <= Math.max(1, Math.floor(name.length / 3)) + 1 && bd < name.length
    ? `; did you mean "${best}"?`
    : `; known names: ${[...VECTOR_NAMES, ...SCALAR_NAMES].join(', ')}, functions: ${FUNCTION_NAMES.join(', ')}`;
}

type Kind = 'scalar' | 'vector';

const isFunction = (n: string): boolean => (FUNCTION_NAMES as readonly string[]).includes(n);

/** The column where a node's text starts (binary nodes carry their operator's column). */
export function startCol(a: Ast): number {
  return a.t === 'bin' ? startCol(a.a) : a.t === 'index' ? startCol(a.target) : a.col;
}

/** True when the node does not depend on the confusion matrix (numbers, K and arithmetic on them). */
function isConstant(a: Ast): boolean {
  switch (a.t) {
    case 'num':
      return true;
    case 'name':
      return a.name === 'K';
    case 'neg':
      return isConstant(a.arg);
    case 'bin':
      return isConstant(a.a) && isConstant(a.b);
    case 'call':
      return a.name !== 'f1' && a.args.every(isConstant);
    case 'index':
      return false;
  }
}

/** The kind of every node, with K-free checks: names, arities, indexing, constant indices. */
function kindOf(a: Ast, src: string): Kind {
  const err = (msg: string, col: number): ExprError => new ExprError(`${msg} at column ${col}`, src, col);
  switch (a.t) {
    case 'num':
      return 'scalar';
    case 'name': {
      if ((VECTOR_NAMES as readonly string[]).includes(a.name)) return 'vector';
      if ((SCALAR_NAMES as readonly string[]).includes(a.name)) return 'scalar';
      if (isFunction(a.name)) throw err(`"${a.name}" is a function: write ${a.name}(...)`, a.col);
      throw new ExprError(
        `unknown name "${a.name}" at column ${a.col}${suggest(a.name, [...VECTOR_NAMES, ...SCALAR_NAMES, ...FUNCTION_NAMES])}`,
        src,
        a.col,
      );
    }
    case 'neg':
      return kindOf(a.arg, src);
    case 'bin': {
      const ka = kindOf(a.a, src);
      const kb = kindOf(a.b, src);
      return ka === 'vector' || kb === 'vector' ? 'vector' : 'scalar';
    }
    case 'index': {
      if (kindOf(a.target, src) !== 'vector') throw err('cannot index a scalar', a.col);
      for (const e of [a.lo, a.hi]) {
        if (!e) continue;
        if (!isConstant(e) || kindOf(e, src) !== 'scalar')
          throw err('an index must be a constant (numbers and K)', startCol(e));
      }
      return a.slice ? 'vector' : 'scalar';
    }
    case 'call': {
      if (!isFunction(a.name)) {
        if ([...VECTOR_NAMES, ...SCALAR_NAMES].includes(a.name as never))
          throw err(`"${a.name}" is not a function`, a.col);
        throw new ExprError(
          `unknown function "${a.name}" at column ${a.col}${suggest(a.name, FUNCTION_NAMES)}`,
          src,
          a.col,
        );
      }
      const kinds = a.args.map((x) => kindOf(x, src));
      const n = kinds.length;
      switch (a.name) {
        case 'min':
        case 'max':
          if (n === 0) throw err(`${a.name}() needs a vector or two or more scalars`, a.col);
          if (n === 1 && kinds[0] === 'scalar')
            throw err(`${a.name} of a single scalar: pass a vector, or two or more scalars`, a.col);
          if (n > 1) {
            const v = kinds.indexOf('vector');
            if (v >= 0)
              throw err(
                `${a.name} of several arguments takes scalars; argument ${v + 1} is a vector (write ${a.name}(v) to reduce a vector)`,
                startCol(a.args[v]!),
              );
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
          if (n !== 2)
            throw err(
              `f1() takes two arguments (precision, recall), got ${n}; plain "f1" is the per-class F1 vector`,
              a.col,
            );
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
    throw new ExprError(
      'the objective must be a scalar, not a per-class vector, at column 1; reduce it with mean(...), min(...), sum(...), gmean(...) or hmean(...)',
      src,
      1,
    );
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
  return op.text === '>='
    ? { g: { t: 'bin', op: '-', a: lhs, b: rhs, col: op.col }, op: '>=' }
    : { g: { t: 'bin', op: '-', a: rhs, b: lhs, col: op.col }, op: '<=' };
}
