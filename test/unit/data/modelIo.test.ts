import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend, tf } from '../../../src/backend/backend';
import { DataError } from '../../../src/core/errors';
import { loadLayersModelFromFile, saveLayersModelToDir } from '../../../src/data/modelIo';

before(async () => {
  const info = await initBackend({ choice: 'wasm' });
  assert.equal(info.tfName, 'wasm');
});

function smallCnn(): tf.Sequential {
  const m = tf.sequential();
  m.add(tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 4, kernelSize: 3, activation: 'relu' }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tf.layers.flatten());
  m.add(tf.layers.dense({ units: 3, activation: 'softmax' }));
  return m;
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'selmix-model-'));
  try {
    await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function rejectsData(p: Promise<unknown>, file: string, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof DataError, `expected DataError, got ${String(e)}`);
    assert.equal(e.file, file);
    assert.match(e.message, pattern);
    return true;
  });
}

test('save then load round-trips a conv/pool/flatten/dense model: same weights, same predictions', () =>
  withDir(async (dir) => {
    const model = smallCnn();
    const out = join(dir, 'sub', 'model');
    await saveLayersModelToDir(model, out);
    assert.deepEqual(readdirSync(out).sort(), ['model.json', 'weights.bin']);
    const json = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8'));
    assert.deepEqual(json.weightsManifest[0].paths, ['weights.bin']);
    assert.equal(readFileSync(join(out, 'weights.bin')).byteLength, (3 * 3 * 1 * 4 + 4 + 3 * 3 * 4 * 3 + 3) * 4);

    const loaded = await loadLayersModelFromFile(join(out, 'model.json'));
    assert.deepEqual(
      loaded.layers.map((l) => l.getClassName()),
      ['Conv2D', 'MaxPooling2D', 'Flatten', 'Dense'],
    );
    const a = model.getWeights();
    const b = loaded.getWeights();
    assert.equal(a.length, b.length);
    for (let i = 0; i < a.length; i++) assert.deepEqual(b[i]!.dataSync(), a[i]!.dataSync());
    const x = tf.randomUniform([5, 8, 8, 1], 0, 1, 'float32', 42);
    const pa = model.predict(x) as tf.Tensor;
    const pb = loaded.predict(x) as tf.Tensor;
    const va = pa.dataSync();
    const vb = pb.dataSync();
    assert.equal(va.length, 15);
    for (let i = 0; i < va.length; i++)
      assert.ok(Math.abs(va[i]! - vb[i]!) < 1e-6, `prediction ${i}: ${va[i]} vs ${vb[i]}`);
    tf.dispose([x, pa, pb]);
    model.dispose();
    loaded.dispose();
  }));

test('weights split over several shards load; a shard of the wrong size is a DataError naming it', () =>
  withDir(async (dir) => {
    const model = smallCnn();
    await saveLayersModelToDir(model, dir);
    const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
    const w = readFileSync(join(dir, 'weights.bin'));
    writeFileSync(join(dir, 'group1-shard1of2.bin'), w.subarray(0, 100));
    writeFileSync(join(dir, 'group1-shard2of2.bin'), w.subarray(100));
    json.weightsManifest[0].paths = ['group1-shard1of2.bin', 'group1-shard2of2.bin'];
    writeFileSync(join(dir, 'sharded.json'), JSON.stringify(json));
    const loaded = await loadLayersModelFromFile(join(dir, 'sharded.json'));
    assert.deepEqual(loaded.getWeights()[3]!.dataSync(), model.getWeights()[3]!.dataSync());
    loaded.dispose();

    writeFileSync(join(dir, 'weights.bin'), w.subarray(0, w.byteLength - 4));
    await rejectsData(
      loadLayersModelFromFile(join(dir, 'model.json')),
      join(dir, 'weights.bin'),
      new RegExp(
        `weight data is ${w.byteLength - 4} bytes, but weightsManifest\\[0\\] in .*model\\.json describes ${w.byteLength} bytes`,
      ),
    );
    model.dispose();
  }));

test('missing files, bad JSON, a non-model JSON, escaping shard paths and bad topology are DataErrors', () =>
  withDir(async (dir) => {
    const missing = join(dir, 'none.json');
    await rejectsData(loadLayersModelFromFile(missing), missing, /model file not found/);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"modelTopology": ');
    await rejectsData(loadLayersModelFromFile(bad), bad, /not valid JSON/);
    writeFileSync(bad, '{"hello": 1}');
    await rejectsData(loadLayersModelFromFile(bad), bad, /'modelTopology' is missing/);
    writeFileSync(
      bad,
      JSON.stringify({ modelTopology: {}, weightsManifest: [{ paths: ['../../etc/passwd'], weights: [] }] }),
    );
    await rejectsData(
      loadLayersModelFromFile(bad),
      bad,
      /weightsManifest\[0\]\.paths\[0\]' \("\.\.\/\.\.\/etc\/passwd"\) points outside/,
    );
    writeFileSync(
      bad,
      JSON.stringify({
        modelTopology: {},
        weightsManifest: [{ paths: ['w.bin'], weights: [{ name: 'k', shape: [2], dtype: 'float32' }] }],
      }),
    );
    await rejectsData(
      loadLayersModelFromFile(bad),
      join(dir, 'w.bin'),
      /cannot read weight shard listed in .*bad\.json \(weightsManifest\[0\]\.paths\[0\]\)/,
    );
    writeFileSync(join(dir, 'w.bin'), new Uint8Array(8));
    writeFileSync(
      bad,
      JSON.stringify({
        modelTopology: { class_name: 'Nonsense', config: {} },
        weightsManifest: [{ paths: ['w.bin'], weights: [{ name: 'k', shape: [2], dtype: 'float32' }] }],
      }),
    );
    await rejectsData(loadLayersModelFromFile(bad), bad, /cannot build the model/);
  }));
