// Checkpoints on disk (src/data/checkpoint.ts): an exact round trip of every field, tampering and corruption refused
// with a DataError naming the file, a checkpoint of another shape or other inputs refused, config drift refused or
// reported, and a refused resume that writes nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configSchema, type SelmixConfig } from '../../../src/core/config';
import { DataError } from '../../../src/core/errors';
import { Rng } from '../../../src/core/numerics/rng';
import type { FinetuneData, TrainState } from '../../../src/core/training/train';
import {
  checkpointFingerprint,
  inputsDigest,
  readCheckpoint,
  writeCheckpoint,
  type CheckpointFingerprint,
} from '../../../src/data/checkpoint';
import { runRequest } from '../../../src/run/run';
import { clusterSet, writeLinearJob } from '../../helpers/synthetic';
import type { RunEvent } from '../../../src/protocol/messages';

const K = 3;
const d = 4;

/** A state with every kind of value: tensors, nullable arrays, pseudo-labels, and floats JSON cannot write. */
function sampleState(): TrainState {
  const f32 = (n: number, s: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i + s) / 3);
  const tensors = (s: number) => [
    { shape: [d, K], data: f32(d * K, s) },
    { shape: [K], data: f32(K, s + 1) },
  ];
  return {
    step: 37,
    afterRefresh: false,
    weights: tensors(0),
    momentum: tensors(10),
    headScale: 0.987654321,
    bestWeights: tensors(20),
    rng: [1, 2, 0xffffffff, 123456789],
    multipliers: Float64Array.from([0.1, 0.2, 1 / 3]),
    P: new Float64Array(K * K).fill(1 / 9),
    G: Float64Array.from({ length: K * K }, (_, i) => (i - 4) * 1e-3),
    partnerLabels: Int32Array.from([0, 2, -1, 1, 1]),
    maxGainHistory: Float64Array.from([1000, 0.5, Number.NaN]),
    best: { step: 25, score: -0, feasible: true },
    pendingEarlyStop: false,
    gainTrack: {
      predicted: Float64Array.from([0.1, -0.2]),
      realised: Float64Array.from([0.05, 0.01]),
      lastObjective: Number.NEGATIVE_INFINITY,
      predictedSum: 1.5,
      predictedCount: 32,
    },
    warmStart: { tau: 1.35 },
    bestPreds: Int32Array.from([2, 0, 1, 1]),
    teacher: tensors(30),
  };
}

const baseConfig = (training: object = {}): SelmixConfig =>
  configSchema.parse({
    objective: 'minRecall',
    data: { kind: 'npy', train: { features: 'x' } },
    model: { kind: 'linear', weights: 'W' },
    training: { steps: 60, ...training },
  });
const shapes = (k = K, dd = d) => ({ K: k, d: dd, weights: [[dd, k], [k]], unlabeled: 5 });
const fingerprint = (training: object = {}, k = K, dd = d, inputs = 'digest'): CheckpointFingerprint =>
  checkpointFingerprint(baseConfig(training), shapes(k, dd), inputs);

function written(): { dir: string; state: TrainState; fp: CheckpointFingerprint } {
  const dir = join(mkdtempSync(join(tmpdir(), 'selmix-ckpt-')), 'checkpoint');
  const state = sampleState();
  const fp = fingerprint();
  writeCheckpoint(dir, state, fp);
  return { dir, state, fp };
}

const arraysFile = (dir: string) => readdirSync(dir).find((f) => f.startsWith('arrays-'))!;

/** The parts of state.json the forgeries below edit. */
interface Forged {
  version: unknown;
  checksum: string;
  arrays: { file: string };
  fingerprint: unknown;
  state: {
    [field: string]: unknown;
    weights: ({ shape: number[]; data: unknown } | null)[];
    momentum: { shape: number[] }[];
    P: { offset: number };
    partnerLabels: { dtype: string; length: number };
    best: { step: number };
    teacher?: { shape: number[] }[] | null;
  };
}

/**
 * Edits state.json and signs it again as the writer would, so only the schema and the semantic checks stand in the way.
 */
function forge(dir: string, edit: (j: Forged) => void): void {
  const path = join(dir, 'state.json');
  const j = JSON.parse(readFileSync(path, 'utf8')) as Forged;
  edit(j);
  j.checksum = createHash('sha256')
    .update(JSON.stringify({ arrays: j.arrays, fingerprint: j.fingerprint, state: j.state }))
    .digest('hex');
  writeFileSync(path, JSON.stringify(j));
}

/** Asserts a DataError naming file whose message matches re. */
function refuses(fn: () => unknown, file: string, re: RegExp): void {
  assert.throws(fn, (e: Error) => {
    assert.ok(e instanceof DataError, `a DataError, got ${e.name}: ${e.message}`);
    assert.equal(e.file, file);
    assert.match(e.message, re);
    return true;
  });
}

test('a checkpoint round-trips every field exactly, NaN, -Infinity and -0 included, as state.json and one arrays file', () => {
  const { dir, state, fp } = written();
  const r = readCheckpoint(dir, fp);
  assert.deepStrictEqual(r.state, state);
  assert.ok(Object.is(r.state.best.score, -0));
  assert.deepEqual(r.changes, []);
  assert.equal(r.path, join(dir, 'state.json'));
  const files = readdirSync(dir).sort();
  assert.equal(files.length, 2);
  assert.match(files[0]!, /^arrays-[0-9a-f]{16}\.bin$/);
  assert.equal(files[1], 'state.json');
  // The arrays are binary: state.json holds only references and small values.
  const meta = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8'));
  assert.deepEqual(meta.state.weights[0].data, { dtype: 'float32', offset: 0, length: d * K });
  assert.equal(meta.format, 'selmix-checkpoint');
  assert.equal(meta.version, 1);
  // A newer checkpoint replaces the arrays file; the older one is removed once state.json no longer names it.
  writeCheckpoint(dir, { ...state, step: 38 }, fp);
  writeCheckpoint(dir, { ...state, step: 39, P: null, multipliers: null, partnerLabels: null }, fp);
  assert.equal(readdirSync(dir).length, 2);
  const again = readCheckpoint(dir, fp).state;
  assert.equal(again.step, 39);
  assert.equal(again.P, null);
  // A checkpoint written before the Mean Teacher was saved reads as "no teacher yet".
  forge(dir, (j) => {
    delete j.state.teacher;
  });
  assert.equal(readCheckpoint(dir, fp).state.teacher, null);
});

test('tampering and corruption are refused with a DataError naming the file', () => {
  {
    const { dir, fp } = written();
    const bin = join(dir, arraysFile(dir));
    const b = readFileSync(bin);
    b[5]! ^= 0x01;
    writeFileSync(bin, b);
    refuses(() => readCheckpoint(dir, fp), bin, /do not match the sha256/);
    writeFileSync(bin, b.subarray(0, b.length - 8));
    refuses(() => readCheckpoint(dir, fp), bin, /bytes, state.json expects/);
  }
  {
    const { dir, fp } = written();
    const path = join(dir, 'state.json');
    // One changed digit: the step 37 becomes 27.
    writeFileSync(path, readFileSync(path, 'utf8').replace('"step":37', '"step":27'));
    refuses(() => readCheckpoint(dir, fp), path, /do not match the checksum/);
    writeFileSync(path, '{"format": "selmix-checkpoint", ');
    refuses(() => readCheckpoint(dir, fp), path, /unreadable checkpoint/);
    writeFileSync(path, JSON.stringify({ step: 3, weights: [] }));
    refuses(() => readCheckpoint(dir, fp), path, /not a SelMix checkpoint of this format/);
  }
  const cases: [string, (j: Forged) => void, RegExp][] = [
    [
      'a null in the weights',
      (j) => {
        j.state.weights[0] = null;
      },
      /state\.weights\[0\]/,
    ],
    [
      'null data',
      (j) => {
        j.state.weights[1]!.data = null;
      },
      /state\.weights\[1\]\.data/,
    ],
    [
      'a negative step',
      (j) => {
        j.state.step = -4;
      },
      /state\.step: Too small/,
    ],
    [
      'a string step',
      (j) => {
        j.state.step = '37';
      },
      /state\.step: .*number/,
    ],
    [
      'a fractional step',
      (j) => {
        j.state.step = 3.5;
      },
      /state\.step/,
    ],
    [
      'an unknown field',
      (j) => {
        j.state.extra = 1;
      },
      /state: .*extra/,
    ],
    [
      'a missing field',
      (j) => {
        delete j.state.rng;
      },
      /state\.rng/,
    ],
    [
      'a shape that does not fit its values',
      (j) => {
        j.state.momentum[0]!.shape = [K, d + 1];
      },
      /state\.momentum\[0\]: the number of values does not match the shape/,
    ],
    [
      'an array past the end of the file',
      (j) => {
        j.state.P.offset = 1 << 20;
      },
      /state\.P: .*run past the end/,
    ],
    [
      'a wrong dtype',
      (j) => {
        j.state.partnerLabels.dtype = 'float32';
      },
      /state\.partnerLabels\.dtype/,
    ],
    [
      'pseudo-labels of another count',
      (j) => {
        j.state.partnerLabels.length = 4;
      },
      /state\.partnerLabels: 4 labels, the unlabeled set has 5/,
    ],
    [
      'a teacher of another shape',
      (j) => {
        j.state.teacher![1]!.shape = [K - 1];
      },
      /state\.teacher\[1\]: the number of values does not match the shape/,
    ],
    [
      'a zero head scale',
      (j) => {
        j.state.headScale = 0;
      },
      /state\.headScale/,
    ],
    [
      'an rng of three words',
      (j) => {
        j.state.rng = [1, 2, 3];
      },
      /state\.rng/,
    ],
    [
      'best after the step',
      (j) => {
        j.state.best.step = 40;
      },
      /best\.step: 40 is after/,
    ],
    [
      'another file name',
      (j) => {
        j.arrays.file = '../W.npy';
      },
      /arrays\.file/,
    ],
  ];
  for (const [what, edit, re] of cases) {
    const { dir, fp } = written();
    forge(dir, edit);
    try {
      refuses(() => readCheckpoint(dir, fp), join(dir, 'state.json'), re);
    } catch (e) {
      throw new Error(`${what}: ${(e as Error).message}`, { cause: e });
    }
  }
  {
    const { dir, state, fp } = written();
    writeCheckpoint(dir, { ...state, partnerLabels: Int32Array.from([0, 1, 7, 1, 1]) }, fp);
    refuses(() => readCheckpoint(dir, fp), join(dir, 'state.json'), /state\.partnerLabels: a label outside -1 \.\. 2/);
    writeCheckpoint(
      dir,
      { ...state, weights: [state.weights[0]!, { shape: [K], data: Float32Array.from([0, Number.NaN, 1]) }] },
      fp,
    );
    refuses(
      () => readCheckpoint(dir, fp),
      join(dir, 'state.json'),
      /state\.weights\[1\]: the tensor holds a value that is not finite/,
    );
    // A teacher whose values fit its own shape but not the model's.
    writeCheckpoint(
      dir,
      { ...state, teacher: [{ shape: [K, d], data: state.teacher![0]!.data }, state.teacher![1]!] },
      fp,
    );
    refuses(
      () => readCheckpoint(dir, fp),
      join(dir, 'state.json'),
      /state\.teacher: shapes \[3, 4\], \[3\], the fingerprint says \[4, 3\], \[3\]/,
    );
  }
  {
    const { dir, fp } = written();
    forge(dir, (j) => {
      j.version = 2;
    });
    refuses(
      () => readCheckpoint(dir, fp),
      join(dir, 'state.json'),
      /format version 2, this version of SelMix reads version 1/,
    );
  }
  {
    const dir = join(mkdtempSync(join(tmpdir(), 'selmix-ckpt-')), 'checkpoint');
    refuses(() => readCheckpoint(dir, fingerprint()), join(dir, 'state.json'), /no checkpoint to resume from/);
  }
});

test('a checkpoint of another K or d, or of other inputs, is refused naming the file, never a tfjs error', () => {
  const { dir } = written();
  const path = join(dir, 'state.json');
  refuses(
    () => readCheckpoint(dir, fingerprint({}, K + 2)),
    path,
    /K = 3 classes and d = 4 features .*this run's model has K = 5 and d = 4/,
  );
  refuses(() => readCheckpoint(dir, fingerprint({}, K, d + 1)), path, /d = 4 features .*K = 3 and d = 5/);
  refuses(() => readCheckpoint(dir, fingerprint({}, K, d, 'other')), path, /made on other inputs/);
});

test('config drift: a changed lr, objective or refresh interval is refused naming the setting; a changed steps is accepted and reported', () => {
  const { dir } = written();
  const path = join(dir, 'state.json');
  refuses(
    () => readCheckpoint(dir, fingerprint({ lr: 0.02 })),
    path,
    /training\.lr: 0\.01 in the checkpoint, 0\.02 now/,
  );
  refuses(
    () => readCheckpoint(dir, fingerprint({ refreshEvery: 10 })),
    path,
    /training\.refreshEvery: 50 in the checkpoint, 10 now/,
  );
  refuses(
    () => readCheckpoint(dir, checkpointFingerprint({ ...baseConfig(), objective: 'gMean' }, shapes(), 'digest')),
    path,
    /objective: "minRecall" in the checkpoint, "gMean" now/,
  );
  refuses(
    () =>
      readCheckpoint(
        dir,
        checkpointFingerprint(
          { ...baseConfig(), selmix: { ...baseConfig().selmix, temperature: 3 } },
          shapes(),
          'digest',
        ),
      ),
    path,
    /selmix\.temperature: 10 in the checkpoint, 3 now/,
  );
  const r = readCheckpoint(dir, fingerprint({ steps: 100, checkpointEvery: 7 }));
  assert.deepEqual(r.changes, ['training.checkpointEvery: null -> 7', 'training.steps: 60 -> 100']);
});

test('inputsDigest changes with one label or one sampled input value, and not otherwise', () => {
  const rng = new Rng(3);
  const s = clusterSet([10, 5, 3], d, rng, 1);
  const data = (): FinetuneData => ({
    train: { x: s.x.slice(), y: s.y.slice(), n: s.n, shape: [d] },
    val: { x: s.x.slice(), y: s.y.slice(), n: s.n, shape: [d] },
    unlabeled: null,
    test: null,
    classNames: ['a', 'b', 'c'],
  });
  const a = data();
  assert.equal(inputsDigest(a), inputsDigest(data()));
  const b = data();
  b.train.y[3] = 2;
  assert.notEqual(inputsDigest(b), inputsDigest(a));
  const c = data();
  c.val.x[7]! += 1e-3;
  assert.notEqual(inputsDigest(c), inputsDigest(a));
});

/** A linear-head job on K = 3 clusters (npy files) in a temp folder, its config at run.selmix.json. */
function job(training: object): { dir: string; cfg: string; write: (t: object) => void } {
  const dir = writeLinearJob('selmix-ckpt-run-', [60, 25, 10], [15, 15, 15], d, 21);
  const cfg = join(dir, 'run.selmix.json');
  const write = (t: object) =>
    writeFileSync(
      cfg,
      JSON.stringify({
        objective: 'minRecall',
        data: {
          kind: 'npy',
          train: { features: 'trx.npy', labels: 'try.npy' },
          val: { features: 'vax.npy', labels: 'vay.npy' },
        },
        model: { kind: 'linear', weights: 'W.npy' },
        training: { batchSize: 16, refreshEvery: 10, ...t },
        output: 'out',
      }),
    );
  write(training);
  return { dir, cfg, write };
}

/** sha256 of every file under dir, by relative path. */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile())
      out[join(e.parentPath, e.name).slice(dir.length)] = createHash('sha256')
        .update(readFileSync(join(e.parentPath, e.name)))
        .digest('hex');
  }
  return out;
}

test('through a run: a refused resume fails with kind "data", names the checkpoint and the setting, and writes nothing; a changed steps is logged and resumes', async () => {
  const j = job({ steps: 40 });
  let asked = 0;
  const run = (resume: boolean, emit: (e: RunEvent) => void = () => undefined, stop = () => false) =>
    runRequest(
      { configText: readFileSync(j.cfg, 'utf8'), configPath: j.cfg, ...(resume ? { resume } : {}) },
      { emit, shouldStop: stop, backend: 'cpu' },
    );
  // The loop asks shouldStop once a step: a stop near step 23 (step events come by wall time, not at every step).
  const first = await run(
    false,
    () => undefined,
    () => ++asked > 23,
  );
  assert.ok(first.ok && first.summary.stoppedBy === 'cancel');
  const out = join(j.dir, 'out');
  const before = tree(out);

  j.write({ steps: 40, lr: 0.05 });
  const drift = await run(true);
  assert.ok(!drift.ok);
  assert.equal(drift.kind, 'data');
  assert.match(
    drift.message,
    /checkpoint[/\\]state\.json: the config changed since the checkpoint: training\.lr: 0\.01 in the checkpoint, 0\.05 now/,
  );
  assert.deepEqual(tree(out), before, 'a refused resume leaves every output as it was');

  const bin = join(out, 'checkpoint', arraysFile(join(out, 'checkpoint')));
  const bytes = readFileSync(bin);
  bytes[bytes.length - 1]! ^= 0x80;
  writeFileSync(bin, bytes);
  j.write({ steps: 40 });
  const corrupt = await run(true);
  assert.ok(!corrupt.ok && corrupt.kind === 'data');
  assert.ok(corrupt.message.startsWith(bin), corrupt.message);
  bytes[bytes.length - 1]! ^= 0x80;
  writeFileSync(bin, bytes);

  j.write({ steps: 50 });
  const logs: string[] = [];
  const resumed = await run(true, (e) => {
    if (e.type === 'run/log') logs.push(e.payload.message);
  });
  assert.ok(resumed.ok, resumed.ok ? '' : resumed.message);
  assert.equal(resumed.summary.steps, 50);
  assert.ok(logs.includes('changed since the checkpoint: training.steps: 40 -> 50'), logs.join('\n'));
});

test('the model is part of the fingerprint: another digest of the same file is refused naming the model; a checkpoint without one is not matched', () => {
  const dir = mkdtempSync(join(tmpdir(), 'selmix-ckpt-model-'));
  const model = (digest: string) =>
    checkpointFingerprint(baseConfig(), shapes(), 'digest', { file: '/models/net.onnx', digest });
  writeCheckpoint(dir, sampleState(), model('a'.repeat(64)));
  const path = join(dir, 'state.json');
  assert.equal(readCheckpoint(dir, model('a'.repeat(64))).state.step, sampleState().step);
  refuses(
    () => readCheckpoint(dir, model('b'.repeat(64))),
    path,
    /the model \/models\/net\.onnx changed since the checkpoint was made/,
  );
  const old = mkdtempSync(join(tmpdir(), 'selmix-ckpt-model-'));
  writeCheckpoint(old, sampleState(), fingerprint());
  refuses(
    () => readCheckpoint(old, model('a'.repeat(64))),
    join(old, 'state.json'),
    /the model \/models\/net\.onnx cannot be matched to the checkpoint/,
  );
});
