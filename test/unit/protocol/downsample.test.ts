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
