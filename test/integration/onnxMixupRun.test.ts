// Input-level mixing and the Mean Teacher on a whole ONNX network, through the real pipeline (runRequest, as
// `selmix finetune --config` calls it) on the PyTorch CNN fixture (test/fixtures/onnx/cnn_bn_gap.onnx) and a small
// image folder: training.mixup "cutmix" and "puzzle" train the backbone and say how they mix, a seeded run repeats
// itself, and selmix.teacher "ema" labels the unlabeled set and the report says so. Needs onnxruntime-node, not torch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeMnistFolders } from '../helpers/mnistFolders';
import { decodeOnnx, tensorFloats } from '../../src/formats/onnx/proto';
import { runRequest } from '../../src/run/run';
import { writeReportHtml } from '../../src/report/reportPage';
import type { PseudoLabelSummary, RunEvent } from '../../src/protocol/messages';
import type { TrainState } from '../../src/core/training/train';
import { readCheckpoint } from '../../src/data/checkpoint';

const FIXTURES = join(import.meta.dirname, '../fixtures/onnx');

let shared: string | null = null;
function workspace(): string {
  if (!shared) {
    shared = mkdtempSync(join(tmpdir(), 'selmix-onnx-mix-images-'));
    writeMnistFolders(join(shared, 'images'), { rho: 20, nMax: 40, valPerClass: 6, seed: 5 });
  }
  const dir = mkdtempSync(join(tmpdir(), 'selmix-onnx-mix-'));
  cpSync(join(shared, 'images', 'train'), join(dir, 'images', 'train'), { recursive: true });
  cpSync(join(shared, 'images', 'val'), join(dir, 'images', 'val'), { recursive: true });
  // The unlabeled set: the training images again, in class folders (their labels unused with pseudo-labels).
  cpSync(join(shared, 'images', 'train'), join(dir, 'images', 'unlabeled'), { recursive: true });
  copyFileSync(join(FIXTURES, 'cnn_bn_gap.onnx'), join(dir, 'model.onnx'));
  return dir;
}

async function run(
  training: object,
  selmix: object = {},
  unlabeled = false,
): Promise<{
  dir: string;
  logs: string[];
  bestStep: number;
  report: { notes: string[]; summary: { pseudoLabels?: PseudoLabelSummary } };
}> {
  const dir = workspace();
  const configPath = join(dir, 'selmix.json');
  writeFileSync(
    configPath,
    JSON.stringify({
      name: 'onnx mixing',
      objective: 'meanRecall',
      data: {
        kind: 'images',
        train: 'images/train',
        val: 'images/val',
        ...(unlabeled ? { unlabeled: 'images/unlabeled' } : {}),
        grayscale: true,
      },
      model: { kind: 'onnx', path: 'model.onnx', preprocess: { mean: [0.1307], std: [0.3081], layout: 'NCHW' } },
      training: { steps: 8, refreshEvery: 4, batchSize: 8, lr: 0.01, warmStart: 'none', ...training },
      selmix,
      output: 'out',
    }),
  );
  const events: RunEvent[] = [];
  const r = await runRequest(
    { configText: readFileSync(configPath, 'utf8'), configPath },
    { emit: (e) => events.push(e), shouldStop: () => false, backend: 'onnxruntime' },
  );
  assert.ok(r.ok, r.ok ? '' : r.message);
  const logs = events.filter((e) => e.type === 'run/log').map((e) => (e.type === 'run/log' ? e.payload.message : ''));
  const report = JSON.parse(readFileSync(join(dir, 'out', 'report.json'), 'utf8')) as {
    notes: string[];
    summary: { pseudoLabels?: PseudoLabelSummary };
  };
  return { dir, logs, report, bestStep: r.ok ? r.summary.bestStep : -1 };
}

function initializers(file: string): Map<string, Float32Array> {
  const g = decodeOnnx(readFileSync(file)).graph!;
  return new Map((g.initializer ?? []).filter((t) => t.dataType === 1).map((t) => [t.name ?? '', tensorFloats(t)!]));
}

for (const mixup of ['cutmix', 'puzzle'] as const) {
  test(
    `training.mixup "${mixup}" on a whole ONNX network trains the backbone and repeats from its seed`,
    {
      timeout: 300_000,
    },
    async () => {
      const a = await run({ mixup, steps: 16 });
      const b = await run({ mixup, steps: 16 });
      const note = mixup === 'cutmix' ? /^mixup: CutMix of the images/ : /^mixup: saliency-guided \(PuzzleMix-style\)/;
      assert.ok(
        a.report.notes.some((n) => note.test(n)),
        a.report.notes.join('\n'),
      );
      const before = initializers(join(a.dir, 'model.onnx'));
      const wa = initializers(join(a.dir, 'out', 'model.onnx'));
      const wb = initializers(join(b.dir, 'out', 'model.onnx'));
      const convs = decodeOnnx(readFileSync(join(a.dir, 'model.onnx')))
        .graph!.node!.filter((n) => n.opType === 'Conv')
        .map((n) => n.input![1]!);
      assert.ok(a.bestStep > 0, 'the kept iterate is the start: nothing to compare (raise the steps)');
      assert.equal(a.bestStep, b.bestStep);
      for (const c of convs) {
        assert.notDeepEqual(wa.get(c), before.get(c), `${c} moved`);
        assert.deepEqual(wa.get(c), wb.get(c), `${c}: the same seed gives the same weights`);
      }
    },
  );
}

test(
  'selmix.teacher "ema": pseudo-labels from the moving average, and the report says how many passed',
  {
    timeout: 300_000,
  },
  async () => {
    const r = await run({ mixup: 'cutmix' }, { teacher: 'ema', teacherDecay: 0.9, pseudoLabelThreshold: 0.3 }, true);
    const pl = r.report.summary.pseudoLabels!;
    assert.equal(pl.source, 'ema');
    assert.equal(pl.decay, 0.9);
    assert.equal(pl.threshold, 0.3);
    assert.ok(pl.total > 0 && pl.passed >= 0 && pl.passed <= pl.total, JSON.stringify(pl));
    assert.ok(
      r.report.notes.some(
        (n) =>
          n.startsWith(`unlabeled partners: pseudo-labels from the Mean Teacher`) &&
          n.includes(`${pl.passed} of ${pl.total} unlabeled examples reached the confidence threshold 0.3`),
      ),
      r.report.notes.join('\n'),
    );
    // report.html (written by the CLI and the extension from report.json) shows the line among its notes.
    const { html } = writeReportHtml(join(r.dir, 'out', 'report.json'));
    assert.ok(html.includes('pseudo-labels from the Mean Teacher'), 'report.html says so in its notes');
    const own = await run({}, {}, true);
    assert.equal(own.report.summary.pseudoLabels!.source, 'self');
    assert.equal(own.report.summary.pseudoLabels!.passed, own.report.summary.pseudoLabels!.total, 'threshold 0');
  },
);

/** The Mean Teacher's weights in the checkpoint a run in dir left behind (its final refresh's). */
function teacherOf(dir: string): TrainState['teacher'] {
  const ckpt = join(dir, 'out', 'checkpoint');
  const meta = JSON.parse(readFileSync(join(ckpt, 'state.json'), 'utf8')) as {
    fingerprint: Parameters<typeof readCheckpoint>[1];
  };
  return readCheckpoint(ckpt, meta.fingerprint).state.teacher;
}

test(
  'selmix.teacher "ema" on a whole ONNX network: a stopped run resumed from its checkpoint ends with the same teacher and pseudo-labels',
  { timeout: 300_000 },
  async () => {
    const cfg = JSON.stringify({
      objective: 'meanRecall',
      data: {
        kind: 'images',
        train: 'images/train',
        val: 'images/val',
        unlabeled: 'images/unlabeled',
        grayscale: true,
      },
      model: { kind: 'onnx', path: 'model.onnx', preprocess: { mean: [0.1307], std: [0.3081], layout: 'NCHW' } },
      training: { steps: 12, refreshEvery: 4, checkpointEvery: 1, batchSize: 8, lr: 0.01, warmStart: 'none' },
      selmix: { teacher: 'ema', teacherDecay: 0.8, pseudoLabelThreshold: 0.3 },
      output: 'out',
    });
    const go = (dir: string, opts: { resume?: boolean; stopAfter?: number } = {}) => {
      let asked = 0;
      return runRequest(
        { configText: cfg, configPath: join(dir, 'selmix.json'), ...(opts.resume ? { resume: true } : {}) },
        {
          emit: () => undefined,
          shouldStop: () => opts.stopAfter !== undefined && ++asked > opts.stopAfter,
          backend: 'onnxruntime',
        },
      );
    };
    const full = workspace();
    const cut = workspace();
    for (const d of [full, cut]) writeFileSync(join(d, 'selmix.json'), cfg);
    const a = await go(full);
    assert.ok(a.ok, a.ok ? '' : a.message);
    const b = await go(cut, { stopAfter: 6 });
    assert.ok(b.ok && b.summary.stoppedBy === 'cancel', b.ok ? b.summary.stoppedBy : b.message);
    const atStop = teacherOf(cut);
    assert.ok(atStop && atStop.length > 2, 'the checkpoint of the stop carries the whole network teacher');
    const c = await go(cut, { resume: true });
    assert.ok(c.ok, c.ok ? '' : c.message);
    const whole = teacherOf(full)!;
    const resumed = teacherOf(cut)!;
    assert.equal(resumed.length, whole.length);
    whole.forEach((t, i) => assert.deepEqual(resumed[i], t, `teacher tensor ${i}`));
    assert.notDeepEqual(atStop, whole, 'the teacher moved after the stop');
    assert.deepEqual(c.ok && c.summary.pseudoLabels, a.summary.pseudoLabels);
    assert.equal(a.summary.pseudoLabels?.source, 'ema');
  },
);
