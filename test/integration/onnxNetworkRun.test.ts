// Whole-network SelMix on a PyTorch CNN exported to ONNX (test/fixtures/onnx/cnn_bn_gap.onnx: Conv-BN-ReLU-MaxPool
// blocks, global average pooling, a Gemm head) through the real pipeline (runRequest, as `selmix finetune --config`
// calls it) with an image folder: the backbone's convolutions move, BatchNorm does not, the graph is otherwise the
// same, and model.onnx matches the run's own forward pass. Also: a model with an op that has no gradient is refused
// before any image is read, and a run with lr 0 returns the input model. Needs onnxruntime-node, not torch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeMnistFolders } from '../helpers/mnistFolders';
import { decodeOnnx, encodeOnnx, tensorFloats } from '../../src/formats/onnx/proto';
import { runRequest } from '../../src/run/run';
import type { RunEvent } from '../../src/protocol/messages';

const FIXTURES = join(import.meta.dirname, '../fixtures/onnx');

function imageFolders(dir: string): void {
  writeMnistFolders(dir, { rho: 20, nMax: 40, valPerClass: 6, seed: 5 });
}

function config(training: object, extra: object = {}): string {
  return JSON.stringify(
    {
      name: 'onnx whole network',
      objective: 'meanRecall',
      data: { kind: 'images', train: 'images/train', val: 'images/val', grayscale: true },
      model: { kind: 'onnx', path: 'model.onnx', preprocess: { mean: [0.1307], std: [0.3081], layout: 'NCHW' } },
      training: { steps: 16, refreshEvery: 4, batchSize: 8, lr: 0.01, ...training },
      output: 'out',
      ...extra,
    },
    null,
    2,
  );
}

function initializers(file: string): Map<string, Float32Array> {
  const g = decodeOnnx(readFileSync(file)).graph!;
  return new Map((g.initializer ?? []).filter((t) => t.dataType === 1).map((t) => [t.name ?? '', tensorFloats(t)!]));
}

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

let shared: string | null = null;
function workspace(): string {
  const dir = mkdtempSync(join(tmpdir(), 'selmix-onnx-net-'));
  if (!shared) {
    shared = mkdtempSync(join(tmpdir(), 'selmix-onnx-net-images-'));
    imageFolders(join(shared, 'images'));
  }
  for (const split of ['train', 'val']) {
    // A copy per run: the run records its inputs' digest; the same images every time.
    copyTree(join(shared, 'images', split), join(dir, 'images', split));
  }
  copyFileSync(join(FIXTURES, 'cnn_bn_gap.onnx'), join(dir, 'model.onnx'));
  return dir;
}

function copyTree(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  for (const e of readdirSync(from, { withFileTypes: true })) {
    if (e.isDirectory()) copyTree(join(from, e.name), join(to, e.name));
    else copyFileSync(join(from, e.name), join(to, e.name));
  }
}

test(
  'whole-network fine-tuning of an ONNX CNN: the backbone moves, BatchNorm stays, model.onnx matches the run',
  { timeout: 300_000 },
  async () => {
    const dir = workspace();
    const configPath = join(dir, 'selmix.json');
    writeFileSync(configPath, config({ warmStart: 'none' }));
    const events: RunEvent[] = [];
    const r = await runRequest(
      { configText: readFileSync(configPath, 'utf8'), configPath },
      { emit: (e) => events.push(e), shouldStop: () => false, backend: 'onnxruntime' },
    );
    assert.ok(r.ok, r.ok ? '' : r.message);
    const logs = events.filter((e) => e.type === 'run/log').map((e) => (e.type === 'run/log' ? e.payload.message : ''));
    assert.ok(
      logs.some((l) =>
        /one whole-network step \(batch 8 \+ 8 partners\) takes \d+ ms: about .* for the 16 steps/.test(l),
      ),
      logs.join('\n'),
    );
    const report = JSON.parse(readFileSync(join(dir, 'out', 'report.json'), 'utf8')) as {
      onnx: { ok: boolean; maxAbsDiff: number; examples: number };
      notes: string[];
      trained: { scope: string; parameters: string[] };
    };
    assert.equal(report.onnx.ok, true);
    assert.ok(report.onnx.maxAbsDiff <= 1e-4);
    assert.equal(report.trained.scope, 'network', 'report.json: the whole network');
    assert.deepEqual(
      [...report.trained.parameters].sort(),
      ['features.0.bias', 'features.0.weight', 'features.4.bias', 'features.4.weight', 'features.8.bias']
        .concat(['features.8.weight', 'fc.bias', 'fc.weight'])
        .sort(),
      'report.json lists every trained initializer (the convolutions and the head; not BatchNorm)',
    );
    assert.ok(
      report.notes.some((n) => /^whole network: \d+ parameter tensors/.test(n)),
      report.notes.join('\n'),
    );
    assert.ok(report.notes.some((n) => /augmentation: random crop/.test(n)));
    const before = initializers(join(dir, 'model.onnx'));
    const after = initializers(join(dir, 'out', 'model.onnx'));
    const bestStep = r.ok ? r.summary.bestStep : 0;
    const inG = decodeOnnx(readFileSync(join(dir, 'model.onnx'))).graph!;
    const outG = decodeOnnx(readFileSync(join(dir, 'out', 'model.onnx'))).graph!;
    assert.deepEqual(
      outG.node!.map((n) => n.opType),
      inG.node!.map((n) => n.opType),
      'the same graph',
    );
    const convs = inG.node!.filter((n) => n.opType === 'Conv').map((n) => n.input![1]!);
    const bns = inG.node!.filter((n) => n.opType === 'BatchNormalization').flatMap((n) => n.input!.slice(1));
    assert.ok(convs.length >= 3 && bns.length >= 4);
    for (const b of bns) assert.equal(maxDiff(after.get(b)!, before.get(b)!), 0, `BatchNorm's ${b} is frozen`);
    if (bestStep > 0)
      for (const c of convs)
        assert.ok(maxDiff(after.get(c)!, before.get(c)!) > 1e-6, `conv weight ${c} moved (kept step ${bestStep})`);
    else assert.fail('the kept iterate is the start: nothing to compare (raise the steps)');
  },
);

test('a run with lr 0 returns the input model (every initializer unchanged)', { timeout: 300_000 }, async () => {
  const dir = workspace();
  const configPath = join(dir, 'selmix.json');
  writeFileSync(configPath, config({ lr: 0, warmStart: 'none', steps: 4, refreshEvery: 2 }));
  const r = await runRequest(
    { configText: readFileSync(configPath, 'utf8'), configPath },
    { emit: () => undefined, shouldStop: () => false, backend: 'onnxruntime' },
  );
  assert.ok(r.ok, r.ok ? '' : r.message);
  const before = initializers(join(dir, 'model.onnx'));
  const after = initializers(join(dir, 'out', 'model.onnx'));
  assert.deepEqual([...after.keys()].sort(), [...before.keys()].sort());
  for (const [k, v] of before) assert.equal(maxDiff(after.get(k)!, v), 0, `${k} changed`);
});

test(
  'an op without a gradient on the backbone is refused before any image is read, naming the node',
  { timeout: 60_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'selmix-onnx-net-bad-'));
    const proto = decodeOnnx(readFileSync(join(FIXTURES, 'cnn_bn_gap.onnx')));
    const relu = proto.graph!.node!.find((n) => n.opType === 'Relu')!;
    relu.opType = 'Softplus';
    relu.name = 'the_softplus';
    writeFileSync(join(dir, 'model.onnx'), encodeOnnx(proto));
    // Images that cannot be decoded: reading them would fail with a different error.
    for (const split of ['train', 'val'])
      for (const c of ['0', '1']) {
        mkdirSync(join(dir, 'images', split, c), { recursive: true });
        writeFileSync(join(dir, 'images', split, c, 'broken.png'), 'not a png');
      }
    const configPath = join(dir, 'selmix.json');
    writeFileSync(configPath, config({}));
    const r = await runRequest(
      { configText: readFileSync(configPath, 'utf8'), configPath },
      { emit: () => undefined, shouldStop: () => false, backend: 'onnxruntime' },
    );
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.equal(r.kind, 'data');
    assert.match(r.message, /model\.onnx/);
    assert.match(r.message, /"the_softplus" \(Softplus\)/);
    assert.match(r.message, /"freezeBackbone": true/);
  },
);

test(
  'a stopped whole-network run answers within a step and --resume continues it exactly',
  { timeout: 300_000 },
  async () => {
    const full = workspace();
    const cut = workspace();
    const cfg = config({ momentum: 0.9, steps: 12, refreshEvery: 4, checkpointEvery: 1 });
    for (const d of [full, cut]) writeFileSync(join(d, 'selmix.json'), cfg);
    const a = await runRequest(
      { configText: cfg, configPath: join(full, 'selmix.json') },
      { emit: () => undefined, shouldStop: () => false, backend: 'onnxruntime' },
    );
    assert.ok(a.ok, a.ok ? '' : a.message);
    // The loop asks shouldStop once before each step (step events come by wall time, so they cannot time the stop):
    // the stop is asked for before step 6 at the latest, and answered before the next step.
    let asked = 0;
    const b = await runRequest(
      { configText: cfg, configPath: join(cut, 'selmix.json') },
      {
        emit: () => undefined,
        shouldStop: () => ++asked > 6,
        backend: 'onnxruntime',
      },
    );
    assert.ok(b.ok && b.summary.stoppedBy === 'cancel', b.ok ? b.summary.stoppedBy : b.message);
    const stoppedAt = b.ok ? b.summary.steps : -1;
    assert.ok(stoppedAt >= 1 && stoppedAt <= 6, `stopped at step ${stoppedAt}`);
    const c = await runRequest(
      { configText: cfg, configPath: join(cut, 'selmix.json'), resume: true },
      { emit: () => undefined, shouldStop: () => false, backend: 'onnxruntime' },
    );
    assert.ok(c.ok, c.ok ? '' : c.message);
    const notes = (JSON.parse(readFileSync(join(cut, 'out', 'report.json'), 'utf8')) as { notes: string[] }).notes;
    const from = notes.map((n) => /resumed from the checkpoint at step (\d+)/.exec(n)).find(Boolean);
    assert.ok(
      from && Number(from[1]) === stoppedAt,
      `the run resumed from step ${from?.[1]}, stopped at ${stoppedAt}: ${notes.join('; ')}`,
    );
    const x = initializers(join(full, 'out', 'model.onnx'));
    const y = initializers(join(cut, 'out', 'model.onnx'));
    for (const [k, v] of x) assert.equal(maxDiff(y.get(k)!, v), 0, `${k} differs after resume`);
    assert.equal(c.ok && c.summary.bestStep, a.ok && a.summary.bestStep);
  },
);
