// The tape of custom-objective expressions (src/core/objectives/exprTape.ts): values against hand-computed numbers,
// K-dependent errors, M = dpsi/dC by reverse mode against central finite differences, and the detection of
// values and derivatives that leave the finite numbers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../../../src/core/numerics/rng';
import { ExprError } from '../../../../src/core/errors';
import { classStats } from '../../../../src/core/numerics/classStats';
import {
  compileConstraint,
  compileExpression,
  expressionFunction,
  nonFiniteError,
  zeroStats,
} from '../../../../src/core/objectives/exprTape';
import { assertClose, fdGradient, maxAbs } from '../../../helpers/numerics';
import { throwsAt } from '../../../helpers/exprAssert';

/**
 * Counts (rows = true class) of a 3-class example, normalised jointly: recall 0.8, 0.6, 0.9; precision 0.8, 0.75, 0.75.
 */
const COUNTS = [8, 1, 1, 2, 6, 2, 0, 1, 9];
const C3 = Float64Array.from(COUNTS, (c) => c / 30);
const val = (e: string, C = C3, K = 3): number => expressionFunction(e, K).value(C);

test('precedence and associativity follow Python: unary minus below ^, ^ right-associative, ** an alias', () => {
  const cases: [string, number][] = [
    ['1 + 2 * 3', 7],
    ['(1 + 2) * 3', 9],
    ['-2^2', -4],
    ['(-2)^2', 4],
    ['2^3^2', 512],
    ['2**3**2', 512],
    ['2^-1', 0.5],
    ['10 - 4 - 3', 3],
    ['12 / 3 / 2', 2],
    ['--3', 3],
    ['+3 - -1', 4],
    ['K', 3],
    ['1.5e1 + .5', 15.5],
    ['min(3, 1, 2) + max(1, 4)', 5],
  ];
  for (const [e, want] of cases) assert.equal(val(e), want, e);
});

test('values on a hand-computed confusion matrix', () => {
  const f1 = [0.8, (2 * 0.75 * 0.6) / 1.35, (2 * 0.75 * 0.9) / 1.65];
  const cases: [string, number][] = [
    ['min(recall)', 0.6],
    ['max(recall)', 0.9],
    ['mean(recall[0:2]) + 2 * min(recall)', 0.7 + 1.2],
    ['mean(recall)', (0.8 + 0.6 + 0.9) / 3],
    ['sum(coverage)', 1],
    ['coverage[1]', 8 / 30],
    ['precision[2]', 0.75],
    ['accuracy', 23 / 30],
    ['mean(f1)', (f1[0]! + f1[1]! + f1[2]!) / 3],
    ['mean(f1(precision, recall))', (f1[0]! + f1[1]! + f1[2]!) / 3],
    ['gmean(recall)', Math.cbrt(0.8 * 0.6 * 0.9)],
    ['hmean(recall)', 3 / (1 / 0.8 + 1 / 0.6 + 1 / 0.9)],
    ['recall[-1]', 0.9],
    ['mean(recall[-2:])', 0.75],
    ['mean(recall[:K-1])', 0.7],
    ['mean(recall[1:100])', 0.75],
    ['recall[0:3][1]', 0.6],
    ['min(recall[0], precision[1])', 0.75],
    ['log(exp(2)) + sqrt(16)', 6],
    ['mean(recall ^ 2)', (0.64 + 0.36 + 0.81) / 3],
    ['mean(1 - recall)', (0.2 + 0.4 + 0.1) / 3],
  ];
  for (const [e, want] of cases) assert.ok(Math.abs(val(e) - want) <= 1e-14, `${e}: ${val(e)} vs ${want}`);
});

test('classes never predicted or never present count as recall/precision 0 in the value (no NaN)', () => {
  const C = Float64Array.from([5, 5, 0, 0, 0, 0, 0, 0, 10], (c) => c / 20); // class 1 absent and never predicted
  assert.equal(val('precision[1]', C), 0);
  assert.equal(val('recall[1]', C), 0);
  assert.equal(val('min(recall)', C), 0);
  assert.equal(val('gmean(recall)', C), 0);
  assert.equal(val('f1[1]', C), 0);
});

test('K-dependent errors: index out of range, non-integer index, empty slice, length mismatch', () => {
  throwsAt(
    () => compileExpression('recall[4]', 4),
    'index 4 out of range for a vector of 4 entries (K = 4; valid: -4 to 3) at column 8',
    8,
  );
  throwsAt(
    () => compileExpression('recall[-5]', 4),
    'index -5 out of range for a vector of 4 entries (K = 4; valid: -4 to 3) at column 8',
    8,
  );
  throwsAt(() => compileExpression('recall[K/2]', 5), 'an index must be an integer, got 2.5 at column 8', 8);
  throwsAt(
    () => compileExpression('mean(recall[3:1])', 4),
    'empty slice: [3:1] of a vector of 4 entries (K = 4) selects nothing at column 12',
    12,
  );
  throwsAt(
    () => compileExpression('mean(recall[0:2] + recall)', 4),
    'vectors of different lengths (2 and 4) in "+" at column 18',
    18,
  );
  throwsAt(
    () => compileConstraint('recall[0:2] >= coverage', 4),
    'vectors of different lengths (2 and 4) in "-" at column 13',
    13,
  );
  // The same expressions compile for a larger K.
  assert.equal(compileExpression('recall[4]', 5).outputLength, 1);
  assert.equal(compileExpression('recall[K/2]', 6).outputLength, 1);
});

test('constraints compile to g = lhs - rhs (or rhs - lhs), elementwise for vectors', () => {
  const g = compileConstraint('coverage >= 0.3', 3);
  assert.equal(g.outputLength, 3);
  const v = g.forward(classStats(C3, 3))[g.root]!;
  assertClose(v, [10 / 30 - 0.3, 8 / 30 - 0.3, 12 / 30 - 0.3], 1e-15, 'g', false);
  const h = compileConstraint('recall[1] <= 0.5', 3);
  assert.ok(Math.abs(h.forward(classStats(C3, 3))[h.root]![0]! - (0.5 - 0.6)) < 1e-15);
});

/** A random joint confusion matrix with a strong diagonal and distinct entries (a smooth point for min/max). */
function randomC(rng: Rng, K: number): Float64Array {
  const C = new Float64Array(K * K);
  let s = 0;
  for (let t = 0; t < K * K; t++) {
    C[t] = 0.2 + rng.next() + (t % (K + 1) === 0 ? 3 + 2 * rng.next() : 0);
    s += C[t]!;
  }
  for (let t = 0; t < K * K; t++) C[t]! /= s;
  return C;
}

const SMOOTH = [
  'mean(recall)',
  'gmean(recall)',
  'hmean(recall)',
  'mean(f1)',
  'min(recall)',
  'max(precision[1:3]) - min(recall[2:])',
  'mean(recall[0:2]) + 2 * min(recall)',
  'mean(precision) * sqrt(mean(recall[1:]))',
  'log(sum(coverage[:2])) + exp(-recall[-1])',
  'mean(recall[0:3]) ^ 2 / accuracy',
  'mean(f1(precision, recall ^ 2))',
  'accuracy ^ mean(recall)',
  'min(mean(recall[0:2]), mean(recall[2:]))',
  'gmean(f1[1:]) + hmean(precision)',
  'sum(coverage * recall) - 3 * coverage[0]',
  'max(f1[0], precision[2], 0.1)',
];

test('M = dpsi/dC by reverse mode matches central finite differences of psi(C) (K = 4 and 5)', () => {
  const rng = new Rng(51);
  for (const K of [4, 5]) {
    for (const e of SMOOTH) {
      const f = expressionFunction(e, K);
      const C = randomC(rng, K);
      const { value, M } = f.gradient(C);
      assert.equal(value, f.value(C), `${e}: value`);
      const fd = fdGradient((x) => f.value(x), C, 1e-7);
      assert.ok(maxAbs(M) > 1e-3, `${e}: M is trivially small`);
      assertClose(M, fd, 1e-6, `${e} M vs FD (K=${K})`);
    }
  }
});

test('min/max are subgradients at the first argmin/argmax on ties', () => {
  const C = Float64Array.from([4, 1, 1, 1, 4, 1, 2, 2, 2], (c) => c / 18); // recall 2/3, 2/3, 1/3
  const f = expressionFunction('max(recall)', 3);
  const { M } = f.gradient(C);
  // recall 0 and 1 tie at 2/3: the gradient goes to class 0 only (row 0 of M), none to row 1.
  assert.ok(Math.abs(M[0]!) > 0);
  assert.equal(maxAbs(M.subarray(3, 6)), 0);
});

/** Forward (and reverse) pass of an expression at C: the first non-finite node, as an ExprError, or null. */
function nonFiniteAt(e: string, C = C3, K = 3): ExprError | null {
  const tape = compileExpression(e, K);
  const st = classStats(C, K);
  const vals = tape.forward(st);
  const nf = tape.nonFinite(vals) ?? tape.backward(vals, Float64Array.of(1), zeroStats(K), st);
  return nf ? nonFiniteError(tape, nf, 'at C', 'customObjective.expression') : null;
}

test('a value that leaves the finite numbers is found at its node: division by 0, log(0), overflow', () => {
  const cases: [string, RegExp, number][] = [
    ['1 / (recall[0] - recall[0])', /"\/" at column 3 gives (-)?Infinity; a division by 0/, 3],
    [
      'mean(recall) + log(recall[0] - 0.8)',
      /log\(\.\.\.\) at column 16 gives -Infinity; log of 0 or of a negative number/,
      16,
    ],
    ['log(recall[1] - 0.7)', /log\(\.\.\.\) at column 1 gives NaN/, 1],
    ['exp(1000 * recall[0])', /exp\(\.\.\.\) at column 1 gives Infinity; exp overflows/, 1],
    ['sqrt(recall[1] - 0.9)', /sqrt\(\.\.\.\) at column 1 gives NaN; sqrt of a negative number/, 1],
  ];
  for (const [e, re, col] of cases) {
    const err = nonFiniteAt(e);
    assert.ok(err instanceof ExprError, `${e}: an ExprError`);
    assert.match(err.message, re, e);
    assert.ok(err.message.startsWith(`customObjective.expression "${e}" is not finite at C: `), err.message);
    assert.equal(err.column, col, e);
    assert.equal(err.path, 'customObjective.expression');
  }
  assert.equal(nonFiniteAt('mean(recall) + log(recall[0])'), null, 'finite values and derivatives');
});

test('a finite value whose derivative is not finite is found too (sqrt and log at 0, powers below 1 at 0)', () => {
  const C = Float64Array.from([5, 5, 0, 0, 0, 0, 0, 0, 10], (c) => c / 20); // recall 0.5, 0, 1
  const sq = nonFiniteAt('sqrt(recall[1]) + mean(recall)', C);
  assert.ok(sq);
  assert.match(
    sq.message,
    /has a derivative that is not finite at C: sqrt\(\.\.\.\) at column 1 gives Infinity; sqrt has an infinite slope at 0/,
  );
  const pw = nonFiniteAt('recall[1] ^ 0.5', C);
  assert.ok(pw);
  assert.match(pw.message, /derivative .* "\^" at column 11 gives Infinity/);
  assert.equal(pw.column, 11);
  assert.equal(nonFiniteAt('recall[1] ^ 2 + mean(recall)', C), null);
});
