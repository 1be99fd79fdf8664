import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend } from '../../src/backend/backend';

test('auto picks wasm here; optional GPU/native backends are absent and reported as such', async () => {
  const info = await initBackend({ choice: 'auto' });
  assert.equal(info.tfName, 'wasm');
  const gpu = info.probes.find((p) => p.name === 'tfjs-node-gpu');
  assert.ok(gpu && !gpu.ok && /not installed/.test(gpu.detail), JSON.stringify(info.probes));
  assert.ok(info.probes.some((p) => p.name === 'wasm' && p.ok));
});
