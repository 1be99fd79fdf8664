// The PyTorch round trip: a CNN trained in PyTorch and exported with torch.onnx.export (test/fixtures/onnx, made by
// export_fixtures.py) goes through the real pipeline (runRequest, as `selmix finetune --config` and the extension's
// worker call it) with an image folder, and the written model.onnx gives logits equal to features x new W + b.
// Needs onnxruntime-node (a dependency), not torch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OrtSession } from '../../src/backend/onnxRuntime';
import { writeMnistFolders } from '../helpers/mnistFolders';
import { readNpy } from '../../src/data/npy';
import { readOnnxModel } from '../../src/data/onnxModel';
import { evaluateRequest } from '../../src/run/evaluate';
import { runRequest } from '../../src/run/run';
import type { RunEvent } from '../../src/protocol/messages';

const FIXTURES = join(import.meta.dirname, '../fixtures/onnx');

function imageFolders(dir: string): void {
  writeMnistFolders(dir, { rho: 50, nMax: 120, valPerClass: 12, seed: 3 });
}

function config(extra: object = {}): string {
  return JSON.stringify(
    {
      name: 'onnx round trip',
      objective: 'minRecall',
      data: { kind: 'images', train: 'images/train', val: 'images/val', grayscale: true },
      model: {
        kind: 'onnx',
        path: 'model.onnx',
        freezeBackbone: true,
        preprocess: { mean: [0.1307], std: [0.3081], layout: 'NCHW' },
      },
      training: { steps: 60, refreshEvery: 20, batchSize: 32, lr: 0.05, augment: true },
      output: 'out',
      ...extra,
    },
    null,
    2,
  );
}

test(
  'PyTorch CNN (ONNX) + image folder -> selmix finetune -> model.onnx whose logits are features x W + b',
  { timeout: 300_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'selmix-onnx-'));
    copyFileSync(join(FIXTURES, 'cnn_bn_gap.onnx'), join(dir, 'model.onnx'));
    imageFolders(join(dir, 'images'));
    const events: RunEvent[] = [];
    const configPath = join(dir, 'run.selmix.json');
    const r = await runRequest(
      { configText: config(), configPath },
      { emit: (e) => events.push(e), shouldStop: () => false, backend: 'onnxruntime' },
    );
    assert.ok(r.ok, r.ok ? '' : r.message);
    const started = events.find((e) => e.type === 'run/started');
    assert.ok(
      started && started.type === 'run/started' && started.payload.backend.startsWith('onnxruntime'),
      'the run names ONNX Runtime as its provider',
    );
    assert.ok(
      events.some(
        (e) =>
          e.type === 'run/log' &&
          /extracting train features: \d+\/\d+ examples on ONNX Runtime/.test(e.payload.message),
      ),
      'feature extraction reports progress',
    );

    const out = join(dir, 'out');
    for (const f of ['model.onnx', 'W.npy', 'b.npy', 'report.json']) assert.ok(existsSync(join(out, f)), f);
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as {
      onnx: { ok: boolean; maxAbsDiff: number; examples: number };
      notes: string[];
      trained: { scope: string; parameters: string[] };
    };
    assert.equal(report.onnx.ok, true);
    assert.ok(report.onnx.maxAbsDiff <= 1e-4 && report.onnx.examples === 120);
    const head = readOnnxModel(join(dir, 'model.onnx')).head;
    assert.deepEqual(
      report.trained,
      { scope: 'head', parameters: [head.weightName, ...(head.biasName ? [head.biasName] : [])] },
      'report.json: the head only, by initializer name',
    );
    assert.ok(report.notes.some((n) => n.startsWith('model.onnx checked on ONNX Runtime')));
    assert.ok(
      report.notes.some((n) => n.startsWith('head only: the backbone is frozen')),
      'the run says it trains the head only',
    );
    assert.ok(
      report.notes.some((n) => n.startsWith('training.augment does not apply')),
      'a head-only run says augmentation does not apply',
    );

    // Independently of the run: the written model's logits equal the original backbone's features x the new W + b.
    const before = readOnnxModel(join(dir, 'model.onnx'));
    const after = readOnnxModel(join(out, 'model.onnx'));
    assert.equal(after.head.node, before.head.node);
    const f32 = (path: string) => {
      const a = readNpy(path);
      assert.ok(a.data instanceof Float32Array, path);
      return { data: a.data, shape: a.shape };
    };
    const Wn = f32(join(out, 'W.npy'));
    const bn = f32(join(out, 'b.npy'));
    const d = before.head.d;
    assert.deepEqual(Wn.shape, [10, d]);
    const x = f32(join(FIXTURES, 'cnn_bn_gap_sample_x.npy'));
    const feats = f32(join(FIXTURES, 'cnn_bn_gap_sample_features.npy'));
    const s = new OrtSession(readFileSync(join(out, 'model.onnx')));
    const logits = s.run({ image: { data: x.data, dims: x.shape } }).logits!.data;
    s.dispose();
    let worst = 0;
    for (let i = 0; i < 16; i++)
      for (let k = 0; k < 10; k++) {
        let v = bn.data[k]!;
        for (let r2 = 0; r2 < d; r2++) v += feats.data[i * d + r2]! * Wn.data[k * d + r2]!;
        worst = Math.max(worst, Math.abs(v - logits[i * 10 + k]!));
      }
    assert.ok(worst < 1e-4, `max |logit - (PyTorch features x W + b)| = ${worst}`);
    // The written head is the run's, not the input's: the kept iterate may be the logit-adjusted warm start (step 0,
    // only b
    // moved) or a later step (W moved too).
    const moved = (a: Float32Array, b: Float32Array): number =>
      Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i]!)));
    const bestStep = (JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as { summary: { bestStep: number } })
      .summary.bestStep;
    assert.ok(
      moved(after.head.b, before.head.b) > 1e-4 || moved(after.head.W, before.head.W) > 1e-4,
      'the head changed',
    );
    assert.equal(typeof bestStep, 'number');
    if (bestStep > 0) assert.ok(moved(after.head.W, before.head.W) > 1e-4, `W changed (kept step ${bestStep})`);

    // `selmix eval --config` on the fine-tuned model: the whole graph on ONNX Runtime.
    const evalCfg = config({
      model: { kind: 'onnx', path: 'out/model.onnx', preprocess: { mean: [0.1307], std: [0.3081] } },
      output: 'out2',
    });
    const m = await evaluateRequest({ configText: evalCfg, configPath }, 'val', { backend: 'onnxruntime' });
    const fin = events.find((e) => e.type === 'run/finished');
    assert.ok(m && fin && fin.type === 'run/finished');
    assert.ok(
      Math.abs(m.minRecall - fin.payload.after.val.minRecall) < 1e-9 &&
        Math.abs(m.accuracy - fin.payload.after.val.accuracy) < 1e-9,
      "eval of model.onnx reproduces the run's final validation metrics",
    );

    // A second run reads the features from the cache.
    const events2: RunEvent[] = [];
    const r2 = await runRequest(
      { configText: config({ output: 'out3' }), configPath },
      { emit: (e) => events2.push(e), shouldStop: () => false, backend: 'onnxruntime' },
    );
    assert.ok(r2.ok);
    assert.ok(events2.some((e) => e.type === 'run/log' && /train features from the cache/.test(e.payload.message)));
  },
);
