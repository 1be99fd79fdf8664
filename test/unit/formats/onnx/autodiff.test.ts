// The pure side of ONNX differentiation: which initializers train (BatchNorm's do not; integer shape arithmetic is
// never
// differentiated), which nodes block whole-network training, the broadcast helper, and the opset normaliser's rewrites.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyseGraph, elementTypes } from '../../../../src/formats/onnx/autodiff';
import { GraphBuilder } from '../../../../src/formats/onnx/graph';
import { broadcastShape, sumTo } from '../../../../src/formats/onnx/gradients';
import { normaliseNodes } from '../../../../src/formats/onnx/opsetNormalize';
import { floatTensor, int64Tensor, node, valueInfo, type OnnxGraph } from '../../../../src/formats/onnx/proto';

const f = (name: string, dims: number[]) =>
  floatTensor(name, dims, new Float32Array(dims.reduce((a, v) => a * v, 1)).fill(0.5));

/**
 * x -> Conv(w, b) -> BN(s, bias, mean, var) -> Relu -> Flatten -> Reshape(shape from Shape/Gather/Concat) -> Gemm(W,
 * c).
 */
function cnn(extra: 'none' | 'softplus' | 'softplusOnInput' = 'none'): OnnxGraph {
  const nodes = [
    ...(extra === 'softplusOnInput' ? [node('Softplus', ['x0'], ['x'])] : []),
    node('Conv', ['x', 'w', 'b'], ['c'], { pads: [1, 1, 1, 1] }, []),
    node('BatchNormalization', ['c', 's', 'bias', 'mean', 'var'], ['n']),
    node(extra === 'softplus' ? 'Softplus' : 'Relu', ['n'], ['r']),
    node('Shape', ['r'], ['sh']),
    node('Gather', ['sh', 'zero'], ['n0'], { axis: 0 }, ['axis']),
    node('Unsqueeze', ['n0', 'ax0'], ['n0v']),
    node('Concat', ['n0v', 'minus1'], ['shape'], { axis: 0 }, ['axis']),
    node('Reshape', ['r', 'shape'], ['flat']),
    node('Gemm', ['flat', 'W', 'cb'], ['logits'], { transB: 1 }, ['transB']),
  ];
  return {
    node: nodes,
    input: [valueInfo(extra === 'softplusOnInput' ? 'x0' : 'x', ['N', 1, 4, 4])],
    output: [valueInfo('logits', ['N', 3])],
    initializer: [
      f('w', [2, 1, 3, 3]),
      f('b', [2]),
      f('s', [2]),
      f('bias', [2]),
      f('mean', [2]),
      f('var', [2]),
      f('W', [3, 32]),
      f('cb', [3]),
      int64Tensor('zero', [], [0]),
      int64Tensor('ax0', [1], [0]),
      int64Tensor('minus1', [1], [-1]),
    ],
  };
}

test('trainable parameters: conv and head weights and biases; BatchNorm frozen; shape arithmetic not differentiated', () => {
  const a = analyseGraph(cnn(), 'logits');
  assert.deepEqual(a.params, ['w', 'b', 'W', 'cb']);
  assert.deepEqual(a.unsupported, []);
  assert.ok(!a.active.has('sh') && !a.active.has('shape'), 'Shape and its arithmetic are int64: never active');
  assert.equal(elementTypes(cnn()).get('shape'), 7);
});

test('an op without a gradient between a parameter and the logits is reported by node; one before every parameter is not', () => {
  assert.deepEqual(
    analyseGraph(cnn('softplus'), 'logits').unsupported.map((n) => n.opType),
    ['Softplus'],
  );
  assert.deepEqual(analyseGraph(cnn('softplusOnInput'), 'logits').unsupported, []);
});

test('broadcastShape and sumTo: ReduceSum over the broadcast axes (kept), then Reshape to the target', () => {
  assert.deepEqual(broadcastShape([4, 1, 3], [5, 1]), [4, 5, 3]);
  const b = new GraphBuilder('t_');
  assert.equal(sumTo(b, 'g', [2, 3], [2, 3]), 'g', 'no-op when the shapes agree');
  sumTo(b, 'g', [4, 5, 3], [5, 1]);
  assert.deepEqual(
    b.nodes.map((n) => n.opType),
    ['ReduceSum', 'Reshape'],
  );
  const axes = b.initializers.find((t) => t.name === b.nodes[0]!.input![1]);
  assert.deepEqual(axes?.int64Data, [0, 2]);
});

test('opset normaliser: attribute axes become inputs before 13, Dropout becomes Identity, MaxPool gains its Indices', () => {
  const b = new GraphBuilder('n_');
  const shapes = new Map<string, number[]>([
    ['x', [2, 3, 4]],
    ['s', [2, 3, 4]],
  ]);
  const out = normaliseNodes(
    [
      node('Unsqueeze', ['x'], ['u'], { axes: [1] }, []),
      node('Dropout', ['x'], ['d', 'mask']),
      node('MaxPool', ['x'], ['m'], { kernel_shape: [2] }, []),
      node('Softmax', ['x'], ['s'], { axis: 1 }, ['axis']),
    ],
    11,
    b,
    (n) => shapes.get(n)!,
    () => null,
  );
  const un = out.find((n) => n.opType === 'Unsqueeze')!;
  assert.equal(un.input!.length, 2);
  assert.ok(!(un.attribute ?? []).some((a) => a.name === 'axes'));
  assert.equal(out.find((n) => n.output![0] === 'd')!.opType, 'Identity');
  assert.equal(out.find((n) => n.opType === 'MaxPool')!.output!.length, 2);
  // Softmax over axis 1 of a rank-3 tensor at opset 11 is over the trailing axes together: reshape, softmax, reshape
  // back.
  const sm = out.filter((n) => ['Reshape', 'Softmax'].includes(n.opType!)).map((n) => n.opType);
  assert.deepEqual(sm, ['Reshape', 'Softmax', 'Reshape']);
  assert.equal(out[out.length - 1]!.output![0], 's');
  // Slice before opset 10 takes its starts, ends and axes as attributes.
  const sl = normaliseNodes(
    [node('Slice', ['x'], ['y'], { starts: [1], ends: [3], axes: [2] }, [])],
    9,
    b,
    (n) => shapes.get(n)!,
    () => null,
  )[0]!;
  assert.equal(sl.input!.length, 4);
  assert.deepEqual(sl.attribute, []);
  assert.deepEqual(b.initializers.find((t) => t.name === sl.input![3])?.int64Data, [2]);
});
