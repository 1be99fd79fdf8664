// The parser of custom-objective expressions (src/core/objectives/exprParser.ts): K-free checks and error messages
// with columns. Values and derivatives are tested with the tape (exprTape.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExprError } from '../../../../src/core/errors';
import { parseConstraint, parseExpression } from '../../../../src/core/objectives/exprParser';
import { throwsAt } from '../../../helpers/exprAssert';

test('parse errors name the column and what was expected', () => {
  throwsAt(() => parseExpression('min(recal)'), 'unknown name "recal" at column 5; did you mean "recall"?', 5);
  throwsAt(() => parseExpression('maen(recall)'), 'unknown function "maen" at column 1; did you mean "mean"?', 1);
  throwsAt(
    () => parseExpression('mean(recall'),
    'expected "," or ")" at column 12, found the end of the expression',
    12,
  );
  throwsAt(
    () => parseExpression('2 +'),
    'expected a number, a name or "(" at column 4, found the end of the expression',
    4,
  );
  throwsAt(
    () => parseExpression(''),
    'expected a number, a name or "(" at column 1, found the end of the expression',
    1,
  );
  throwsAt(
    () => parseExpression('mean(recall) mean(recall)'),
    'expected an operator or the end of the expression at column 14, found "mean"',
    14,
  );
  throwsAt(() => parseExpression('recall[]'), 'expected an index or a slice "a:b" at column 8, found "]"', 8);
  throwsAt(() => parseExpression('min(recall) $ 2'), 'unexpected character "$" at column 13', 13);
  throwsAt(() => parseExpression('mean'), '"mean" is a function: write mean(...) at column 1', 1);
  throwsAt(() => parseExpression('recall(1)'), '"recall" is not a function at column 1', 1);
  throwsAt(
    () => parseExpression('2 * recall'),
    'the objective must be a scalar, not a per-class vector, at column 1; reduce it with mean(...), min(...), sum(...), gmean(...) or hmean(...)',
    1,
  );
  throwsAt(
    () => parseExpression('min(recall, 0.5)'),
    'min of several arguments takes scalars; argument 1 is a vector (write min(v) to reduce a vector) at column 5',
    5,
  );
  throwsAt(
    () => parseExpression('max(0.5)'),
    'max of a single scalar: pass a vector, or two or more scalars at column 1',
    1,
  );
  throwsAt(() => parseExpression('mean(accuracy)'), 'mean() takes a vector, got a scalar at column 6', 6);
  throwsAt(
    () => parseExpression('f1(recall)'),
    'f1() takes two arguments (precision, recall), got 1; plain "f1" is the per-class F1 vector at column 1',
    1,
  );
  throwsAt(() => parseExpression('accuracy[0]'), 'cannot index a scalar at column 9', 9);
  throwsAt(() => parseExpression('recall[precision[0]]'), 'an index must be a constant (numbers and K) at column 8', 8);
  throwsAt(
    () => parseConstraint('recall[3] > 0.5'),
    'unexpected character ">" at column 11; constraints use ">=" or "<="',
    11,
  );
  throwsAt(() => parseConstraint('recall[3] 0.5'), 'expected ">=" or "<=" at column 11, found "0.5"', 11);
  assert.match(new ExprError('x', '', 1).name, /ExprError/);
});

test('a constraint parses to g = lhs - rhs for ">=" and rhs - lhs for "<=", at the comparison column', () => {
  const ge = parseConstraint('recall[3] >= 0.5');
  assert.equal(ge.op, '>=');
  assert.ok(ge.g.t === 'bin' && ge.g.op === '-' && ge.g.col === 11 && ge.g.a.t === 'index' && ge.g.b.t === 'num');
  const le = parseConstraint('coverage <= 0.2');
  assert.ok(le.g.t === 'bin' && le.g.op === '-' && le.g.a.t === 'num' && le.g.b.t === 'name');
  assert.equal(parseExpression('2 ^ 3 ^ 2').t, 'bin');
});

test('limits: an expression too long or nested too deep is a named error with its column, never a stack overflow', () => {
  const long = 'mean(recall)' + ' + 0'.repeat(600);
  assert.throws(
    () => parseExpression(long),
    (e: unknown) => e instanceof ExprError && /at most 2000/.test(e.message),
  );
  for (const deep of [
    '('.repeat(60) + 'min(recall)' + ')'.repeat(60),
    '-'.repeat(60) + 'min(recall)',
    'min(recall)' + '^2'.repeat(60),
    'max('.repeat(60) + 'recall' + ')'.repeat(60),
  ]) {
    assert.throws(
      () => parseExpression(deep),
      (e: unknown) => e instanceof ExprError && /nested more than 50 levels deep at column \d+/.test(e.message),
      deep.slice(0, 40),
    );
  }
  // Just inside the limit parses.
  assert.doesNotThrow(() => parseExpression('('.repeat(40) + 'min(recall)' + ')'.repeat(40)));
});
