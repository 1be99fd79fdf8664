// The expression tests' shared assertion: an ExprError with this exact message at this column.
import assert from 'node:assert/strict';
import { ExprError } from '../../src/core/errors';

/** Asserts the ExprError message (exact) and column. */
export function throwsAt(f: () => unknown, message: string, column: number): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof ExprError, `an ExprError, got ${String(e)}`);
    assert.equal(e.message, message);
    assert.equal(e.column, column);
    return true;
  });
}
