// Load: a long run (10,000 steps of a linear head on small data) keeps the tensor count flat and
// the heap bounded. Tensors and heap are sampled from the emit callback every 1,000 steps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { runConfig } from '../helpers/run';
import { initBackend, tf } from '../../src/backend/backend';
import { smallJob } from '../helpers/reliability';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

test('10,000 steps: flat tensor count, bounded heap, no tensor leaked by the run', { timeout: 120_000 }, async (t) => {
  await initBackend({ choice: 'cpu' });
  const j = smallJob({ steps: 10_000, refreshEvery: 100, batchSize: 16 });
  const samples: { step: number; tensors: number; heapMB: number }[] = [];
  const t0 = performance.now();
  const r = await runConfig(readFileSync(j.configPath, 'utf8'), j.configPath, {
    backend: 'cpu',
    shouldStop: () => false,
    emit: (e) => {
      // Step events come by wall time and at refreshes (not at fixed steps): the first of each thousand steps is
      // sampled.
      if (e.type !== 'run/step' || Math.ceil(e.payload.step / 1000) <= samples.length) return;
      gc();
      samples.push({
        step: Math.ceil(e.payload.step / 1000) * 1000,
        tensors: tf.memory().numTensors,
        heapMB: process.memoryUsage().heapUsed / 2 ** 20,
      });
    },
  });
  const seconds = (performance.now() - t0) / 1000;
  assert.ok(r.ok, r.ok ? '' : r.message);
  assert.equal(r.summary.steps, 10_000);
  assert.deepEqual(
    samples.map((s) => s.step),
    [1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10000],
  );
  const tensors = samples.map((s) => s.tensors);
  assert.ok(
    tensors.every((n) => n === tensors[0]),
    `tensor count must not grow: ${tensors.join(', ')}`,
  );
  // The heap after a GC may wobble by a few MB (JIT, checkpoint strings); a leak of even one small array a
  // step (10,000 x 640 B) would add 6 MB, a tensor's worth of data per step far more.
  const heap = samples.map((s) => s.heapMB);
  const growth = Math.max(...heap.slice(1)) - heap[0]!;
  assert.ok(
    growth < 8,
    `heap grew ${growth.toFixed(1)} MB over 9,000 steps: ${heap.map((h) => h.toFixed(1)).join(', ')}`,
  );
  const report = JSON.parse(readFileSync(join(j.dir, 'out', 'report.json'), 'utf8')) as { tensorsLeaked: number };
  assert.equal(report.tensorsLeaked, 0);
  t.diagnostic(
    `10,000 steps in ${seconds.toFixed(1)} s; tensors ${tensors[0]}; heap ${heap.map((h) => h.toFixed(1)).join(' ')} MB`,
  );
});
