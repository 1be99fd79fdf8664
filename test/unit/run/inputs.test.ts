// loadInputs reads and checks without side effects: a missing demo model is "to pre-train" (nothing is made),
// a head is read in PyTorch layout with its bias, and class names are checked against the model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configSchema } from '../../../src/core/config';
import { ConfigError } from '../../../src/core/errors';
import { disposeModel } from '../../../src/core/training/model';
import { writeNpy } from '../../../src/data/npy';
import { checkLabels, loadInputs } from '../../../src/run/inputs';
import { initBackend } from '../../../src/backend/backend';

function npyDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'selmix-inputs-'));
  const n = 12,
    d = 3,
    K = 3;
  writeNpy(
    join(dir, 'x.npy'),
    Float32Array.from({ length: n * d }, (_, i) => (i % 7) / 7),
    [n, d],
  );
  writeNpy(
    join(dir, 'y.npy'),
    Int32Array.from({ length: n }, (_, i) => i % K),
    [n],
  );
  writeNpy(
    join(dir, 'W.npy'),
    Float32Array.from({ length: K * d }, (_, i) => i),
    [K, d],
  );
  writeNpy(join(dir, 'b.npy'), Float32Array.from([1, 2, 3]), [K]);
  return dir;
}

test('a demo model that is not cached yet is returned as "to pre-train" and nothing is created', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'selmix-inputs-demo-'));
  const cfg = configSchema.parse({
    data: { kind: 'builtin', rho: 10, nMax: 30, valPerClass: 3, testPerClass: 3 },
    model: { kind: 'pretrained-demo', path: 'cache/m/model.json' },
    output: 'out',
  });
  const r = await loadInputs(cfg, dir, join(dir, 'run.selmix.json'));
  assert.deepEqual(r.model, { kind: 'pretrain', cachePath: join(dir, 'cache', 'm', 'model.json') });
  assert.deepEqual(readdirSync(dir), []);
});

test('a linear head is read as d x K with its bias, and the same .npy named twice is one input', async () => {
  await initBackend({ choice: 'cpu' });
  const dir = npyDir();
  const cfg = configSchema.parse({
    data: { kind: 'npy', train: { features: 'x.npy', labels: 'y.npy' }, val: { features: 'x.npy', labels: 'y.npy' } },
    model: { kind: 'linear', weights: 'W.npy', bias: 'b.npy' },
  });
  const r = await loadInputs(cfg, dir, join(dir, 'run.selmix.json'));
  assert.ok(r.model?.kind === 'loaded');
  const m = r.model.model;
  try {
    assert.deepEqual([m.d, m.K], [3, 3]);
    // PyTorch layout W[k][r] = 3k + r becomes the loop's d x K: entry (r, k).
    assert.deepEqual(Array.from(m.W.dataSync()), [0, 3, 6, 1, 4, 7, 2, 5, 8]);
    assert.deepEqual(Array.from(m.b.dataSync()), [1, 2, 3]);
    assert.equal(r.data.train.x, r.data.val.x, 'read once');
    assert.ok(!existsSync(join(dir, 'selmix-out')));
  } finally {
    disposeModel(m);
  }
});

test("class names: duplicates are refused; a count that differs from the model's K is refused at data.classes naming both", async () => {
  await initBackend({ choice: 'cpu' });
  const dir = npyDir();
  const base = {
    data: { kind: 'npy', train: { features: 'x.npy', labels: 'y.npy' } },
    model: { kind: 'linear', weights: 'W.npy' },
  } as const;
  const dup = configSchema.parse({ ...base, data: { ...base.data, classes: ['a', 'b', 'a'] } });
  await assert.rejects(
    loadInputs(dup, dir, join(dir, 'c.selmix.json')),
    (e: unknown) => e instanceof ConfigError && e.issues[0]?.path === 'data.classes' && /"a" twice/.test(e.message),
  );
  const short = configSchema.parse({ ...base, data: { ...base.data, classes: ['a', 'b'] } });
  const r = await loadInputs(short, dir, join(dir, 'c.selmix.json'));
  assert.ok(r.model?.kind === 'loaded');
  try {
    assert.throws(
      () => checkLabels(r, 3, join(dir, 'c.selmix.json'), true),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.issues[0]?.path === 'data.classes' &&
        /2 classes .* K = 3 outputs/.test(e.message),
    );
  } finally {
    disposeModel(r.model.model);
  }
});
