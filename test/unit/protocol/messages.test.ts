import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jsonSafe, type FlatMatrix } from '../../../src/protocol/messages';

test('jsonSafe writes a FlatMatrix held as a Float64Array as the plain array JSON readers expect', () => {
  const typed: FlatMatrix = { K: 2, data: Float64Array.from([0.5, -1, 2.25, 0]) };
  const plain: FlatMatrix = { K: 2, data: [0.5, -1, 2.25, 0] };
  const text = JSON.stringify({ type: 'run/refresh', payload: { gain: typed, multipliers: Float32Array.from([1, 2]), ids: Int32Array.from([3]) } }, jsonSafe);
  assert.deepEqual(JSON.parse(text), { type: 'run/refresh', payload: { gain: plain, multipliers: [1, 2], ids: [3] } });
  assert.equal(JSON.stringify(plain, jsonSafe), JSON.stringify(plain));
});
