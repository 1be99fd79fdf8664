import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend } from '../../../src/backend/backend';

test('auto uses the first probe that passes, in the documented order, and reports every probe it tried', async () => {
  const info = await initBackend({ choice: 'auto' });
  const order = ['tfjs-node-gpu', 'webgpu', 'tfjs-node', 'wasm', 'cpu'];
  const tried = info.probes.map((p) => p.name);
  assert.deepEqual(tried, order.slice(0, tried.length), 'probes run in order');
  const last = info.probes.at(-1)!;
  assert.ok(last.ok, JSON.stringify(info.probes));
  assert.ok(info.probes.slice(0, -1).every((p) => !p.ok), 'no probe before the chosen one passed');
  assert.equal(info.name.split(' ')[0], last.name);
  // A probe that failed says why (an absent optional package says it is not installed).
  for (const p of info.probes.slice(0, -1)) assert.ok(p.detail.length > 0, JSON.stringify(p));
});
