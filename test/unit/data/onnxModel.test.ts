// ONNX files exported from PyTorch (test/fixtures/onnx, export_fixtures.py): the head is found (Gemm, or MatMul then
// Add), the backbone graph reproduces PyTorch's features and the whole graph its logits, a replaced head round-trips,
// and bad files, heads that cannot be found and preprocesses that do not fit are DataErrors naming the file and node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OrtSession } from '../../../src/backend/onnxRuntime';
import { DataError } from '../../../src/core/errors';
import { decodeOnnx, encodeOnnx, floatTensor, modelOf, node, valueInfo } from '../../../src/formats/onnx/proto';
import { readNpy } from '../../../src/data/npy';
import { backboneBytes, modelBytes, readOnnxModel, withHead } from '../../../src/data/onnxModel';

const FIX = join(import.meta.dirname, '../../fixtures/onnx');
const tmp = mkdtempSync(join(tmpdir(), 'selmix-onnx-unit-'));

/** A float32 .npy fixture. */
function f32(file: string): { data: Float32Array; shape: number[] } {
  const a = readNpy(join(FIX, file));
  assert.ok(a.data instanceof Float32Array, file);
  return { data: a.data, shape: a.shape };
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

for (const [name, inputName, kind, d] of [
  ['cnn_bn_gap', 'image', 'gemm', 64],
  ['mlp_matmul', 'x', 'matmul-add', 16],
] as const) {
  test(`${name}: head (${kind}) found; backbone and whole graph on ONNX Runtime match PyTorch to 1e-4`, () => {
    const m = readOnnxModel(join(FIX, `${name}.onnx`));
    assert.equal(m.head.kind, kind);
    assert.equal(m.head.K, 10);
    assert.equal(m.head.d, d);
    assert.equal(m.input.name, inputName);
    assert.equal(m.input.dims[0], -1, 'symbolic batch');
    const x = f32(`${name}_sample_x.npy`);
    const feats = f32(`${name}_sample_features.npy`);
    const logits = f32(`${name}_sample_logits.npy`);
    const bb = new OrtSession(backboneBytes(m));
    const f = bb.run({ [inputName]: { data: x.data, dims: x.shape } })[m.head.features]!;
    bb.dispose();
    assert.deepEqual(f.dims, [16, d]);
    assert.ok(maxDiff(f.data, feats.data) < 1e-4, 'features');
    // The head as read (W d x K, b) on PyTorch's features gives PyTorch's logits.
    const mine = new Float64Array(160);
    for (let i = 0; i < 16; i++)
      for (let k = 0; k < 10; k++) {
        let s = m.head.b[k]!;
        for (let r = 0; r < d; r++) s += feats.data[i * d + r]! * m.head.W[r * 10 + k]!;
        mine[i * 10 + k] = s;
      }
    assert.ok(maxDiff(mine, logits.data) < 1e-4, 'head');
    const whole = new OrtSession(modelBytes(m));
    assert.ok(
      maxDiff(whole.run({ [inputName]: { data: x.data, dims: x.shape } }).logits!.data, logits.data) < 1e-4,
      'whole graph',
    );
    whole.dispose();
  });

  test(`${name}: withHead replaces only the head; reading it back gives the new W and b`, () => {
    const m = readOnnxModel(join(FIX, `${name}.onnx`));
    const W = Float32Array.from(m.head.W, (_, i) => Math.sin(i));
    const b = Float32Array.from({ length: 10 }, (_, k) => k / 10);
    const path = join(tmp, `${name}-new.onnx`);
    writeFileSync(path, withHead(m, W, b));
    const back = readOnnxModel(path);
    assert.ok(maxDiff(back.head.W, W) === 0 && maxDiff(back.head.b, b) === 0);
    const before = decodeOnnx(readFileSync(join(FIX, `${name}.onnx`))).graph!;
    const after = decodeOnnx(readFileSync(path)).graph!;
    assert.deepEqual(
      after.node!.map((n) => n.opType),
      before.node!.map((n) => n.opType),
    );
    assert.equal(after.initializer!.length, before.initializer!.length);
  });
}

function expectDataError(fn: () => unknown, ...parts: RegExp[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof DataError, String(e));
    for (const p of parts) assert.match(e.message, p);
    return true;
  });
}

test('bad ONNX inputs are DataErrors naming the file and node', () => {
  const junk = join(tmp, 'junk.onnx');
  writeFileSync(junk, Buffer.from('this is not protobuf at all \xff\xff\xff\xff'));
  expectDataError(() => readOnnxModel(junk), /junk\.onnx/, /not a valid ONNX model|not an ONNX model/);
  expectDataError(() => readOnnxModel(join(tmp, 'missing.onnx')), /missing\.onnx/, /ENOENT/);
  expectDataError(() => readOnnxModel(join(FIX, 'cnn_bn_gap.onnx'), 'nope'), /no node named "nope"/, /Gemm/);
  expectDataError(
    () => readOnnxModel(join(FIX, 'cnn_bn_gap.onnx'), '/features/features.2/Relu'),
    /Relu/,
    /must be a Gemm/,
  );
  // A head whose result other nodes read (not the last layer) is refused, with only weight-initializer nodes as
  // candidates.
  const W = floatTensor('W', [4, 3], new Float32Array(12));
  const mid = modelOf({
    name: 'g',
    node: [
      node('Gemm', ['x', 'W'], ['z'], { transB: 1 }, ['transB']),
      node('MatMul', ['z', 'z2'], ['a']),
      node('Relu', ['z'], ['z2']),
      node('Add', ['a', 'z'], ['p']),
    ],
    initializer: [W],
    input: [valueInfo('x', ['N', 4])],
    output: [valueInfo('p', ['N', 3])],
  });
  const midPath = join(tmp, 'mid.onnx');
  writeFileSync(midPath, encodeOnnx(mid));
  expectDataError(
    () => readOnnxModel(midPath, 'Gemm_z'),
    /does not produce the graph's output/,
    /with a weight initializer: "Gemm_z" \(Gemm\)$/,
  );
  expectDataError(
    () => readOnnxModel(midPath),
    /head node "MatMul_a" \(MatMul\): its weight "z2" is not an initializer/,
  );
});

test('a Softmax (or LogSoftmax) after the head: the head is found by default and by name, the logits are read before the Softmax, and the written model keeps it', () => {
  for (const op of ['Softmax', 'LogSoftmax']) {
    const Wd = Float32Array.from({ length: 12 }, (_, i) => (i % 5) - 2); // K x d = 3 x 4 (transB = 1)
    const soft = modelOf({
      name: 'g',
      node: [node('Gemm', ['x', 'W', 'c'], ['z'], { transB: 1 }, ['transB']), node(op, ['z'], ['p'])],
      initializer: [floatTensor('W', [3, 4], Wd), floatTensor('c', [3], Float32Array.from([0.1, 0.2, 0.3]))],
      input: [valueInfo('x', ['N', 4])],
      output: [valueInfo('p', ['N', 3])],
    });
    const softPath = join(tmp, `${op}.onnx`);
    writeFileSync(softPath, encodeOnnx(soft));
    const m = readOnnxModel(softPath);
    assert.equal(m.head.output, 'z');
    assert.equal(m.head.softmax, `"${op}_p" (${op})`);
    assert.equal(readOnnxModel(softPath, 'Gemm_z').head.output, 'z', 'the advice of naming the head works');
    const x = { x: { data: Float32Array.from([1, 2, 3, 4]), dims: [1, 4] } };
    const s1 = new OrtSession(modelBytes(m));
    const z = s1.run(x).z!.data;
    s1.dispose();
    // z = x W^T + c
    assert.deepEqual(
      Array.from(z).map((v) => Math.round(v * 1e5) / 1e5),
      [0, 1, 2].map(
        (k) =>
          Math.round(
            (Array.from({ length: 4 }, (_, r) => (r + 1) * Wd[k * 4 + r]!).reduce((a, b) => a + b) +
              [0.1, 0.2, 0.3][k]!) *
              1e5,
          ) / 1e5,
      ),
    );
    const written = decodeOnnx(withHead(m, Float32Array.from(m.head.W), Float32Array.from(m.head.b))).graph!;
    assert.deepEqual(
      written.node!.map((n) => n.opType),
      ['Gemm', op],
      'the Softmax is kept',
    );
    assert.deepEqual(
      written.output!.map((o) => o.name),
      ['p'],
      'the written model keeps its one output',
    );
    const exposed = decodeOnnx(
      withHead(m, Float32Array.from(m.head.W), Float32Array.from(m.head.b), { exposeLogits: true }),
    ).graph!;
    assert.deepEqual(
      exposed.output!.map((o) => o.name),
      ['p', 'z'],
    );
  }
});

test('a Gemm without bias and with alpha/beta: folded on reading, a bias added on writing', () => {
  const Wd = Float32Array.from([1, 2, 3, 4, 5, 6]); // B is d x K = 2 x 3 (transB = 0)
  const g = modelOf({
    name: 'g',
    node: [node('Gemm', ['x', 'W'], ['y'], { alpha: 2 })],
    initializer: [floatTensor('W', [2, 3], Wd)],
    input: [valueInfo('x', ['N', 2])],
    output: [valueInfo('y', ['N', 3])],
  });
  const p = join(tmp, 'nobias.onnx');
  writeFileSync(p, encodeOnnx(g));
  const m = readOnnxModel(p);
  assert.deepEqual(Array.from(m.head.W), [2, 4, 6, 8, 10, 12]);
  assert.deepEqual(Array.from(m.head.b), [0, 0, 0]);
  const out = withHead(m, Float32Array.from([1, 0, 0, 0, 1, 0]), Float32Array.from([0.5, -1, 2]));
  const s = new OrtSession(out);
  const y = s.run({ x: { data: Float32Array.from([3, 4]), dims: [1, 2] } }).y!.data;
  s.dispose();
  assert.deepEqual(Array.from(y), [3.5, 3, 2]);
});
