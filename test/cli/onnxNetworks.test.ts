// `selmix finetune --config` (the built CLI, spawned as a user runs it) fine-tunes the whole network of the three
// PyTorch exports in test/fixtures/onnx/nets (a ResNet with BatchNorm, a depthwise CNN with ReLU6/HardSwish and
// squeeze-excite, a small ViT with LayerNorm, GELU and attention) at opsets 11 to 17, with a fixed and a dynamic batch
// and with BatchNorm folded into Conv, on RGB image folders written here: model.freezeBackbone is left at its default
// (false), the run prints its measured step time, model.onnx carries every trained initializer changed, BatchNorm's
// statistics and the graph's nodes unchanged, and report.json says the whole network was trained.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { decodeOnnx, tensorFloats } from '../../src/formats/onnx/proto';
import { Rng } from '../../src/core/numerics/rng';

const root = join(__dirname, '..', '..');
const NETS = join(root, 'test', 'fixtures', 'onnx', 'nets');
const K = 10;

/**
 * 16 x 16 RGB class folders, seeded: class k is a colour and a diagonal stripe pattern of its own with pixel noise
 * (learnable in a few steps); train long-tailed (26 ... 3 a class), val 4 a class.
 */
function writeImages(dir: string): void {
  const rng = new Rng(7);
  const plan = [
    ['train', Array.from({ length: K }, (_, k) => Math.round(24 * 0.7 ** k) + 2)],
    ['val', Array<number>(K).fill(4)],
  ] as const;
  for (const [split, counts] of plan)
    for (let k = 0; k < K; k++)
      for (let i = 0; i < counts[k]!; i++) {
        const png = new PNG({ width: 16, height: 16 });
        const col = [(k * 73) % 256, (k * 151 + 60) % 256, (k * 37 + 120) % 256];
        for (let p = 0; p < 256; p++) {
          const on = (((p % 16) >> 2) + ((p >> 4) >> 2) + k) % 3 === 0;
          for (let c = 0; c < 3; c++) {
            const v = (on ? col[c]! : 255 - col[c]!) + 60 * (rng.next() - 0.5);
            png.data[p * 4 + c] = Math.max(0, Math.min(255, Math.round(v)));
          }
          png.data[p * 4 + 3] = 255;
        }
        const sub = join(dir, 'images', split, String(k));
        mkdirSync(sub, { recursive: true });
        writeFileSync(join(sub, `${i}.png`), PNG.sync.write(png));
      }
}

const images = mkdtempSync(join(tmpdir(), 'selmix-onnx-nets-'));
writeImages(images);

function initializers(file: string): Map<string, Float32Array> {
  const g = decodeOnnx(readFileSync(file)).graph!;
  const m = new Map<string, Float32Array>();
  for (const t of g.initializer ?? []) {
    const v = tensorFloats(t);
    if (v) m.set(t.name ?? '', v);
  }
  return m;
}

const opTypes = (file: string): string[] => (decodeOnnx(readFileSync(file)).graph!.node ?? []).map((n) => n.opType!);

const CASES = [
  ['resnet_op11_fixed', 'ResNet, opset 11, fixed batch 4'],
  ['resnet_op13_dyn', 'ResNet, opset 13, dynamic batch'],
  ['resnet_folded', 'ResNet, BatchNorm folded into Conv (opset 14, dynamic batch)'],
  ['depthwise_op11_fixed', 'depthwise CNN, opset 11, fixed batch 4'],
  ['depthwise_op17_dyn', 'depthwise CNN, opset 17, dynamic batch'],
  ['vit_op11_fixed', 'ViT, opset 11 (LayerNorm decomposed), fixed batch 4'],
  ['vit_op17_dyn', 'ViT, opset 17 (LayerNormalization), dynamic batch'],
] as const;

for (const [net, what] of CASES) {
  test(`selmix finetune --config fine-tunes the whole ${what}; model.onnx carries the trained backbone`, () => {
    const dir = mkdtempSync(join(images, `${net}-`));
    const input = join(dir, 'model.onnx');
    copyFileSync(join(NETS, `${net}.onnx`), input);
    const config = {
      name: net,
      objective: 'meanRecall',
      data: { kind: 'images', train: '../images/train', val: '../images/val' },
      model: {
        kind: 'onnx',
        path: 'model.onnx',
        preprocess: { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], layout: 'NCHW' },
      },
      training: { steps: 24, refreshEvery: 4, batchSize: 8, lr: 0.1, warmStart: 'none', seed: 1 },
      output: 'out',
    };
    writeFileSync(join(dir, 'selmix.json'), JSON.stringify(config, null, 2));
    const r = spawnSync(process.execPath, [join(root, 'bin', 'selmix.js'), 'finetune', '--config', 'selmix.json'], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 180_000,
    });
    assert.equal(r.status, 0, `exit ${r.status}\n${r.stdout}\n${r.stderr}`);
    // The notes and step lines go to stderr, the tables to stdout.
    const printed = r.stdout + r.stderr;
    assert.match(printed, /one whole-network step \(batch 8 \+ 8 partners\) takes \d+ ms: about .* for the 24 steps/);
    assert.match(printed, /whole network: \d+ parameter tensors/);

    const out = join(dir, 'out', 'model.onnx');
    const report = JSON.parse(readFileSync(join(dir, 'out', 'report.json'), 'utf8')) as {
      snapshot: { started: { trains: string } };
      summary: { bestStep: number };
      config: { model: { freezeBackbone: boolean } };
      trained: { scope: string; parameters: string[] };
      onnx: { ok: boolean; maxAbsDiff: number };
    };
    assert.equal(report.config.model.freezeBackbone, false, 'the default for ONNX models');
    assert.equal(report.snapshot.started.trains, 'network');
    assert.equal(report.trained.scope, 'network');
    assert.equal(report.onnx.ok, true, 'model.onnx matches the run forward pass');
    // The kept iterate is a later one than the start (the data are learnable): model.onnx holds trained values.
    assert.ok(report.summary.bestStep > 0, `kept step ${report.summary.bestStep}`);

    const before = initializers(input);
    const after = initializers(out);
    assert.deepEqual([...after.keys()].sort(), [...before.keys()].sort(), 'the same initializers, by name');
    const trained = new Set(report.trained.parameters);
    assert.ok(trained.size >= 6, `trained: ${[...trained].join(', ')}`);
    for (const [name, v] of before) {
      const w = after.get(name)!;
      const changed = v.length !== w.length || v.some((x, i) => x !== w[i]);
      if (trained.has(name)) assert.ok(changed, `trained initializer ${name} changed in model.onnx`);
      else assert.ok(!changed, `untrained initializer ${name} (BatchNorm statistics, constants) unchanged`);
    }
    assert.deepEqual(opTypes(out), opTypes(input), 'the graph has the same nodes');
  });
}
