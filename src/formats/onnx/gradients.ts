// The gradient registry: op type -> the input slots it is differentiable in, and a rule that emits, in standard ONNX
// ops (opset 17, what ONNX Runtime's CPU provider runs), the gradient of each needed input from the gradients of the
// node's outputs. Shapes are static (ShapeMap, probed per batch size); broadcasting is undone by one helper (sumTo:
// ReduceSum over the broadcast axes, then Reshape to the input's shape). Integer shape arithmetic (Shape, Gather on
// shapes, Cast, Concat of shapes, Constant) carries no gradient: only float values reached from a parameter do.
// The rules follow the derivatives PyTorch's autograd uses (tools/autograd/derivatives.yaml), written as graphs here.
import type { OnnxNode } from './proto';
import {
  af,
  ai,
  aints,
  as,
  attrFloat,
  attrInt,
  attrInts,
  attrString,
  nodeLabel,
  numel,
  type GraphBuilder,
} from './graph';

/** What a rule can ask about the forward graph. */
export interface GradContext {
  b: GraphBuilder;
  /** The static shape of a value (throws when it was not probed). */
  shape(name: string): number[];
  /** The values of a small int64 value (axes, starts, pads), or null when unknown. */
  ints(name: string): number[] | null;
  /** Whether a value needs a gradient (it depends on a trainable parameter, or is the input asked for). */
  needs(name: string): boolean;
}

/** The gradients of a node's inputs (null: none, or not needed) from those of its outputs (null: zero). */
export type GradRule = (n: OnnxNode, dOut: (string | null)[], c: GradContext) => (string | null)[];

/** A registry entry: the differentiable input slots, and the rule. */
export interface OpGradient {
  slots: number[];
  rule: GradRule;
}

/** A gradient rule that cannot be emitted for this node's attributes; names the node. */
export class GradientError extends Error {
  constructor(n: OnnxNode, why: string) {
    super(`node ${nodeLabel(n)}: ${why}`);
    this.name = 'GradientError';
  }
}

/** The broadcast shape of two shapes (numpy rules). */
export function broadcastShape(a: number[], b: number[]): number[] {
  const r = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < r; i++) {
    const x = a[a.length - r + i] ?? 1;
    const y = b[b.length - r + i] ?? 1;
    out.push(x === 1 ? y : x);
  }
  return out;
}

/** Undoes broadcasting: sums g (of shape gShape) over the axes where target was broadcast, then reshapes to target. */
export function sumTo(b: GraphBuilder, g: string, gShape: number[], target: number[]): string {
  if (gShape.length === target.length && gShape.every((d, i) => d === target[i])) return g;
  const lead = gShape.length - target.length;
  const axes: number[] = [];
  for (let i = 0; i < gShape.length; i++) {
    if (i < lead) axes.push(i);
    else if (target[i - lead] === 1 && gShape[i] !== 1) axes.push(i);
  }
  const s = axes.length ? b.reduceSum(g, axes, true) : g;
  return b.reshape(s, target);
}

const norm = (axis: number, rank: number): number => (axis < 0 ? axis + rank : axis);

/** The zero scalar and one scalar, as float32 constants. */
const zero = (c: GradContext) => c.b.constF([0]);

/** The gradient of the first input of an op whose output has the input's shape and values rearranged: Reshape back. */
const reshapeBack: GradRule = (n, [dy], c) => [dy ? c.b.reshape(dy, c.shape(n.input![0]!)) : null];

/** dX = dY where mask, else 0. */
function masked(c: GradContext, mask: string, dy: string): string {
  return c.b.op('Where', [mask, dy, zero(c)]);
}

/** Element-wise binary ops with broadcasting. */
function binary(kind: 'Add' | 'Sub' | 'Mul' | 'Div'): GradRule {
  return (n, [dy], c) => {
    if (!dy) return [null, null];
    const [a, bb] = [n.input![0]!, n.input![1]!];
    const y = n.output![0]!;
    const ys = c.shape(y);
    const out: (string | null)[] = [null, null];
    if (c.needs(a)) {
      const g = kind === 'Mul' ? c.b.op('Mul', [dy, bb]) : kind === 'Div' ? c.b.op('Div', [dy, bb]) : dy;
      out[0] = sumTo(c.b, g, ys, c.shape(a));
    }
    if (c.needs(bb)) {
      let g: string;
      if (kind === 'Add') g = dy;
      else if (kind === 'Sub') g = c.b.op('Neg', [dy]);
      else if (kind === 'Mul') g = c.b.op('Mul', [dy, a]);
      else g = c.b.op('Neg', [c.b.op('Mul', [dy, c.b.op('Div', [y, bb])])]);
      out[1] = sumTo(c.b, g, ys, c.shape(bb));
    }
    return out;
  };
}

/** A transpose of the last two axes. */
function swapLast(c: GradContext, x: string, rank: number): string {
  const perm = Array.from({ length: rank }, (_, i) => i);
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1]!, perm[rank - 2]!];
  return c.b.op('Transpose', [x], { perm: aints(perm) });
}

/** Explicit pads of a conv or pool node ([begin..., end...]), auto_pad resolved from the static shapes. */
function padsOf(n: OnnxNode, inSpatial: number[], kernel: number[], strides: number[], dil: number[]): number[] {
  const nd = inSpatial.length;
  const autoPad = attrString(n, 'auto_pad', 'NOTSET');
  if (autoPad === 'NOTSET') return attrInts(n, 'pads', null) ?? new Array(2 * nd).fill(0);
  if (autoPad === 'VALID') return new Array(2 * nd).fill(0);
  const pads = new Array(2 * nd).fill(0);
  for (let i = 0; i < nd; i++) {
    const out = Math.ceil(inSpatial[i]! / strides[i]!);
    const total = Math.max(0, (out - 1) * strides[i]! + (kernel[i]! - 1) * dil[i]! + 1 - inSpatial[i]!);
    const small = Math.floor(total / 2);
    pads[i] = autoPad === 'SAME_UPPER' ? small : total - small;
    pads[i + nd] = total - pads[i];
  }
  return pads;
}

/**
 * A ConvTranspose that maps an output-sized gradient back onto the input (of spatial size inSpatial): the adjoint of a
 * Conv with these strides, dilations and pads. Output padding makes its size exact; a window that reaches past the
 * padded input (ceil_mode pools) gets a larger end pad instead.
 */
function convTransposeTo(
  c: GradContext,
  dy: string,
  w: string,
  outSpatial: number[],
  inSpatial: number[],
  kernel: number[],
  strides: number[],
  dil: number[],
  pads: number[],
  group: number,
): string {
  const nd = inSpatial.length;
  const p = pads.slice();
  const outPad: number[] = [];
  for (let i = 0; i < nd; i++) {
    const total = strides[i]! * (outSpatial[i]! - 1) + (kernel[i]! - 1) * dil[i]! + 1 - p[i]!;
    if (total - p[i + nd]! >= inSpatial[i]!) {
      p[i + nd] = total - inSpatial[i]!;
      outPad.push(0);
    } else {
      outPad.push(inSpatial[i]! - (total - p[i + nd]!));
    }
  }
  return c.b.op('ConvTranspose', [dy, w], {
    strides: aints(strides),
    dilations: aints(dil),
    pads: aints(p),
    group: ai(group),
    output_padding: aints(outPad),
  });
}

/** Crops the trailing spatial axes of x (rank 2 + nd) to kernel. */
function cropSpatial(c: GradContext, x: string, have: number[], kernel: number[]): string {
  if (have.every((v, i) => v === kernel[i])) return x;
  const nd = kernel.length;
  const axes = kernel.map((_, i) => i + 2);
  return c.b.op('Slice', [x, c.b.constI(new Array(nd).fill(0)), c.b.constI(kernel), c.b.constI(axes)]);
}

const conv: GradRule = (n, [dy], c) => {
  if (!dy) return [null, null, null];
  const [x, w, bias] = [n.input![0]!, n.input![1]!, n.input![2] ?? ''];
  const xs = c.shape(x);
  const ws = c.shape(w);
  const ys = c.shape(n.output![0]!);
  const nd = xs.length - 2;
  if (nd < 1) throw new GradientError(n, `a Conv on a rank-${xs.length} input`);
  const kernel = ws.slice(2);
  const strides = attrInts(n, 'strides', null) ?? new Array(nd).fill(1);
  const dil = attrInts(n, 'dilations', null) ?? new Array(nd).fill(1);
  const group = attrInt(n, 'group', 1);
  const pads = padsOf(n, xs.slice(2), kernel, strides, dil);
  const [N, C] = [xs[0]!, xs[1]!];
  const M = ws[0]!;
  const out: (string | null)[] = [null, null, null];
  if (c.needs(x)) out[0] = convTransposeTo(c, dy, w, ys.slice(2), xs.slice(2), kernel, strides, dil, pads, group);
  if (c.needs(w)) {
    // dW[m, c, k] = sum over n and output positions of dY[n, m, y] X[n, c, y s + k d]: a convolution of X (channels as
    // the batch) with dY (samples as channels) as the weights, strides and dilations swapped, cropped to the kernel.
    const spatial = Array.from({ length: nd }, (_, i) => i + 2);
    const have = xs
      .slice(2)
      .map((h, i) => Math.floor((h + pads[i]! + pads[i + nd]! - (ys[i + 2]! - 1) * strides[i]! - 1) / dil[i]!) + 1);
    if (group === 1) {
      const xt = c.b.op('Transpose', [x], { perm: aints([1, 0, ...spatial]) });
      const dyt = c.b.op('Transpose', [dy], { perm: aints([1, 0, ...spatial]) });
      const g = c.b.op('Conv', [xt, dyt], {
        strides: aints(dil),
        dilations: aints(strides),
        pads: aints(pads),
        group: ai(1),
      });
      out[1] = c.b.op('Transpose', [cropSpatial(c, g, have, kernel)], { perm: aints([1, 0, ...spatial]) });
    } else {
      // Each (sample, group) pair becomes its own group; the batch is summed after.
      const G = group;
      const cg = C / G;
      const xg = c.b.reshape(
        c.b.op('Transpose', [c.b.reshape(x, [N, G, cg, ...xs.slice(2)])], {
          perm: aints([2, 0, 1, ...spatial.map((s) => s + 1)]),
        }),
        [cg, N * G, ...xs.slice(2)],
      );
      const dyw = c.b.reshape(dy, [N * M, 1, ...ys.slice(2)]);
      const g = c.b.op('Conv', [xg, dyw], {
        strides: aints(dil),
        dilations: aints(strides),
        pads: aints(pads),
        group: ai(N * G),
      });
      const summed = c.b.reduceSum(c.b.reshape(g, [cg, N, M, ...have]), [1], false);
      out[1] = cropSpatial(c, c.b.op('Transpose', [summed], { perm: aints([1, 0, ...spatial]) }), have, kernel);
    }
  }
  if (bias && c.needs(bias)) out[2] = c.b.reduceSum(dy, [0, ...Array.from({ length: nd }, (_, i) => i + 2)], false);
  return out;
};

const gemm: GradRule = (n, [dy], c) => {
  if (!dy) return [null, null, null];
  const [a, bb, cc] = [n.input![0]!, n.input![1]!, n.input![2] ?? ''];
  const alpha = attrFloat(n, 'alpha', 1);
  const beta = attrFloat(n, 'beta', 1);
  const tA = attrInt(n, 'transA', 0);
  const tB = attrInt(n, 'transB', 0);
  const g = (x: string, y: string, ta: number, tb: number) =>
    c.b.op('Gemm', [x, y], { alpha: af(alpha), transA: ai(ta), transB: ai(tb) });
  const out: (string | null)[] = [null, null, null];
  if (c.needs(a)) out[0] = tA ? g(bb, dy, tB, 1) : g(dy, bb, 0, tB ? 0 : 1);
  if (c.needs(bb)) out[1] = tB ? g(dy, a, 1, tA) : g(a, dy, tA ? 0 : 1, 0);
  if (cc && c.needs(cc)) {
    const scaled = beta === 1 ? dy : c.b.op('Mul', [dy, c.b.constF([beta])]);
    out[2] = sumTo(c.b, scaled, c.shape(n.output![0]!), c.shape(cc));
  }
  return out;
};

const matMul: GradRule = (n, [dy], c) => {
  if (!dy) return [null, null];
  const [a, bb] = [n.input![0]!, n.input![1]!];
  const as0 = c.shape(a);
  const bs0 = c.shape(bb);
  const as2 = as0.length === 1 ? [1, as0[0]!] : as0;
  const bs2 = bs0.length === 1 ? [bs0[0]!, 1] : bs0;
  const batch = broadcastShape(as2.slice(0, -2), bs2.slice(0, -2));
  const ys2 = [...batch, as2[as2.length - 2]!, bs2[bs2.length - 1]!];
  const dy2 = as0.length === 1 || bs0.length === 1 ? c.b.reshape(dy, ys2) : dy;
  const a2 = as0.length === 1 ? c.b.reshape(a, as2) : a;
  const b2 = bs0.length === 1 ? c.b.reshape(bb, bs2) : bb;
  const out: (string | null)[] = [null, null];
  if (c.needs(a)) {
    const g = c.b.op('MatMul', [dy2, swapLast(c, b2, bs2.length)]);
    out[0] = c.b.reshape(sumTo(c.b, g, [...batch, as2[as2.length - 2]!, as2[as2.length - 1]!], as2), as0);
  }
  if (c.needs(bb)) {
    const g = c.b.op('MatMul', [swapLast(c, a2, as2.length), dy2]);
    out[1] = c.b.reshape(sumTo(c.b, g, [...batch, bs2[bs2.length - 2]!, bs2[bs2.length - 1]!], bs2), bs0);
  }
  return out;
};

const batchNorm: GradRule = (n, [dy], c) => {
  if (!dy) return [null];
  const xs = c.shape(n.input![0]!);
  const eps = attrFloat(n, 'epsilon', 1e-5);
  const s = c.b.op('Div', [n.input![1]!, c.b.op('Sqrt', [c.b.op('Add', [n.input![4]!, c.b.constF([eps])])])]);
  const sr = c.b.reshape(s, [xs[1]!, ...new Array(xs.length - 2).fill(1)]);
  return [c.b.op('Mul', [dy, sr])];
};

const maxPool: GradRule = (n, [dy], c) => {
  if (!dy) return [null];
  const idx = n.output![1];
  if (!idx) throw new GradientError(n, 'MaxPool without its Indices output (the training graph adds it)');
  if (attrInt(n, 'storage_order', 0) !== 0) throw new GradientError(n, 'MaxPool with storage_order = 1');
  const xs = c.shape(n.input![0]!);
  const flat = c.b.op('ScatterElements', [c.b.zeros([numel(xs)]), c.b.reshape(idx, [-1]), c.b.reshape(dy, [-1])], {
    axis: ai(0),
    reduction: as('add'),
  });
  return [c.b.reshape(flat, xs)];
};

const averagePool: GradRule = (n, [dy], c) => {
  if (!dy) return [null];
  const xs = c.shape(n.input![0]!);
  const ys = c.shape(n.output![0]!);
  const nd = xs.length - 2;
  const kernel = attrInts(n, 'kernel_shape', null)!;
  const strides = attrInts(n, 'strides', null) ?? new Array(nd).fill(1);
  const dil = attrInts(n, 'dilations', null) ?? new Array(nd).fill(1);
  if (dil.some((d) => d !== 1)) throw new GradientError(n, 'AveragePool with dilations');
  const pads = padsOf(n, xs.slice(2), kernel, strides, dil);
  const includePad = attrInt(n, 'count_include_pad', 0) === 1;
  // The divisor of every output position: the window's size clipped to the padded input (count_include_pad), or its
  // number of positions inside the input.
  const oSp = ys.slice(2);
  const div = new Float32Array(numel(oSp));
  for (let o = 0; o < div.length; o++) {
    let rem = o;
    let cnt = 1;
    for (let i = nd - 1; i >= 0; i--) {
      const p = rem % oSp[i]!;
      rem = Math.floor(rem / oSp[i]!);
      const start = p * strides[i]! - pads[i]!;
      const end = start + kernel[i]!;
      const lo = includePad ? Math.max(start, -pads[i]!) : Math.max(start, 0);
      const hi = includePad ? Math.min(end, xs[i + 2]! + pads[i + nd]!) : Math.min(end, xs[i + 2]!);
      cnt *= Math.max(0, hi - lo);
    }
    div[o] = cnt > 0 ? 1 / cnt : 0;
  }
  const scaled = c.b.op('Mul', [dy, c.b.constF(div, oSp)]);
  const C = xs[1]!;
  const ones = c.b.constF(new Float32Array(C * numel(kernel)).fill(1), [C, 1, ...kernel]);
  return [convTransposeTo(c, scaled, ones, oSp, xs.slice(2), kernel, strides, dil, pads, C)];
};

const globalAveragePool: GradRule = (n, [dy], c) => {
  if (!dy) return [null];
  const xs = c.shape(n.input![0]!);
  const scaled = c.b.op('Mul', [dy, c.b.constF([1 / numel(xs.slice(2))])]);
  return [c.b.op('Expand', [scaled, c.b.constI(xs)])];
};

/** The axes a reduce op reduces (attribute, input, or all), normalised. */
function reduceAxes(n: OnnxNode, c: GradContext, rank: number, fromInput: boolean): number[] {
  const given = fromInput ? (n.input![1] ? c.ints(n.input![1]) : null) : attrInts(n, 'axes', null);
  if (fromInput && n.input![1] && !given) throw new GradientError(n, 'its axes are not a constant');
  const all = Array.from({ length: rank }, (_, i) => i);
  if (!given || !given.length) return attrInt(n, 'noop_with_empty_axes', 0) ? [] : all;
  return given.map((a) => norm(a, rank));
}

function reduce(mean: boolean): GradRule {
  return (n, [dy], c) => {
    if (!dy) return [null];
    const xs = c.shape(n.input![0]!);
    const axes = reduceAxes(n, c, xs.length, !mean);
    const kept = xs.map((d, i) => (axes.includes(i) ? 1 : d));
    let g = c.b.reshape(dy, kept);
    if (mean) g = c.b.op('Mul', [g, c.b.constF([1 / numel(axes.map((a) => xs[a]!))])]);
    return [c.b.op('Expand', [g, c.b.constI(xs)])];
  };
}

const softmax: GradRule = (n, [dy], c) => {
  if (!dy) return [null];
  const y = n.output![0]!;
  const axis = norm(attrInt(n, 'axis', -1), c.shape(y).length);
  const s = c.b.reduceSum(c.b.op('Mul', [dy, y]), [axis], true);
  return [c.b.op('Mul', [y, c.b.op('Sub', [dy, s])])];
};

const logSoftmax: GradRule = (n, [dy], c) => {
  if (!dy) return [null];
  const y = n.output![0]!;
  const axis = norm(attrInt(n, 'axis', -1), c.shape(y).length);
  const s = c.b.reduceSum(dy, [axis], true);
  return [c.b.op('Sub', [dy, c.b.op('Mul', [c.b.op('Exp', [y]), s])])];
};

const layerNorm: GradRule = (n, [dy], c) => {
  if (!dy) return [null, null, null];
  const [x, scale, bias] = [n.input![0]!, n.input![1]!, n.input![2] ?? ''];
  const xs = c.shape(x);
  const axis = norm(attrInt(n, 'axis', -1), xs.length);
  const eps = attrFloat(n, 'epsilon', 1e-5);
  const axes = Array.from({ length: xs.length - axis }, (_, i) => axis + i);
  const mean = (v: string) => c.b.op('ReduceMean', [v], { axes: aints(axes), keepdims: ai(1) });
  const xc = c.b.op('Sub', [x, mean(x)]);
  const rstd = c.b.op('Reciprocal', [
    c.b.op('Sqrt', [c.b.op('Add', [mean(c.b.op('Mul', [xc, xc])), c.b.constF([eps])])]),
  ]);
  const xhat = c.b.op('Mul', [xc, rstd]);
  const out: (string | null)[] = [null, null, null];
  if (c.needs(x)) {
    const dxhat = c.b.op('Mul', [dy, scale]);
    const t = c.b.op('Sub', [
      c.b.op('Sub', [dxhat, mean(dxhat)]),
      c.b.op('Mul', [xhat, mean(c.b.op('Mul', [dxhat, xhat]))]),
    ]);
    out[0] = c.b.op('Mul', [rstd, t]);
  }
  if (c.needs(scale)) out[1] = sumTo(c.b, c.b.op('Mul', [dy, xhat]), xs, c.shape(scale));
  if (bias && c.needs(bias)) out[2] = sumTo(c.b, dy, xs, c.shape(bias));
  return out;
};

const transpose: GradRule = (n, [dy], c) => {
  if (!dy) return [null];
  const rank = c.shape(n.input![0]!).length;
  const perm = attrInts(n, 'perm', null) ?? Array.from({ length: rank }, (_, i) => rank - 1 - i);
  const inv = new Array<number>(rank);
  perm.forEach((p, i) => {
    inv[p] = i;
  });
  return [c.b.op('Transpose', [dy], { perm: aints(inv) })];
};

const concat: GradRule = (n, [dy], c) => {
  const ins = n.input!;
  if (!dy) return ins.map(() => null);
  const ys = c.shape(n.output![0]!);
  const axis = norm(attrInt(n, 'axis', 0), ys.length);
  const sizes = ins.map((i) => c.shape(i)[axis]!);
  const parts = c.b.emitN('Split', [dy, c.b.constI(sizes)], ins.length, { axis: ai(axis) });
  return ins.map((i, k) => (c.needs(i) ? parts[k]! : null));
};

const split: GradRule = (n, dOut, c) => {
  if (dOut.every((d) => !d)) return [null];
  const xs = c.shape(n.input![0]!);
  const axis = norm(attrInt(n, 'axis', 0), xs.length);
  const parts = n.output!.map((o, k) => dOut[k] ?? c.b.zeros(c.shape(o)));
  return [parts.length === 1 ? parts[0]! : c.b.op('Concat', parts, { axis: ai(axis) })];
};

const slice: GradRule = (n, [dy], c) => {
  if (!dy) return [null];
  const xs = c.shape(n.input![0]!);
  const ys = c.shape(n.output![0]!);
  const rank = xs.length;
  const starts = c.ints(n.input![1]!);
  const ends = c.ints(n.input![2]!);
  const axes = n.input![3] ? c.ints(n.input![3]) : Array.from({ length: starts?.length ?? 0 }, (_, i) => i);
  const steps = n.input![4] ? c.ints(n.input![4]) : new Array(starts?.length ?? 0).fill(1);
  if (!starts || !ends || !axes || !steps)
    throw new GradientError(n, 'its starts, ends, axes or steps are not constants');
  // The first index taken and the step along every axis (as the spec clamps them).
  const first = new Array(rank).fill(0);
  const step = new Array(rank).fill(1);
  axes.forEach((a0, k) => {
    const a = norm(a0, rank);
    const d = xs[a]!;
    const st = steps[k]!;
    let s = starts[k]!;
    if (s < 0) s += d;
    first[a] = st > 0 ? Math.min(Math.max(s, 0), d) : Math.min(Math.max(s, -1), d - 1);
    step[a] = st;
  });
  if (step.every((s) => s === 1)) {
    const pads = [...first, ...xs.map((d, i) => d - first[i]! - ys[i]!)];
    return [c.b.op('Pad', [dy, c.b.constI(pads)], { mode: as('constant') })];
  }
  // Other steps: a scatter of dY to the flat positions it was taken from (a constant index table).
  const idx: number[] = new Array(numel(ys));
  const strideX = xs.map((_, i) => numel(xs.slice(i + 1)));
  for (let o = 0; o < idx.length; o++) {
    let rem = o;
    let flat = 0;
    for (let i = rank - 1; i >= 0; i--) {
      const p = rem % ys[i]!;
      rem = Math.floor(rem / ys[i]!);
      flat += (first[i]! + p * step[i]!) * strideX[i]!;
    }
    idx[o] = flat;
  }
  const flat = c.b.op('ScatterElements', [c.b.zeros([numel(xs)]), c.b.constI(idx), c.b.reshape(dy, [-1])], {
    axis: ai(0),
  });
  return [c.b.reshape(flat, xs)];
};

const pad: GradRule = (n, [dy], c) => {
  if (!dy) return [null];
  const mode = attrString(n, 'mode', 'constant');
  if (mode !== 'constant')
    throw new GradientError(n, `Pad in mode "${mode}" (only constant padding has a gradient here)`);
  const xs = c.shape(n.input![0]!);
  const pads = c.ints(n.input![1] ?? '');
  if (!pads) throw new GradientError(n, 'its pads are not a constant');
  if (n.input![3]) throw new GradientError(n, 'Pad with an axes input');
  if (pads.some((p) => p < 0)) throw new GradientError(n, 'Pad with negative pads');
  const r = xs.length;
  const starts = pads.slice(0, r);
  return [
    c.b.op('Slice', [
      dy,
      c.b.constI(starts),
      c.b.constI(starts.map((s0, i) => s0 + xs[i]!)),
      c.b.constI(xs.map((_, i) => i)),
    ]),
  ];
};

const gather: GradRule = (n, [dy], c) => {
  if (!dy) return [null, null];
  const [x, indices] = [n.input![0]!, n.input![1]!];
  const xs = c.shape(x);
  const is = c.shape(indices);
  const axis = norm(attrInt(n, 'axis', 0), xs.length);
  const P = numel(is);
  const ds = [...xs.slice(0, axis), P, ...xs.slice(axis + 1)];
  const dyr = c.b.reshape(dy, ds);
  const idx = c.b.op('Expand', [
    c.b.reshape(
      indices,
      ds.map((_, i) => (i === axis ? P : 1)),
    ),
    c.b.constI(ds),
  ]);
  return [c.b.op('ScatterElements', [c.b.zeros(xs), idx, dyr], { axis: ai(axis), reduction: as('add') }), null];
};

const expand: GradRule = (n, [dy], c) => [
  dy ? sumTo(c.b, dy, c.shape(n.output![0]!), c.shape(n.input![0]!)) : null,
  null,
];

const identity: GradRule = (_n, [dy]) => [dy ?? null];

const relu: GradRule = (n, [dy], c) => [dy ? masked(c, c.b.op('Greater', [n.input![0]!, zero(c)]), dy) : null];

const leakyRelu: GradRule = (n, [dy], c) => {
  if (!dy) return [null];
  const alpha = attrFloat(n, 'alpha', 0.01);
  return [c.b.op('Where', [c.b.op('Greater', [n.input![0]!, zero(c)]), dy, c.b.op('Mul', [dy, c.b.constF([alpha])])])];
};

const clip: GradRule = (n, [dy], c) => {
  if (!dy) return [null, null, null];
  const x = n.input![0]!;
  const [lo, hi] = [n.input![1] ?? '', n.input![2] ?? ''];
  let mask: string | null = null;
  if (lo) mask = c.b.op('Greater', [x, lo]);
  if (hi) {
    const m = c.b.op('Less', [x, hi]);
    mask = mask ? c.b.op('And', [mask, m]) : m;
  }
  return [mask ? masked(c, mask, dy) : dy, null, null];
};

const sigmoid: GradRule = (n, [dy], c) => {
  if (!dy) return [null];
  const y = n.output![0]!;
  return [c.b.op('Mul', [dy, c.b.op('Mul', [y, c.b.op('Sub', [c.b.constF([1]), y])])])];
};

const hardSigmoid: GradRule = (n, [dy], c) => {
  if (!dy) return [null];
  const alpha = attrFloat(n, 'alpha', 0.2);
  const beta = attrFloat(n, 'beta', 0.5);
  const v = c.b.op('Add', [c.b.op('Mul', [n.input![0]!, c.b.constF([alpha])]), c.b.constF([beta])]);
  const mask = c.b.op('And', [c.b.op('Greater', [v, zero(c)]), c.b.op('Less', [v, c.b.constF([1])])]);
  return [masked(c, mask, c.b.op('Mul', [dy, c.b.constF([alpha])]))];
};

const hardSwish: GradRule = (n, [dy], c) => {
  if (!dy) return [null];
  // y = x relu6(x + 3) / 6: dy/dx = 0 below -3, 1 above 3, x / 3 + 1/2 between (PyTorch's hardswish_backward).
  const x = n.input![0]!;
  const inner = c.b.op('Add', [c.b.op('Mul', [x, c.b.constF([1 / 3])]), c.b.constF([0.5])]);
  const d = c.b.op('Where', [
    c.b.op('Less', [x, c.b.constF([-3])]),
    zero(c),
    c.b.op('Where', [c.b.op('Greater', [x, c.b.constF([3])]), c.b.constF([1]), inner]),
  ]);
  return [c.b.op('Mul', [dy, d])];
};

const pow: GradRule = (n, [dy], c) => {
  if (!dy) return [null, null];
  const [x, e] = [n.input![0]!, n.input![1]!];
  const g = c.b.op('Mul', [dy, c.b.op('Mul', [e, c.b.op('Pow', [x, c.b.op('Sub', [e, c.b.constF([1])])])])]);
  return [sumTo(c.b, g, c.shape(n.output![0]!), c.shape(x)), null];
};

const sqrt: GradRule = (n, [dy], c) => [
  dy ? c.b.op('Div', [c.b.op('Mul', [dy, c.b.constF([0.5])]), n.output![0]!]) : null,
];

const erf: GradRule = (n, [dy], c) => {
  if (!dy) return [null];
  const x = n.input![0]!;
  const e = c.b.op('Exp', [c.b.op('Neg', [c.b.op('Mul', [x, x])])]);
  return [c.b.op('Mul', [dy, c.b.op('Mul', [e, c.b.constF([2 / Math.sqrt(Math.PI)])])])];
};

const tanh: GradRule = (n, [dy], c) => {
  if (!dy) return [null];
  const y = n.output![0]!;
  return [c.b.op('Mul', [dy, c.b.op('Sub', [c.b.constF([1]), c.b.op('Mul', [y, y])])])];
};

const where: GradRule = (n, [dy], c) => {
  if (!dy) return [null, null, null];
  const [cond, a, bb] = n.input!;
  const ys = c.shape(n.output![0]!);
  return [
    null,
    c.needs(a!) ? sumTo(c.b, c.b.op('Where', [cond!, dy, zero(c)]), ys, c.shape(a!)) : null,
    c.needs(bb!) ? sumTo(c.b, c.b.op('Where', [cond!, zero(c), dy]), ys, c.shape(bb!)) : null,
  ];
};

/** Every op the differentiator knows: its differentiable input slots and its rule (opset 17 forms). */
export const GRADIENTS: Readonly<Record<string, OpGradient>> = {
  Conv: { slots: [0, 1, 2], rule: conv },
  Gemm: { slots: [0, 1, 2], rule: gemm },
  MatMul: { slots: [0, 1], rule: matMul },
  BatchNormalization: { slots: [0], rule: batchNorm },
  MaxPool: { slots: [0], rule: maxPool },
  AveragePool: { slots: [0], rule: averagePool },
  GlobalAveragePool: { slots: [0], rule: globalAveragePool },
  Add: { slots: [0, 1], rule: binary('Add') },
  Sub: { slots: [0, 1], rule: binary('Sub') },
  Mul: { slots: [0, 1], rule: binary('Mul') },
  Div: { slots: [0, 1], rule: binary('Div') },
  Pow: { slots: [0], rule: pow },
  Sqrt: { slots: [0], rule: sqrt },
  Erf: { slots: [0], rule: erf },
  Tanh: { slots: [0], rule: tanh },
  Neg: { slots: [0], rule: (_n, [dy], c) => [dy ? c.b.op('Neg', [dy]) : null] },
  Exp: { slots: [0], rule: (n, [dy], c) => [dy ? c.b.op('Mul', [dy, n.output![0]!]) : null] },
  Relu: { slots: [0], rule: relu },
  LeakyRelu: { slots: [0], rule: leakyRelu },
  Clip: { slots: [0], rule: clip },
  Sigmoid: { slots: [0], rule: sigmoid },
  HardSigmoid: { slots: [0], rule: hardSigmoid },
  HardSwish: { slots: [0], rule: hardSwish },
  Softmax: { slots: [0], rule: softmax },
  LogSoftmax: { slots: [0], rule: logSoftmax },
  LayerNormalization: { slots: [0, 1, 2], rule: layerNorm },
  ReduceMean: { slots: [0], rule: reduce(true) },
  ReduceSum: { slots: [0], rule: reduce(false) },
  Flatten: { slots: [0], rule: reshapeBack },
  Reshape: { slots: [0], rule: reshapeBack },
  Squeeze: { slots: [0], rule: reshapeBack },
  Unsqueeze: { slots: [0], rule: reshapeBack },
  Expand: { slots: [0], rule: expand },
  Transpose: { slots: [0], rule: transpose },
  Concat: { slots: [], rule: concat },
  Split: { slots: [0], rule: split },
  Slice: { slots: [0], rule: slice },
  Gather: { slots: [0], rule: gather },
  Pad: { slots: [0], rule: pad },
  Where: { slots: [1, 2], rule: where },
  Identity: { slots: [0], rule: identity },
  Dropout: { slots: [0], rule: identity },
  Cast: { slots: [0], rule: identity },
};

/** The differentiable input slots of a node (Concat: all of them). */
export function diffSlots(n: OnnxNode): number[] {
  if (n.opType === 'Concat' || n.opType === 'Sum') return (n.input ?? []).map((_, i) => i);
  return GRADIENTS[n.opType ?? '']?.slots ?? [];
}
