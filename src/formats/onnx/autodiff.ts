// Reverse-mode differentiation of an ONNX graph into ONNX nodes: element types inferred statically (so integer shape
// arithmetic is never differentiated), the trainable parameters found (float initializers with more than one element
// that reach the loss through a differentiable input slot, BatchNormalization's inputs excepted: it is frozen), ops
// outside the registry on a parameter's path refused by name, and the backward pass emitted node by node in reverse,
// gradients of a value used twice summed. Pure.
import { int64, ONNX_FLOAT, ONNX_INT64, type OnnxGraph, type OnnxNode } from './proto';
import { attrInt, attrOf, nodeLabel, type GraphBuilder, type ShapeMap } from './graph';
import { diffSlots, GradientError, GRADIENTS, type GradContext } from './gradients';

const ONNX_BOOL = 9;

/** Element types of every value the graph computes (1 float, 7 int64, 9 bool, 0 unknown). */
export function elementTypes(g: OnnxGraph, extra: OnnxNode[] = []): Map<string, number> {
  const t = new Map<string, number>();
  for (const v of g.input ?? []) t.set(v.name ?? '', v.type?.tensorType?.elemType ?? 0);
  for (const i of g.initializer ?? []) t.set(i.name ?? '', i.dataType ?? 0);
  const bools = new Set([
    'Equal',
    'Less',
    'Greater',
    'LessOrEqual',
    'GreaterOrEqual',
    'And',
    'Or',
    'Not',
    'Xor',
    'IsNaN',
    'IsInf',
  ]);
  const ints = new Set(['Shape', 'Size', 'ArgMax', 'ArgMin', 'NonZero']);
  for (const n of [...(g.node ?? []), ...extra]) {
    const op = n.opType ?? '';
    const first = t.get(n.input?.[0] ?? '') ?? 0;
    (n.output ?? []).forEach((o, k) => {
      let e = first;
      if (bools.has(op)) e = ONNX_BOOL;
      else if (ints.has(op)) e = ONNX_INT64;
      else if (op === 'Cast') e = attrInt(n, 'to', 0);
      else if (op === 'Constant') {
        const a = n.attribute?.[0];
        e = a?.t
          ? (a.t.dataType ?? 0)
          : a?.name === 'value_float' || a?.name === 'value_floats'
            ? ONNX_FLOAT
            : a?.name === 'value_int' || a?.name === 'value_ints'
              ? ONNX_INT64
              : 0;
      } else if (op === 'ConstantOfShape') e = attrOf(n, 'value')?.t?.dataType ?? ONNX_FLOAT;
      else if (op === 'Where') e = t.get(n.input?.[1] ?? '') ?? 0;
      else if (op === 'MaxPool' && k === 1) e = ONNX_INT64;
      else if (op === 'Dropout' && k === 1) e = ONNX_BOOL;
      t.set(o, e);
    });
  }
  return t;
}

/** What the differentiator finds in a graph for a loss on one value (the logits). */
export interface NetworkAnalysis {
  /** Trainable parameters, in the graph's initializer order. */
  params: string[];
  /** Nodes on a parameter's path to the logits whose op has no gradient rule. */
  unsupported: OnnxNode[];
  /** Values that depend on a trainable parameter (they need a gradient). */
  active: Set<string>;
}

/**
 * The float initializers (more than one element) that reach `target` through differentiable slots, and what blocks
 * them.
 */
export function analyseGraph(g: OnnxGraph, target: string): NetworkAnalysis {
  const types = elementTypes(g);
  const nodes = g.node ?? [];
  const frozen = new Set<string>();
  for (const n of nodes) if (n.opType === 'BatchNormalization') (n.input ?? []).slice(1).forEach((i) => frozen.add(i));
  const candidates = (g.initializer ?? [])
    .filter(
      (t) =>
        t.dataType === ONNX_FLOAT &&
        (t.dims ?? []).reduce((a: number, d) => a * int64(d), 1) > 1 &&
        !frozen.has(t.name ?? ''),
    )
    .map((t) => t.name ?? '');
  const known = (n: OnnxNode) => (n.domain ?? '') === '' && (n.opType ?? '') in GRADIENTS;
  const slotsOf = (n: OnnxNode) => (known(n) ? diffSlots(n) : (n.input ?? []).map((_, i) => i));
  const active = new Set(candidates);
  for (const n of nodes) {
    const ins = n.input ?? [];
    if (!slotsOf(n).some((k) => ins[k] && active.has(ins[k]))) continue;
    for (const o of n.output ?? []) if (types.get(o) === ONNX_FLOAT) active.add(o);
  }
  const useful = new Set([target]);
  const unsupported: OnnxNode[] = [];
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i]!;
    if (!(n.output ?? []).some((o) => useful.has(o))) continue;
    const ins = n.input ?? [];
    if (!known(n) && ins.some((x) => active.has(x))) unsupported.push(n);
    for (const k of slotsOf(n)) if (ins[k]) useful.add(ins[k]);
  }
  return { params: candidates.filter((p) => useful.has(p)), unsupported: unsupported.reverse(), active };
}

/** The values that depend on `from` through differentiable slots (float values only). */
export function activeValues(nodes: OnnxNode[], from: Iterable<string>, types: Map<string, number>): Set<string> {
  const active = new Set(from);
  for (const n of nodes) {
    const ins = n.input ?? [];
    if (!diffSlots(n).some((k) => ins[k] && active.has(ins[k]))) continue;
    for (const o of n.output ?? []) if (types.get(o) === ONNX_FLOAT) active.add(o);
  }
  return active;
}

/** What the backward pass needs besides the nodes. */
export interface BackwardInput {
  b: GraphBuilder;
  /** The forward nodes, in topological order. */
  nodes: OnnxNode[];
  /** Gradients of the loss with respect to some values (the seeds: the logits). */
  seeds: Map<string, string>;
  /** The values whose gradients are wanted (parameters, and the input when asked). */
  wrt: string[];
  shape(name: string): number[];
  ints(name: string): number[] | null;
  types: Map<string, number>;
}

/**
 * Emits the backward pass into b; returns the gradient of each wrt value (a zero tensor when the loss does not depend
 * on it). A node without a rule on the path is a GradientError naming it.
 */
export function backward(o: BackwardInput): Map<string, string> {
  const { b, nodes } = o;
  const active = activeValues(nodes, o.wrt, o.types);
  const grads = new Map<string, string[]>();
  for (const [v, g] of o.seeds) grads.set(v, [g]);
  const total = (v: string): string | null => {
    const l = grads.get(v);
    if (!l || !l.length) return null;
    if (l.length === 1) return l[0]!;
    const s = b.op('Sum', l);
    grads.set(v, [s]);
    return s;
  };
  const ctx: GradContext = { b, shape: o.shape, ints: o.ints, needs: (v) => active.has(v) };
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i]!;
    if (!(n.output ?? []).some((x) => grads.has(x))) continue;
    const ins = n.input ?? [];
    const slots = diffSlots(n);
    if (!slots.some((k) => ins[k] && active.has(ins[k]))) continue;
    const entry = (n.domain ?? '') === '' ? GRADIENTS[n.opType ?? ''] : undefined;
    if (!entry) throw new GradientError(n, 'no gradient rule for this op');
    const res = entry.rule(n, (n.output ?? []).map(total), ctx);
    res.forEach((g, k) => {
      const x = ins[k];
      if (!g || !x || !active.has(x) || !slots.includes(k)) return;
      if (!grads.has(x)) grads.set(x, []);
      grads.get(x)!.push(g);
    });
  }
  const out = new Map<string, string>();
  for (const w of o.wrt) out.set(w, total(w) ?? b.zeros(o.shape(w)));
  return out;
}

/** The static shape lookup of a ShapeMap, throwing a named error for a value that was not probed. */
export function shapeLookup(shapes: ShapeMap): (name: string) => number[] {
  return (name) => {
    const s = shapes.get(name);
    if (!s) throw new Error(`no static shape for the value "${name}"`);
    return s;
  };
}

/** A one-line description of unsupported nodes (at most 6 named). */
export function describeUnsupported(nodes: OnnxNode[]): string {
  const names = nodes.slice(0, 6).map(nodeLabel).join(', ');
  return nodes.length > 6 ? `${names} and ${nodes.length - 6} more` : names;
}
