// The whole-network SelMix training step as one ONNX graph (opset 17), built once per batch size from a classifier's
// graph, its head and static shapes probed on ONNX Runtime:
//   X = [Xa; Xp] (2B images, one backbone pass);  F2 = backbone(X);  F = lam Fa + (1 - lam) Fp  (feature mixup at the
//   head's input);  A = head(F);  loss = -mean_i sum_k Y_ik log softmax(A_i)_k (Y one-hot, or soft targets of images
//   already mixed, where X = Xa and F = backbone(Xa));  dA = (softmax(A) - Y) / B;  backward;
//   for every trainable parameter p: m' = mu m + g + wd_p p,  p' = p - lr_p m'
// with wd_p = wd for parameters of two or more dimensions and 0 for 1-D ones (biases, LayerNorm;
// src/core/training/train.ts's
// sgdStep decays no bias either) and lr_p = lr for the head, lr x backboneLrFactor for the backbone. BatchNormalization
// is frozen (inference form). Also: the forward graph with the parameters as inputs (features and logits, for the
// refreshes with the current backbone), and the probe graph (every intermediate as an output). Pure.
import {
  int64,
  modelOf,
  ONNX_FLOAT,
  ONNX_INT64,
  valueInfo,
  type OnnxGraph,
  type OnnxModelProto,
  type OnnxNode,
  type OnnxTensor,
} from './proto';
import { af, ai, attrFloat, GraphBuilder, withAttrs, type ShapeMap } from './graph';
import { analyseGraph, backward, elementTypes, shapeLookup } from './autodiff';
import { broadcastShape } from './gradients';
import { normaliseNodes, TRAINING_OPSET } from './opsetNormalize';

/** The classifier head as the network step needs it (src/data/onnxModel.ts's OnnxHead, without the values). */
export interface NetworkHeadSpec {
  node: string;
  kind: 'gemm' | 'matmul-add';
  features: string;
  output: string;
  weightName: string;
  biasName: string | null;
  K: number;
  d: number;
}

/** A model ready for whole-network training: the graph in training form and its trainable parameters. */
export interface NetworkModel {
  /**
   * The model with the head normalised (a Gemm gets alpha = beta = 1 and a bias input) and the batch dimension
   * symbolic.
   */
  proto: OnnxModelProto;
  opset: number;
  inputName: string;
  head: NetworkHeadSpec & { biasName: string };
  /** Trainable parameters (initializers), in initializer order; the head's weight and bias among them. */
  params: string[];
  /** Their shapes. */
  paramShapes: Map<string, number[]>;
  /** Nodes on a parameter's path whose op has no gradient rule (non-empty: whole-network training is refused). */
  unsupported: OnnxNode[];
  /** The head Gemm stores its weight K x d (transB). */
  transB: boolean;
}

/** The name the bias of a Gemm head exported without one gets (as withHead in src/data/onnxModel.ts names it). */
export const headBiasName = (weightName: string): string => `${weightName}_selmix_bias`;

/**
 * The training form of a model: the head Gemm with alpha = beta = 1 (its initializers are replaced by the loop's W and
 * b,
 * alpha and beta already applied) and a bias, the input's batch dimension symbolic; and its trainable parameters.
 * `W` (d x K, row-major) and `b` are the loop's head.
 */
export function networkModel(
  proto: OnnxModelProto,
  inputName: string,
  head: NetworkHeadSpec,
  W: Float32Array,
  b: Float32Array,
): NetworkModel {
  const g = proto.graph!;
  const opset = int64((proto.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx')?.version ?? 0);
  const { d, K } = head;
  const inits = new Map((g.initializer ?? []).map((t) => [t.name ?? '', t]));
  const wDims = (inits.get(head.weightName)?.dims ?? []).map(int64);
  let nodes = g.node ?? [];
  const headNode = nodes.find((n) => n.name === head.node && (n.opType === 'Gemm' || n.opType === 'MatMul'))!;
  const transB =
    head.kind === 'gemm' && (headNode.attribute ?? []).some((a) => a.name === 'transB' && int64(a.i) !== 0);
  const wOut = new Float32Array(d * K);
  for (let r = 0; r < d; r++) for (let k = 0; k < K; k++) wOut[transB ? k * d + r : r * K + k] = W[r * K + k]!;
  const biasName = head.biasName ?? headBiasName(head.weightName);
  const replaced = new Map<string, OnnxTensor>([[head.weightName, tensorOf(head.weightName, wDims, wOut)]]);
  const extra: OnnxTensor[] = [];
  if (head.biasName) replaced.set(biasName, tensorOf(biasName, (inits.get(biasName)?.dims ?? [K]).map(int64), b));
  else extra.push(tensorOf(biasName, [K], b));
  if (head.kind === 'gemm') {
    nodes = nodes.map((n) =>
      n === headNode
        ? { ...withAttrs(n, { alpha: af(1), beta: af(1) }), input: [n.input![0]!, n.input![1]!, biasName] }
        : n,
    );
  }
  const inputInfo = (g.input ?? []).find((v) => v.name === inputName);
  const fixedBatch = int64(inputInfo?.type?.tensorType?.shape?.dim?.[0]?.dimValue ?? 0);
  if (fixedBatch > 0 && opset >= 10) nodes = dynamicBatch(nodes, g.initializer ?? [], inputName, fixedBatch);
  const input = (g.input ?? []).map((v) => {
    if (v.name !== inputName) return v;
    const dims = v.type?.tensorType?.shape?.dim ?? [];
    return {
      ...v,
      type: {
        tensorType: { elemType: ONNX_FLOAT, shape: { dim: dims.map((dd, i) => (i === 0 ? { dimParam: 'N' } : dd)) } },
      },
    };
  });
  const graph: OnnxGraph = {
    ...g,
    node: nodes,
    input,
    initializer: [...(g.initializer ?? []).map((t) => replaced.get(t.name ?? '') ?? t), ...extra],
    valueInfo: [],
  };
  const a = analyseGraph(graph, head.output);
  const all = new Map((graph.initializer ?? []).map((t) => [t.name ?? '', (t.dims ?? []).map(int64)]));
  return {
    proto: { ...proto, graph },
    opset,
    inputName,
    head: { ...head, biasName },
    params: a.params,
    paramShapes: new Map(a.params.map((p) => [p, all.get(p)!])),
    unsupported: a.unsupported,
    transB,
  };
}

/** The int64 values of a Constant node's tensor or of an int64 initializer, or null. */
function constInts(t: OnnxTensor | undefined): number[] | null {
  if (!t || t.dataType !== ONNX_INT64) return null;
  if (t.int64Data && t.int64Data.length) return t.int64Data.map(int64);
  if (t.rawData && t.rawData.length % 8 === 0) {
    const v = new DataView(t.rawData.buffer, t.rawData.byteOffset, t.rawData.byteLength);
    return Array.from({ length: t.rawData.length / 8 }, (_, i) => Number(v.getBigInt64(i * 8, true)));
  }
  return [];
}

/**
 * A model exported with a fixed batch size N0 carries N0 as a constant where PyTorch read x.shape[0] (the batch of a
 * Reshape or Expand target, e.g. a cls token's expand(n, -1, -1)). Such a constant at the first position of a shape
 * vector (the input 0 of a Concat of shape parts, or element 0 of a constant shape of a Reshape or Expand) is
 * replaced by the input's batch size read at run time, so the graph runs at any batch size.
 */
function dynamicBatch(nodes: OnnxNode[], inits: OnnxTensor[], inputName: string, N0: number): OnnxNode[] {
  const consts = new Map<string, number[]>();
  for (const t of inits) {
    const v = constInts(t);
    if (v) consts.set(t.name ?? '', v);
  }
  const producer = new Map<string, OnnxNode>();
  for (const n of nodes) {
    for (const o of n.output ?? []) producer.set(o, n);
    if (n.opType === 'Constant') {
      const v = constInts(n.attribute?.find((a) => a.name === 'value')?.t);
      if (v) consts.set(n.output![0]!, v);
    }
  }
  const b1 = 'selmix_batch_1d';
  const extraInits: OnnxTensor[] = [];
  let used = false;
  const rewritten = nodes
    .map((n) => {
      const ins = n.input ?? [];
      if (n.opType === 'Concat' && ins.length > 1) {
        const p = producer.get(ins[0]!);
        if (
          p?.opType === 'Unsqueeze' &&
          consts.get(p.input![0]!)?.length === 1 &&
          consts.get(p.input![0]!)![0] === N0
        ) {
          used = true;
          return { ...n, input: [b1, ...ins.slice(1)] };
        }
        if (consts.get(ins[0]!)?.length === 1 && consts.get(ins[0]!)![0] === N0) {
          used = true;
          return { ...n, input: [b1, ...ins.slice(1)] };
        }
      }
      if ((n.opType === 'Reshape' || n.opType === 'Expand') && ins[1]) {
        const v = consts.get(ins[1]);
        if (v && v.length > 1 && v[0] === N0) {
          used = true;
          const rest = `selmix_batch_rest_${ins[1]}`;
          extraInits.push({ name: rest, dims: [v.length - 1], dataType: ONNX_INT64, int64Data: v.slice(1) });
          const shapeName = `selmix_batch_shape_${ins[1]}`;
          return [
            {
              opType: 'Concat',
              input: [b1, rest],
              output: [shapeName],
              name: `selmix_concat_${ins[1]}`,
              attribute: [{ name: 'axis', type: 2, i: 0 }],
            } as OnnxNode,
            { ...n, input: [ins[0]!, shapeName] },
          ];
        }
      }
      return n;
    })
    .flat();
  if (!used) return nodes;
  const head: OnnxNode[] = [
    { opType: 'Shape', input: [inputName], output: ['selmix_input_shape'], name: 'selmix_input_shape', attribute: [] },
    {
      opType: 'Constant',
      input: [],
      output: ['selmix_zero1'],
      name: 'selmix_zero1',
      attribute: [{ name: 'value', type: 4, t: { dims: [1], dataType: ONNX_INT64, int64Data: [0] } }],
    },
    {
      opType: 'Constant',
      input: [],
      output: ['selmix_one1'],
      name: 'selmix_one1',
      attribute: [{ name: 'value', type: 4, t: { dims: [1], dataType: ONNX_INT64, int64Data: [1] } }],
    },
    {
      opType: 'Slice',
      input: ['selmix_input_shape', 'selmix_zero1', 'selmix_one1'],
      output: [b1],
      name: 'selmix_batch_1d',
      attribute: [],
    },
    ...extraInits.map(
      (t) =>
        ({
          opType: 'Constant',
          input: [],
          output: [t.name!],
          name: t.name!,
          attribute: [{ name: 'value', type: 4, t: { ...t, name: '' } }],
        }) as OnnxNode,
    ),
  ];
  return [...head, ...rewritten];
}

function tensorOf(name: string, dims: number[], data: Float32Array): OnnxTensor {
  const raw = new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
  return { name, dims, dataType: ONNX_FLOAT, rawData: raw };
}

/** The graph with its trainable parameters as inputs (their initializers removed). */
function withParamInputs(m: NetworkModel): OnnxGraph {
  const g = m.proto.graph!;
  const params = new Set(m.params);
  return {
    ...g,
    initializer: (g.initializer ?? []).filter((t) => !params.has(t.name ?? '')),
    input: [
      ...(g.input ?? []).filter((v) => !params.has(v.name ?? '')),
      ...m.params.map((p) => valueInfo(p, m.paramShapes.get(p)!)),
    ],
  };
}

/**
 * The forward graph for refreshes and evaluation: inputs the images and every parameter; outputs features and logits.
 */
export function forwardModel(m: NetworkModel): OnnxModelProto {
  const g = withParamInputs(m);
  const out = [valueInfo(m.head.features, ['N', m.head.d]), valueInfo(m.head.output, ['N', m.head.K])];
  return { ...m.proto, graph: { ...g, output: out } };
}

/** The probe graph: the model in training form with every float and int64 value it computes as an output. */
export function probeModel(m: NetworkModel): { proto: OnnxModelProto; outputs: string[] } {
  const g = m.proto.graph!;
  const types = elementTypes(g);
  const seen = new Set<string>();
  const outputs: string[] = [];
  for (const n of g.node ?? [])
    for (const o of n.output ?? []) {
      const t = types.get(o);
      if (!o || seen.has(o) || (t !== ONNX_FLOAT && t !== ONNX_INT64)) continue;
      seen.add(o);
      outputs.push(o);
    }
  const out = outputs.map((o) => ({ name: o, type: { tensorType: { elemType: types.get(o)! } } }));
  return { proto: { ...m.proto, graph: { ...g, output: out } }, outputs };
}

/** Shapes and int64 values of one probe run at batch size n. */
export interface ProbeRun {
  n: number;
  shapes: ShapeMap;
  ints: Map<string, number[]>;
}

/**
 * Shapes and int values at batch size N, extrapolated linearly from two probe runs (dimensions are affine in the
 * batch).
 */
export function extrapolate(p: ProbeRun, q: ProbeRun, N: number): { shapes: ShapeMap; ints: Map<string, number[]> } {
  const lin = (a: number, b: number) => a + ((b - a) / (q.n - p.n)) * (N - p.n);
  const shapes: ShapeMap = new Map();
  for (const [k, s] of p.shapes) {
    const t = q.shapes.get(k);
    if (t && t.length === s.length)
      shapes.set(
        k,
        s.map((v, i) => Math.round(lin(v, t[i]!))),
      );
  }
  const ints = new Map<string, number[]>();
  for (const [k, s] of p.ints) {
    const t = q.ints.get(k);
    if (t && t.length === s.length)
      ints.set(
        k,
        s.map((v, i) => Math.round(lin(v, t[i]!))),
      );
  }
  return { shapes, ints };
}

/** Names of the step graph's inputs and outputs for a parameter. */
export const stepNames = {
  momentum: (p: string) => `${p}__selmix_m`,
  newParam: (p: string) => `${p}__selmix_new`,
  newMomentum: (p: string) => `${p}__selmix_m_new`,
};

/** Options of the step graph. */
export interface StepGraphOptions {
  /** Batch size (anchors; as many partners). */
  B: number;
  /** Two probe runs of the model (see extrapolate). */
  probes: [ProbeRun, ProbeRun];
  /**
   * The parameters weight decay applies to (default: every parameter of two or more dimensions; biases and norms are
   * not decayed).
   */
  decayed?: ReadonlySet<string>;
  /**
   * Also output the gradient of every parameter (`<p>__selmix_grad`) and of the input (`__input__grad`): the tests'
   * view.
   */
  gradients?: boolean;
  /**
   * 'feature' (default): Xa and Xp go through the backbone together and their features are mixed with lam. 'input':
   * Xa is already mixed (CutMix, PuzzleMix), one backbone pass of B images, no Xp or lam inputs.
   */
  mix?: 'feature' | 'input';
  /**
   * The saliency graph instead of a step: inputs Xa, Y and every parameter; outputs loss and `saliency`, the gradient
   * of the summed cross-entropy with respect to Xa (no parameter gradient, no update). Implies mix 'input'.
   */
  saliency?: boolean;
}

/** Shapes of the values the builder added (reshapes, element-wise ops), from their inputs'. */
function fillShapes(nodes: OnnxNode[], shapes: ShapeMap, ints: Map<string, number[]>): void {
  for (const n of nodes) {
    const ins = n.input ?? [];
    const out = n.output?.[0];
    if (!out || shapes.has(out)) continue;
    const s0 = shapes.get(ins[0] ?? '');
    if (n.opType === 'Reshape' && s0) {
      const t = ints.get(ins[1] ?? '');
      if (!t) continue;
      const dims = t.map((v, i) => (v === 0 ? s0[i]! : v));
      const known = dims.filter((v) => v > 0).reduce((a, v) => a * v, 1);
      shapes.set(
        out,
        dims.map((v) => (v < 0 ? s0.reduce((a, x) => a * x, 1) / known : v)),
      );
    } else if (['Add', 'Sub', 'Mul', 'Div', 'Where'].includes(n.opType ?? '')) {
      const list = ins.map((i) => shapes.get(i));
      if (list.every(Boolean))
        shapes.set(
          out,
          list.reduce((a, v) => broadcastShape(a!, v!))!,
        );
    } else if (s0) shapes.set(out, s0);
  }
}

/** The values computed from the head's input onward (they run at batch B in the step graph). */
function descendants(nodes: OnnxNode[], from: string): Set<string> {
  const d = new Set([from]);
  for (const n of nodes) if ((n.input ?? []).some((i) => d.has(i))) for (const o of n.output ?? []) d.add(o);
  return d;
}

/**
 * The training step graph for batch size B (see the file comment). Inputs: Xa, Xp (B images each), lam [B, 1],
 * Y [B, K] one-hot or soft targets (rows summing to 1; Xp and lam absent with mix 'input'), lr, mu, wd, blf ([1]
 * each), every parameter and its momentum (stepNames.momentum). Outputs: every parameter's new value and momentum
 * (stepNames.newParam / newMomentum) and loss (a scalar).
 */
export function stepModel(m: NetworkModel, o: StepGraphOptions): OnnxModelProto {
  const { B } = o;
  const saliency = o.saliency === true;
  const inputMix = saliency || o.mix === 'input';
  const { K, features, output: logits } = m.head;
  const big = extrapolate(o.probes[0], o.probes[1], inputMix ? B : 2 * B);
  const small = extrapolate(o.probes[0], o.probes[1], B);
  const g = m.proto.graph!;
  const initShapes = new Map((g.initializer ?? []).map((t) => [t.name ?? '', (t.dims ?? []).map(int64)]));
  const initInts = new Map(
    (g.initializer ?? [])
      .filter((t) => t.dataType === ONNX_INT64)
      .map((t) => [t.name ?? '', (t.int64Data ?? []).map(int64)]),
  );
  const b = new GraphBuilder('selmix_');
  const rawNodes = g.node ?? [];
  const headSide = descendants(rawNodes, features);
  headSide.delete(features);
  const shapes: ShapeMap = new Map(initShapes);
  for (const [k, s] of big.shapes) if (!headSide.has(k)) shapes.set(k, s);
  for (const [k, s] of small.shapes) if (headSide.has(k)) shapes.set(k, s);
  const ints = new Map(initInts);
  for (const [k, s] of big.ints) if (!headSide.has(k)) ints.set(k, s);
  for (const [k, s] of small.ints) if (headSide.has(k)) ints.set(k, s);
  const shape = shapeLookup(shapes);
  const intsOf = (n: string) => ints.get(n) ?? null;
  const inputDims = shape(m.inputName).slice(1);
  const fDims = shape(features).slice(1);
  // The images: [Xa; Xp] under the model input's name (Xa alone when the inputs are already mixed).
  if (inputMix) b.op('Identity', ['Xa'], {}, m.inputName);
  else b.op('Concat', ['Xa', 'Xp'], { axis: ai(0) }, m.inputName);
  const pre = b.nodes.splice(0);
  const forward = normaliseNodes(rawNodes, m.opset, b, shape, intsOf);
  for (const n of forward)
    for (const out of n.output ?? []) if (out.endsWith('__selmix_indices')) shapes.set(out, shape(n.output![0]!));
  // Feature mixup: the head node reads F instead of the features.
  const mixed = inputMix ? features : 'selmix_F';
  if (!inputMix) {
    const [fa, fp] = b.emitN('Split', [features, b.constI([B, B])], 2, { axis: ai(0) });
    const lamR = fDims.length > 1 ? b.reshape('lam', [B, 1, ...new Array(fDims.length - 1).fill(1)]) : 'lam';
    const rest = b.op('Sub', [b.constF([1]), lamR]);
    b.op('Add', [b.op('Mul', [fa!, lamR]), b.op('Mul', [fp!, rest])], {}, mixed);
    shapes.set(fa!, [B, ...fDims]);
    shapes.set(fp!, [B, ...fDims]);
    shapes.set(mixed, [B, ...fDims]);
  }
  const mixNodes = b.nodes.splice(0);
  const fwd = forward.map((n) => (n.name === m.head.node ? { ...n, input: [mixed, ...(n.input ?? []).slice(1)] } : n));
  // The loss and its gradient with respect to the logits.
  const logP = b.op('LogSoftmax', [logits], { axis: ai(1) });
  // The saliency graph differentiates the summed loss (each image's own gradient, not divided by B).
  const invB = b.constF([saliency ? 1 : 1 / B]);
  const lossV = b.op('Neg', [b.op('Mul', [b.reduceSum(b.op('Mul', ['Y', logP]), [0, 1], false), invB])]);
  b.op('Identity', [lossV], {}, 'loss');
  const dLogits = b.op('Mul', [b.op('Sub', [b.op('Exp', [logP]), 'Y']), invB]);
  const lossNodes = b.nodes.splice(0);
  shapes.set('lam', [B, 1]);
  const allForward = [
    ...pre,
    ...fwd.slice(
      0,
      fwd.findIndex((n) => n.name === m.head.node),
    ),
    ...mixNodes,
    ...fwd.slice(fwd.findIndex((n) => n.name === m.head.node)),
  ];
  const graphForTypes: OnnxGraph = {
    ...g,
    input: [
      ...(g.input ?? []),
      valueInfo('Xa', [B, ...inputDims]),
      ...(inputMix ? [] : [valueInfo('Xp', [B, ...inputDims]), valueInfo('lam', [B, 1])]),
      valueInfo('Y', [B, K]),
    ],
    initializer: [...(g.initializer ?? []), ...b.initializers],
    node: allForward,
  };
  const types = elementTypes(graphForTypes);
  for (const t of b.initializers) shapes.set(t.name ?? '', (t.dims ?? []).map(int64));
  for (const t of b.initializers) if (t.dataType === ONNX_INT64) ints.set(t.name ?? '', (t.int64Data ?? []).map(int64));
  fillShapes(allForward, shapes, ints);
  const wrt = saliency ? [m.inputName] : o.gradients ? [...m.params, m.inputName] : m.params;
  const grads = backward({
    b,
    nodes: allForward,
    seeds: new Map([[logits, dLogits]]),
    wrt,
    shape,
    ints: intsOf,
    types,
  });
  const params = new Set(m.params);
  if (saliency) {
    b.op('Identity', [grads.get(m.inputName)!], {}, 'saliency');
    const graph: OnnxGraph = {
      name: 'selmix_saliency',
      node: [...allForward, ...lossNodes, ...b.nodes],
      initializer: [...(g.initializer ?? []).filter((t) => !params.has(t.name ?? '')), ...b.initializers],
      input: [
        valueInfo('Xa', [B, ...inputDims]),
        valueInfo('Y', [B, K]),
        ...m.params.map((p) => valueInfo(p, m.paramShapes.get(p)!)),
      ],
      output: [valueInfo('loss', []), valueInfo('saliency', [B, ...inputDims])],
    };
    return modelOf(graph, TRAINING_OPSET);
  }
  // SGD with momentum and weight decay.
  const headParams = new Set([m.head.weightName, m.head.biasName]);
  const lrBackbone = b.op('Mul', ['lr', 'blf']);
  const outputs = [valueInfo('loss', [])];
  for (const p of m.params) {
    const dims = m.paramShapes.get(p)!;
    const gr = grads.get(p)!;
    const decayed = o.decayed ? o.decayed.has(p) : dims.length >= 2;
    const gt = decayed ? b.op('Add', [gr, b.op('Mul', [p, 'wd'])]) : gr;
    const mNew = b.op('Add', [b.op('Mul', [stepNames.momentum(p), 'mu']), gt], {}, stepNames.newMomentum(p));
    b.op('Sub', [p, b.op('Mul', [mNew, headParams.has(p) ? 'lr' : lrBackbone])], {}, stepNames.newParam(p));
    outputs.push(valueInfo(stepNames.newParam(p), dims), valueInfo(stepNames.newMomentum(p), dims));
    if (o.gradients) {
      b.op('Identity', [gr], {}, `${p}__selmix_grad`);
      outputs.push(valueInfo(`${p}__selmix_grad`, dims));
    }
  }
  if (o.gradients) {
    b.op('Identity', [grads.get(m.inputName)!], {}, '__input__grad');
    outputs.push(valueInfo('__input__grad', shape(m.inputName)));
  }
  const graph: OnnxGraph = {
    name: 'selmix_network_step',
    node: [...allForward, ...lossNodes, ...b.nodes],
    initializer: [...(g.initializer ?? []).filter((t) => !params.has(t.name ?? '')), ...b.initializers],
    input: [
      valueInfo('Xa', [B, ...inputDims]),
      ...(inputMix ? [] : [valueInfo('Xp', [B, ...inputDims]), valueInfo('lam', [B, 1])]),
      valueInfo('Y', [B, K]),
      valueInfo('lr', [1]),
      valueInfo('mu', [1]),
      valueInfo('wd', [1]),
      valueInfo('blf', [1]),
      ...m.params.flatMap((p) => [
        valueInfo(p, m.paramShapes.get(p)!),
        valueInfo(stepNames.momentum(p), m.paramShapes.get(p)!),
      ]),
    ],
    output: outputs,
  };
  return modelOf(graph, TRAINING_OPSET);
}

/** The Gemm alpha of a node (1 when absent), for callers that check a head's scale. */
export const gemmAlpha = (n: OnnxNode): number => attrFloat(n, 'alpha', 1);
