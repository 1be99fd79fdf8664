// A small IR over ONNX NodeProtos for building graphs: attribute readers, tagged attribute values, and a builder that
// emits nodes with fresh names and float / int64 constants. Pure (no fs, no ONNX Runtime).
import { floatTensor, int64, int64Tensor, type OnnxAttribute, type OnnxNode, type OnnxTensor } from './proto';

/** An attribute value as the builder takes it: tagged, so 1 as an int and 1.0 as a float cannot be confused. */
export type AttrValue = { i: number } | { f: number } | { ints: number[] } | { floats: number[] } | { s: string };

/** Static shapes of the graph's float and int values (every dimension known). */
export type ShapeMap = Map<string, number[]>;

/** An int attribute. */
export const ai = (i: number): AttrValue => ({ i });
/** A float attribute. */
export const af = (f: number): AttrValue => ({ f });
/** An ints attribute. */
export const aints = (ints: number[]): AttrValue => ({ ints });
/** A string attribute. */
export const as = (s: string): AttrValue => ({ s });

/** The AttributeProto of a tagged value. */
function toAttribute(name: string, v: AttrValue): OnnxAttribute {
  if ('i' in v) return { name, type: 2, i: v.i };
  if ('f' in v) return { name, type: 1, f: v.f };
  if ('ints' in v) return { name, type: 7, ints: v.ints };
  if ('floats' in v) return { name, type: 6, floats: v.floats };
  return { name, type: 3, s: new TextEncoder().encode(v.s) };
}

/** A node's attribute by name. */
export function attrOf(n: OnnxNode, name: string): OnnxAttribute | undefined {
  return n.attribute?.find((a) => a.name === name);
}

/** An int attribute, or dflt. */
export function attrInt(n: OnnxNode, name: string, dflt: number): number {
  const a = attrOf(n, name);
  return a && a.i !== undefined && a.i !== null ? int64(a.i) : dflt;
}

/** A float attribute, or dflt. */
export function attrFloat(n: OnnxNode, name: string, dflt: number): number {
  const a = attrOf(n, name);
  return a && a.f !== undefined && a.f !== null ? a.f : dflt;
}

/** An ints attribute, or dflt. */
export function attrInts(n: OnnxNode, name: string, dflt: number[] | null): number[] | null {
  const a = attrOf(n, name);
  return a && a.ints && a.ints.length ? a.ints.map(int64) : dflt;
}

/** A string attribute, or dflt. */
export function attrString(n: OnnxNode, name: string, dflt: string): string {
  const a = attrOf(n, name);
  return a?.s && a.s.length ? new TextDecoder().decode(a.s) : dflt;
}

/** A copy of a node with attributes set (replacing those of the same name) and others removed. */
export function withAttrs(n: OnnxNode, set: Record<string, AttrValue>, remove: string[] = []): OnnxNode {
  const keep = (n.attribute ?? []).filter((a) => !(a.name! in set) && !remove.includes(a.name!));
  return { ...n, attribute: [...keep, ...Object.entries(set).map(([k, v]) => toAttribute(k, v))] };
}

/** How a node is named in messages: its name (or first output) and op type. */
export function nodeLabel(n: OnnxNode): string {
  return `"${n.name || n.output?.[0] || '?'}" (${n.opType})`;
}

/** The number of elements of a shape. */
export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Emits nodes and constants with names under one prefix. */
export class GraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxTensor[] = [];
  private count = 0;
  private readonly consts = new Map<string, string>();

  constructor(private readonly prefix: string) {}

  /** A fresh value name. */
  fresh(hint: string): string {
    return `${this.prefix}${hint}_${this.count++}`;
  }

  /** Emits one node; returns its outputs (fresh names unless given). */
  emitN(
    opType: string,
    inputs: string[],
    nOut: number,
    attrs: Record<string, AttrValue> = {},
    outputs?: string[],
  ): string[] {
    const outs = outputs ?? Array.from({ length: nOut }, () => this.fresh(opType.toLowerCase()));
    this.nodes.push({
      opType,
      input: inputs,
      output: outs,
      name: `${this.prefix}${opType}_${this.count++}`,
      attribute: Object.entries(attrs).map(([k, v]) => toAttribute(k, v)),
    });
    return outs;
  }

  /** Emits one node with one output; returns it. */
  op(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, output?: string): string {
    return this.emitN(opType, inputs, 1, attrs, output ? [output] : undefined)[0]!;
  }

  /** A float32 constant (shared by value and shape). */
  constF(values: ArrayLike<number>, dims: number[] = []): string {
    const key = `f:${dims.join(',')}:${Array.from(values).join(',')}`;
    const seen = values.length <= 16 ? this.consts.get(key) : undefined;
    if (seen) return seen;
    const name = this.fresh('cf');
    this.initializers.push(floatTensor(name, dims, Float32Array.from(values)));
    if (values.length <= 16) this.consts.set(key, name);
    return name;
  }

  /** An int64 constant (shared by value and shape); a 1-D vector by default. */
  constI(values: number[], dims: number[] = [values.length]): string {
    const key = `i:${dims.join(',')}:${values.join(',')}`;
    const seen = values.length <= 64 ? this.consts.get(key) : undefined;
    if (seen) return seen;
    const name = this.fresh('ci');
    this.initializers.push(int64Tensor(name, dims, values));
    if (values.length <= 64) this.consts.set(key, name);
    return name;
  }

  /** Reshape x to a static shape. */
  reshape(x: string, shape: number[]): string {
    return this.op('Reshape', [x, this.constI(shape)]);
  }

  /** A float32 tensor of zeros of a static shape. */
  zeros(shape: number[]): string {
    return this.op('ConstantOfShape', [this.constI(shape)], {});
  }

  /** ReduceSum over axes (opset 13 and later: axes as an input). */
  reduceSum(x: string, axes: number[], keepdims: boolean): string {
    return this.op('ReduceSum', [x, this.constI(axes)], { keepdims: ai(keepdims ? 1 : 0) });
  }
}
