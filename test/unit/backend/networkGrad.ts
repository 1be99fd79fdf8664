// Shared by the network gradient tests: a fixture model and its PyTorch reference, and the step graph run with its
// gradient outputs (lam = 1, lr = 0) on the reference's input.
import { readFileSync } from 'node:fs';
import { readOnnxModel } from '../../../src/data/onnxModel';
import { encodeOnnx, int64, tensorFloats } from '../../../src/formats/onnx/proto';
import { networkModel, stepModel, stepNames, type NetworkModel } from '../../../src/formats/onnx/networkStep';
import { probeNetwork } from '../../../src/backend/onnxNetworkStep';
import { OrtSession } from '../../../src/backend/onnxRuntime';

/** A tensor in a reference file. */
export interface RefTensor {
  dims: number[];
  data: number[];
}
/** A PyTorch reference (test/fixtures/onnx/grad/export_op_fixtures.py). */
export interface GradRef {
  input: RefTensor;
  labels: number[];
  logits: RefTensor;
  loss: number;
  grads: Record<string, RefTensor>;
}

/** The model's NetworkModel and its initial parameter values. */
export function loadNetwork(path: string): { m: NetworkModel; values: Map<string, Float32Array> } {
  const onnx = readOnnxModel(path);
  const m = networkModel(onnx.proto, onnx.input.name, onnx.head, onnx.head.W, onnx.head.b);
  const inits = new Map((m.proto.graph!.initializer ?? []).map((t) => [t.name ?? '', t]));
  const values = new Map(m.params.map((p) => [p, tensorFloats(inits.get(p)!)!]));
  return { m, values };
}

/** Runs the step graph with gradient outputs: loss, each parameter's gradient, the input's (first B rows). */
export function gradsOf(
  m: NetworkModel,
  values: Map<string, Float32Array>,
  ref: GradRef,
): { loss: number; grads: Map<string, Float32Array>; input: Float32Array } {
  const B = ref.labels.length;
  const ex = ref.input.dims.slice(1);
  const probes = probeNetwork(m, ex);
  const s = new OrtSession(encodeOnnx(stepModel(m, { B, probes, gradients: true })));
  try {
    const K = m.head.K;
    const y = new Float32Array(B * K);
    ref.labels.forEach((l, i) => {
      y[i * K + l] = 1;
    });
    const xa = Float32Array.from(ref.input.data);
    const feeds: Record<string, { data: Float32Array; dims: number[] }> = {
      Xa: { data: xa, dims: [B, ...ex] },
      Xp: { data: xa.map((v) => -v), dims: [B, ...ex] },
      lam: { data: new Float32Array(B).fill(1), dims: [B, 1] },
      Y: { data: y, dims: [B, K] },
      lr: { data: Float32Array.of(0), dims: [1] },
      mu: { data: Float32Array.of(0), dims: [1] },
      wd: { data: Float32Array.of(0), dims: [1] },
      blf: { data: Float32Array.of(0), dims: [1] },
    };
    for (const p of m.params) {
      feeds[p] = { data: values.get(p)!, dims: m.paramShapes.get(p)! };
      feeds[stepNames.momentum(p)] = { data: new Float32Array(values.get(p)!.length), dims: m.paramShapes.get(p)! };
    }
    const outs = ['loss', '__input__grad', ...m.params.map((p) => `${p}__selmix_grad`)];
    const r = s.run(feeds, outs);
    const per = ex.reduce((a, v) => a * v, 1);
    return {
      loss: r.loss!.data[0]!,
      grads: new Map(m.params.map((p) => [p, r[`${p}__selmix_grad`]!.data])),
      input: r.__input__grad!.data.subarray(0, B * per),
    };
  } finally {
    s.dispose();
  }
}

/** The largest violation of |got - want| <= atol + rtol |want| (0: within), and where. */
export function closeness(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  atol: number,
  rtol: number,
): { worst: number; at: number } {
  let worst = 0;
  let at = -1;
  if (got.length !== want.length) return { worst: Infinity, at: -1 };
  for (let i = 0; i < want.length; i++) {
    const ex = Math.abs(got[i]! - want[i]!) - (atol + rtol * Math.abs(want[i]!));
    if (!(ex <= worst)) {
      worst = Number.isNaN(ex) ? Infinity : ex;
      at = i;
    }
  }
  return { worst, at };
}

/** Reads a reference JSON. */
export function readRef(path: string): GradRef {
  return JSON.parse(readFileSync(path, 'utf8')) as GradRef;
}

export { int64 };

/** The reference's SelMix step (export_op_fixtures.py's selmix_steps). */
export interface StepRef {
  partners: RefTensor;
  lam: number[];
  lr: number;
  momentum: number;
  weightDecay: number;
  backboneLrFactor: number;
  steps?: number;
  paramsAfter: Record<string, RefTensor>;
}
