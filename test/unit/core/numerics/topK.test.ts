import { test } from 'node:test';
import assert from 'node:assert/strict';
import { largestIndices } from '../../../../src/core/numerics/topK';
import { Rng } from '../../../../src/core/numerics/rng';

/** The reference: a stable sort of every index, largest value first, NaN dropped. */
function bySort(a: ArrayLike<number>, k: number): number[] {
  return Array.from({ length: a.length }, (_, i) => i)
    .filter((i) => !Number.isNaN(a[i]!))
    .sort((x, y) => a[y]! - a[x]!)
    .slice(0, Math.max(0, k));
}

test('largestIndices equals a stable descending sort, ties in index order, on random arrays with many ties', () => {
  const rng = new Rng(3);
  for (const n of [0, 1, 2, 7, 100, 5000]) {
    for (const k of [0, 1, 3, 10, n, n + 4]) {
      // Few distinct values, so ties cross the cut; a float array and a plain one.
      const a = Float64Array.from({ length: n }, () => Math.floor(rng.next() * 12) - 6);
      assert.deepEqual(largestIndices(a, k), bySort(a, k), `n=${n} k=${k}`);
      const b = Array.from({ length: n }, () => rng.next() * 2 - 1);
      assert.deepEqual(largestIndices(b, k), bySort(b, k), `n=${n} k=${k} distinct`);
    }
  }
});

test('largestIndices skips NaN and keeps infinities in order', () => {
  const a = [NaN, 1, Infinity, -Infinity, NaN, 1, 5];
  assert.deepEqual(largestIndices(a, 10), [2, 6, 1, 5, 3]);
  assert.deepEqual(largestIndices(a, 2), [2, 6]);
  assert.deepEqual(largestIndices([NaN, NaN], 1), []);
});
