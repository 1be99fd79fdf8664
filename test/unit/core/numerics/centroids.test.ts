// Class centroids: the class-by-class sum gives the very bits of summing row by row in order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../../../src/core/numerics/rng';
import { classCentroids } from '../../../../src/core/numerics/centroids';
import { randn } from '../../../helpers/numerics';

/** Row by row into Z in the order of the rows, then each row scaled by 1/count: the plain definition. */
function rowByRow(x: Float32Array, N: number, d: number, y: Int32Array, K: number): Float64Array {
  const Z = new Float64Array(K * d);
  const counts = new Array<number>(K).fill(0);
  for (let n = 0; n < N; n++) {
    counts[y[n]!]! += 1;
    for (let r = 0; r < d; r++) Z[y[n]! * d + r]! += x[n * d + r]!;
  }
  for (let k = 0; k < K; k++) if (counts[k]! > 0) for (let r = 0; r < d; r++) Z[k * d + r]! *= 1 / counts[k]!;
  return Z;
}

test('classCentroids equals the row-by-row sums bit for bit, with shuffled labels and an empty class', () => {
  const rng = new Rng(7);
  const [N, d, K] = [257, 13, 9];
  const x = Float32Array.from(randn(rng, N * d, 1e3));
  // Labels in no order; class 4 has no rows.
  const y = Int32Array.from({ length: N }, (_, n) => [3, 0, 8, 1, 7, 2, 5, 6, 0, 3][(n * 7 + (n >> 3)) % 10]!);
  const { Z, counts } = classCentroids(x, N, d, y, K);
  assert.deepEqual(Array.from(Z), Array.from(rowByRow(x, N, d, y, K)));
  assert.equal(counts[4], 0);
  assert.ok(Z.subarray(4 * d, 5 * d).every((v) => v === 0));
  assert.equal(
    counts.reduce((a, b) => a + b, 0),
    N,
  );
});

test('classCentroids with one to six rows a class (the one-pass path up to three), negative zeros, into a used array: the row-by-row bits', () => {
  const rng = new Rng(11);
  const K = 7,
    d = 5;
  // Class k has k rows (class 0 none), interleaved.
  const y = Int32Array.from(Array.from({ length: K }, (_, k) => Array<number>(k).fill(k)).flat());
  for (let i = y.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [y[i], y[j]] = [y[j]!, y[i]!];
  }
  const N = y.length;
  const x = Float32Array.from(randn(rng, N * d, 1e3));
  // Every row of class 1 is -0 in its first column: its centroid is 0 + -0 = 0 there, as row by row.
  for (let n = 0; n < N; n++) if (y[n] === 1) x[n * d] = -0;
  const out = new Float64Array(K * d).fill(NaN);
  const { Z } = classCentroids(x, N, d, y, K, out);
  assert.equal(Z, out);
  assert.deepEqual(Array.from(Z), Array.from(rowByRow(x, N, d, y, K)));
  assert.ok(Object.is(Z[1 * d], 0));
});

test('classCentroids names a label out of range', () => {
  assert.throws(() => classCentroids(new Float32Array(4), 2, 2, [0, 3], 3), /labels\[1\] = 3/);
  assert.throws(() => classCentroids(new Float32Array(4), 2, 2, [0, 0.5], 3), /labels\[1\]/);
});
