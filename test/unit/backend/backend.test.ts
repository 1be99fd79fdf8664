import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hugePageMalloc, initBackend, mallocSettings } from '../../../src/backend/backend';

test('auto probes ONNX Runtime, then uses the first tfjs probe that passes, in the documented order, and reports every probe it tried', async () => {
  const info = await initBackend({ choice: 'auto' });
  // ONNX Runtime computes beside a tfjs backend (which keeps autodiff): probed first, whatever it finds.
  const [ort, ...rest] = info.probes;
  assert.equal(ort!.name, 'onnxruntime');
  assert.equal(info.onnxruntime, ort!.ok);
  const order = ['tfjs-node-gpu', 'webgpu', 'tfjs-node', 'wasm', 'cpu'];
  const tried = rest.map((p) => p.name);
  assert.deepEqual(tried, order.slice(0, tried.length), 'probes run in order');
  const last = rest.at(-1)!;
  assert.ok(last.ok, JSON.stringify(info.probes));
  assert.ok(
    rest.slice(0, -1).every((p) => !p.ok),
    'no probe before the chosen one passed',
  );
  assert.equal(info.name.split(' + ').at(-1)!.split(' ')[0], last.name);
  assert.equal(info.name.startsWith('onnxruntime ('), ort!.ok, 'the name says when ONNX Runtime is in use');
  // A probe that failed says why (an absent optional package says it is not installed).
  for (const p of rest.slice(0, -1)) assert.ok(p.detail.length > 0, JSON.stringify(p));
});

test('hugePageMalloc reads glibc.malloc.hugetlb from GLIBC_TUNABLES, as bin/selmix.js sets it for the CLI child', () => {
  assert.equal(hugePageMalloc({}), false);
  assert.equal(hugePageMalloc({ GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1' }), true);
  assert.equal(hugePageMalloc({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2:glibc.malloc.hugetlb=2' }), true);
  assert.equal(hugePageMalloc({ GLIBC_TUNABLES: 'glibc.malloc.hugetlb=0' }), false);
  assert.equal(hugePageMalloc({ GLIBC_TUNABLES: 'glibc.malloc.hugetlb=10' }), false);
});

test('mallocSettings says what GLIBC_TUNABLES told malloc about huge pages and the mmap threshold, or null', () => {
  assert.equal(mallocSettings({}), null);
  assert.equal(mallocSettings({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' }), null);
  assert.equal(
    mallocSettings({ GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=1048576' }),
    'glibc: large blocks in huge pages on request; blocks of 1 MiB or more mapped on their own and returned when freed',
  );
  assert.equal(
    mallocSettings({ GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=262144' }),
    'glibc: blocks of 256 KiB or more mapped on their own and returned when freed',
  );
  assert.equal(
    mallocSettings({ GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=1000' }),
    'glibc: blocks of 1000 bytes or more mapped on their own and returned when freed',
  );
});
