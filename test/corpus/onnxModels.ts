// ONNX models for the bad-input corpus, built with the project's own codec (no Python): a small MLP on the corpus's
// 8-column features (MatMul W1 8x6, Relu, Gemm W2 5x6 transB with bias b2: K = 5), and the ways one can be wrong.
import type { OnnxModelProto, OnnxTensor } from '../../src/formats/onnx/proto';
import { encodeOnnx, floatTensor, modelOf, node, valueInfo } from '../../src/formats/onnx/proto';

/** A deterministic generator (LCG), so every build is byte-identical. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

/** The corpus MLP's initializer values: W1 (8 x 6), W2 (5 x 6), b2 (5). */
export function mlpWeights(seed = 5): { W1: Float32Array; W2: Float32Array; b2: Float32Array } {
  const r = lcg(seed);
  const W1 = Float32Array.from({ length: 8 * 6 }, (_, i) => (i % 7 === 0 ? 1 : 0) + (r() - 0.5) * 0.3);
  const W2 = Float32Array.from({ length: 5 * 6 }, () => (r() - 0.5) * 0.5);
  return { W1, W2, b2: new Float32Array(5) };
}

/** The corpus MLP as a ModelProto; `edit` may change it before it is encoded. */
export function mlpProto(opts: { seed?: number; opset?: number } = {}): OnnxModelProto {
  const { W1, W2, b2 } = mlpWeights(opts.seed);
  return modelOf(
    {
      name: 'corpus_mlp',
      node: [
        { ...node('MatMul', ['x', 'W1'], ['h']), name: 'fc1' },
        { ...node('Relu', ['h'], ['hr']), name: 'relu' },
        { ...node('Gemm', ['hr', 'W2', 'b2'], ['logits'], { transB: 1 }, ['transB']), name: 'head' },
      ],
      initializer: [floatTensor('W1', [8, 6], W1), floatTensor('W2', [5, 6], W2), floatTensor('b2', [5], b2)],
      input: [valueInfo('x', ['N', 8])],
      output: [valueInfo('logits', ['N', 5])],
    },
    opts.opset ?? 17,
  );
}

/** The initializer of a model by name. */
export function initializer(m: OnnxModelProto, name: string): OnnxTensor {
  const t = m.graph!.initializer!.find((i) => i.name === name);
  if (!t) throw new Error(`no initializer ${name}`);
  return t;
}

/** Moves an initializer's data to an external file entry (location as given); returns its raw bytes to write there. */
export function externalize(
  m: OnnxModelProto,
  name: string,
  location: string,
  extra: Record<string, string> = {},
): Uint8Array {
  const t = initializer(m, name);
  const raw = t.rawData!;
  t.rawData = new Uint8Array(0);
  t.dataLocation = 1;
  t.externalData = [
    { key: 'location', value: location },
    ...Object.entries(extra).map(([key, value]) => ({ key, value })),
  ];
  return raw;
}

/** Encodes a model. */
export function bytesOf(m: OnnxModelProto): Uint8Array {
  return encodeOnnx(m);
}
