import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compactRefresh, downsampleMatrix } from '../../../src/protocol/downsample';
import type { RefreshPayload } from '../../../src/protocol/messages';

test('downsampleMatrix keeps small matrices and block-reduces large ones', () => {
  const small = { K: 3, data: [1, 2, 3, 4, 5, 6, 7, 8, 9] };
  assert.equal(downsampleMatrix(small, 'maxAbs'), small);
  const K = 4;
  const m = { K, data: [1, -5, 0, 0, 2, 3, 0, 1, 0, 0, 0, 0, 0, 0, 0, -2] };
  assert.deepEqual(downsampleMatrix(m, 'maxAbs', 2), { K: 2, data: [-5, 1, 0, -2], block: 2 });
  assert.deepEqual(downsampleMatrix(m, 'sum', 2), { K: 2, data: [1, 1, 0, -2], block: 2 });
  // K = 1000 -> 100 x 100, tiles of 10; the sum of a distribution is kept.
  const big = { K: 1000, data: new Array<number>(1e6).fill(1e-6) };
  const d = downsampleMatrix(big, 'sum');
  assert.equal(d.K, 100);
  assert.equal(d.block, 10);
  assert.ok(Math.abs(Array.from(d.data).reduce((a, b) => a + b, 0) - 1) < 1e-9);
});

test('compactRefresh shrinks G by the largest magnitude and P by mass, and leaves K <= 100 as it is', () => {
  const K = 250;
  const G = new Float64Array(K * K).fill(0.5);
  G[3 * K + 7] = -9;
  const P = new Float64Array(K * K).fill(1 / (K * K));
  const p = { step: 10, gain: { K, data: G }, distribution: { K, data: P } } as unknown as RefreshPayload;
  const c = compactRefresh(p);
  assert.equal(c.gain.K, 84, 'ceil(250 / 3) cells a side, tiles of 3');
  assert.equal(c.gain.block, 3);
  assert.equal(c.gain.data[1 * 84 + 2], -9, 'the tile holding (3, 7) keeps its largest magnitude, with its sign');
  assert.equal(c.gain.data[0], 0.5);
  assert.ok(Math.abs(Array.from(c.distribution.data).reduce((a, v) => a + v, 0) - 1) < 1e-9, 'P keeps its mass');
  assert.equal(c.step, 10, 'the rest of the refresh is kept');
  const small = { step: 1, gain: { K: 3, data: [1, 2, 3, 4, 5, 6, 7, 8, 9] }, distribution: { K: 3, data: [] } };
  assert.equal(compactRefresh(small as unknown as RefreshPayload).gain, small.gain);
});

/** One entry at a time in row-major order: a tile's sum in that order, its first entry of largest magnitude. */
function reference(K: number, data: ArrayLike<number>, reduce: 'sum' | 'maxAbs', maxSide = 100): number[] {
  const block = Math.ceil(K / maxSide);
  const n = Math.ceil(K / block);
  const out = new Array<number>(n * n).fill(0);
  for (let i = 0; i < K; i++)
    for (let j = 0; j < K; j++) {
      const c = Math.floor(i / block) * n + Math.floor(j / block);
      const v = data[i * K + j]!;
      if (reduce === 'sum') out[c]! += v;
      else if (Math.abs(v) > Math.abs(out[c]!)) out[c] = v;
    }
  return out;
}

test('downsampleMatrix tile by tile: every cell as one entry at a time in row-major order gives it (a partial last tile, ties, -0)', () => {
  let seed = 5;
  const next = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (const K of [333, 1000]) {
    const data = Float64Array.from({ length: K * K }, (_, t) => (t % 13 === 0 ? -0 : next() - 0.5));
    // Equal magnitudes of opposite signs in one tile: the first in row-major order is kept.
    for (let i = 0; i < K; i += 7) data[i * K + 1] = -data[i * K]!;
    for (const reduce of ['sum', 'maxAbs'] as const) {
      const got = downsampleMatrix({ K, data }, reduce);
      const want = reference(K, data, reduce);
      assert.equal(got.data.length, want.length);
      want.forEach((v, c) =>
        assert.ok(Object.is(got.data[c], v), `K = ${K} ${reduce} cell ${c}: ${got.data[c]} vs ${v}`),
      );
    }
  }
});
