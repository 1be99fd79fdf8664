// ONNX model files: read and checked (one input, float32 initializers), the classifier head found (by default the
// Gemm, or the MatMul followed by an Add, that produces the graph's output, or the input of a Softmax that does), the
// backbone cut out as its own graph
// (output: the head's input, the features), and the same graph written again with the head's initializers replaced.
// Decoding and encoding go through protobufjs (src/formats/onnx/proto.ts); running graphs is
// src/backend/onnxRuntime.ts.
import { createHash, type Hash } from 'node:crypto';
import { closeSync, openSync, readFileSync, readSync, realpathSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, sep } from 'node:path';
import { DataError } from '../core/errors';
import {
  decodeOnnx,
  encodeOnnx,
  floatTensor,
  int64,
  ONNX_FLOAT,
  tensorFloats,
  type OnnxAttribute,
  type OnnxGraph,
  type OnnxModelProto,
  type OnnxNode,
  type OnnxTensor,
  type OnnxValueInfo,
} from '../formats/onnx/proto';

/**
 * An ONNX file, with its external data, larger than this is refused (protobuf cannot encode more, and ONNX Runtime is
 * handed one buffer).
 */
const MAX_ONNX_BYTES = 2 ** 31 - 1;

/** Bytes per element of the ONNX tensor types with a fixed size, by TensorProto.DataType (string, 8, has none). */
const ELEM_BYTES: Record<number, number> = {
  1: 4,
  2: 1,
  3: 1,
  4: 2,
  5: 2,
  6: 4,
  7: 8,
  9: 1,
  10: 2,
  11: 8,
  12: 4,
  13: 8,
  14: 8,
  15: 16,
  16: 2,
  17: 1,
  18: 1,
  19: 1,
  20: 1,
  21: 1,
  22: 1,
};

/** The classifier head of an ONNX graph: logits = features x W + b. */
export interface OnnxHead {
  /** The head node's name (Gemm or MatMul). */
  node: string;
  kind: 'gemm' | 'matmul-add';
  /** The Add node after a MatMul head. */
  addNode: string | null;
  /** The tensor the head reads: the features (N x d). */
  features: string;
  /** The logits tensor (N x K): the graph output the head produces, or the input of the Softmax that ends the graph. */
  output: string;
  /**
   * A Softmax (or LogSoftmax) after the head, as "name (op)": cut for the logits, kept in the written model; null when
   * none.
   */
  softmax: string | null;
  weightName: string;
  biasName: string | null;
  K: number;
  d: number;
  /** The head as the loop holds it: W (d x K, row-major) and b (K), with Gemm's alpha, beta and transB applied. */
  W: Float32Array;
  b: Float32Array;
}

/** A dimension of the model input: a size, or a symbol / unknown (-1). */
export type InputDim = number;

/** A decoded ONNX model with its head. */
export interface OnnxModelFile {
  path: string;
  /** sha256 of the file and of the external data it names, for the feature cache and the checkpoint fingerprint. */
  digest: string;
  /** The external data files read (absolute), confined to the model's folder; they are inputs of the run. */
  externalFiles: string[];
  proto: OnnxModelProto;
  /** The graph input (the one that is not an initializer). */
  input: { name: string; dims: InputDim[] };
  head: OnnxHead;
}

function nodeLabel(n: OnnxNode): string {
  return `"${n.name || n.output?.[0] || '?'}" (${n.opType})`;
}

function attr(n: OnnxNode, name: string): OnnxAttribute | undefined {
  return n.attribute?.find((a) => a.name === name);
}

function attrFloat(n: OnnxNode, name: string, dflt: number): number {
  const a = attr(n, name);
  return a ? (a.f ?? dflt) : dflt;
}

function attrInt(n: OnnxNode, name: string, dflt: number): number {
  const a = attr(n, name);
  return a ? int64(a.i) : dflt;
}

/** The dims of a value's tensor type: a size, or -1 for a symbol or an unknown dimension. */
export function valueDims(v: OnnxValueInfo): InputDim[] {
  return (v.type?.tensorType?.shape?.dim ?? []).map((d) =>
    d.dimParam ? -1 : d.dimValue !== undefined && d.dimValue !== null && int64(d.dimValue) > 0 ? int64(d.dimValue) : -1,
  );
}

/** Decodes an ONNX file; a file that is not ONNX (or has no graph) is a DataError naming it. */
export function decodeOnnxFile(path: string, bytes: Uint8Array): OnnxModelProto {
  let proto: OnnxModelProto;
  try {
    proto = decodeOnnx(bytes);
  } catch (e) {
    throw new DataError(path, `is not a valid ONNX model (protobuf decoding failed: ${(e as Error).message})`);
  }
  if (!proto.graph || !proto.graph.node?.length)
    throw new DataError(path, 'is not an ONNX model with a graph (no nodes found); export it with torch.onnx.export');
  return proto;
}

/** The bytes of an ONNX file; a missing, unreadable or oversized one is a DataError naming it. */
function readOnnxBytes(path: string): Uint8Array {
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new DataError(path, 'is not a regular file; give the path of an .onnx file');
    if (st.size > MAX_ONNX_BYTES)
      throw new DataError(path, `is ${st.size} bytes; ONNX models over 2 GiB are not supported`);
    return readFileSync(path);
  } catch (e) {
    if (e instanceof DataError) throw e;
    throw new DataError(
      path,
      `cannot read the ONNX model: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
}

/** Reads an ONNX file and finds its head (the node named `headName`, or the one that produces the graph's output). */
export function readOnnxModel(path: string, headName?: string): OnnxModelFile {
  const bytes = readOnnxBytes(path);
  const proto = decodeOnnxFile(path, bytes);
  const hash = createHash('sha256').update(bytes);
  const externalFiles = checkTensors(path, proto, bytes.byteLength, hash);
  const g = proto.graph!;
  const inits = new Set((g.initializer ?? []).map((t) => t.name ?? ''));
  const inputs = (g.input ?? []).filter((v) => !inits.has(v.name ?? ''));
  if (inputs.length !== 1)
    throw new DataError(
      path,
      `the graph has ${inputs.length} inputs (${inputs.map((v) => `"${v.name}"`).join(', ') || 'none'}); SelMix needs a model with one input`,
    );
  const input = inputs[0]!;
  if (input.type?.tensorType?.elemType !== ONNX_FLOAT)
    throw new DataError(path, `the graph input "${input.name}" is not float32`);
  const head = findHead(path, g, headName);
  if (head.K < 1 || head.d < 1)
    throw new DataError(
      path,
      `head node "${head.node}": its weight "${head.weightName}" is ${head.d} x ${head.K} (d x K); a head needs at least one feature and one class`,
    );
  return {
    path,
    digest: hash.digest('hex'),
    externalFiles,
    proto,
    input: { name: input.name!, dims: valueDims(input) },
    head,
  };
}

/** Every tensor of the model (initializers, Constant values, and those of nested subgraphs), with where it sits. */
function tensorsOf(g: OnnxGraph, where: string, out: { t: OnnxTensor; where: string }[]): void {
  for (const t of g.initializer ?? []) out.push({ t, where: `initializer "${t.name ?? ''}"${where}` });
  for (const n of g.node ?? []) {
    const at = `node ${nodeLabel(n)}${where}`;
    for (const a of (n.attribute ?? []) as (OnnxAttribute & {
      tensors?: OnnxTensor[];
      g?: OnnxGraph;
      graphs?: OnnxGraph[];
    })[]) {
      if (a.t) out.push({ t: a.t, where: `the tensor of attribute "${a.name}" of ${at}` });
      for (const t of a.tensors ?? []) out.push({ t, where: `a tensor of attribute "${a.name}" of ${at}` });
      if (a.g) tensorsOf(a.g, ` (in the subgraph "${a.name}" of ${at})`, out);
      for (const sub of a.graphs ?? []) tensorsOf(sub, ` (in a subgraph "${a.name}" of ${at})`, out);
    }
  }
}

/** The count of a tensor's elements from its dims; negative or absurd dims are a DataError naming the tensor. */
function elementCount(path: string, where: string, t: OnnxTensor): number {
  let n = 1;
  for (const d of t.dims ?? []) {
    const v = int64(d);
    if (!Number.isSafeInteger(v) || v < 0)
      throw new DataError(
        path,
        `${where} has dims [${(t.dims ?? []).map(int64).join(', ')}]: a dimension is negative or not an integer`,
      );
    n *= v;
  }
  if (n * (ELEM_BYTES[t.dataType ?? 0] ?? 1) > MAX_ONNX_BYTES)
    throw new DataError(
      path,
      `${where} has dims [${(t.dims ?? []).map(int64).join(', ')}]: ${n} elements, more than an ONNX model can hold (2 GiB)`,
    );
  return n;
}

/**
 * The external data of a tensor, read from the model's own folder: the location must be a relative path below that
 * folder (no absolute path, no "..", no link leading out of it), a regular file holding offset + length bytes, and the
 * length must be what the tensor's dims and type need. Anything else is a DataError naming the model and the tensor.
 */
function readExternal(
  path: string,
  where: string,
  t: OnnxTensor,
  need: number | null,
): { file: string; data: Uint8Array } {
  const entries = new Map((t.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
  const location = entries.get('location');
  const bad = (why: string) =>
    new DataError(path, `${where} keeps its data in an external file${location ? ` "${location}"` : ''}: ${why}`);
  if (!location) throw bad('no "location" is given');
  if (isAbsolute(location) || /^[a-zA-Z]:/.test(location) || location.startsWith('\\'))
    throw bad("the location is an absolute path; external data must sit in the model's folder (a relative path)");
  if (location.split(/[\\/]/).includes('..'))
    throw bad('the location leads out of the model\'s folder (".."); external data must sit in the model\'s folder');
  const base = dirname(path);
  const file = join(base, location);
  let real: string;
  let baseReal: string;
  try {
    real = realpathSync(file);
    baseReal = realpathSync(base);
  } catch (e) {
    throw bad(
      `${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); it is looked up in the model's folder ${base}`,
    );
  }
  const rel = relative(baseReal, real);
  if (rel === '' || rel.startsWith('..' + sep) || rel === '..' || isAbsolute(rel))
    throw bad(`${file} is a link to ${real}, outside the model's folder ${base}`);
  const st = statSync(real);
  if (!st.isFile()) throw bad(`${file} is not a regular file`);
  const num = (key: string): number | null => {
    const v = entries.get(key);
    if (v === undefined || v === '') return null;
    if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v)))
      throw bad(`its "${key}" is ${JSON.stringify(v)}, not a byte count`);
    return Number(v);
  };
  const offset = num('offset') ?? 0;
  const length = num('length');
  const want = need ?? length;
  if (want === null) throw bad('the tensor type has no fixed size, so a "length" is needed');
  if (length !== null && length !== want)
    throw bad(
      `its length is ${length} bytes, but dims [${(t.dims ?? []).map(int64).join(', ')}] of this type take ${want}`,
    );
  if (offset + want > st.size)
    throw bad(`${file} holds ${st.size} bytes; the tensor needs ${want} from offset ${offset} (the file is too short)`);
  const data = Buffer.alloc(want);
  const fd = openSync(real, 'r');
  try {
    let got = 0;
    while (got < want) {
      const r = readSync(fd, data, got, want - got, offset + got);
      if (r === 0) throw bad(`${file} ended after ${got} of ${want} bytes`);
      got += r;
    }
  } finally {
    closeSync(fd);
  }
  return { file: real, data };
}

/** The typed-field values a tensor without raw data holds for its type (-1: a type not checked here). */
function typedCount(t: OnnxTensor): number {
  const full = t as OnnxTensor & { int32Data?: number[]; uint64Data?: unknown[]; stringData?: unknown[] };
  switch (t.dataType) {
    case 1:
      return t.floatData?.length ?? 0;
    case 11:
      return t.doubleData?.length ?? 0;
    case 7:
      return t.int64Data?.length ?? 0;
    case 2:
    case 3:
    case 4:
    case 5:
    case 6:
    case 9:
    case 10:
    case 16:
      return full.int32Data?.length ?? 0;
    default:
      return -1;
  }
}

/**
 * Checks every tensor of the model and brings external data in: dims non-negative and sane, raw data as long as dims
 * and type say, typed data of the right count, float values finite; external data read from the model's folder only
 * (readExternal) and put in the tensor's raw data, so ONNX Runtime, handed the bytes, never resolves a path itself.
 * The bytes read are added to hash. Returns the external files read.
 */
function checkTensors(path: string, proto: OnnxModelProto, fileBytes: number, hash: Hash): string[] {
  const all: { t: OnnxTensor; where: string }[] = [];
  tensorsOf(proto.graph!, '', all);
  const files = new Set<string>();
  let total = fileBytes;
  for (const { t, where } of all) {
    const n = elementCount(path, where, t);
    const size = ELEM_BYTES[t.dataType ?? 0];
    const need = size === undefined ? null : n * size;
    if (t.dataLocation === 1 || (t.externalData?.length ?? 0) > 0) {
      const ext = readExternal(path, where, t, need);
      total += ext.data.byteLength;
      if (total > MAX_ONNX_BYTES)
        throw new DataError(
          path,
          `the model and its external data are over 2 GiB (at ${where}); larger models are not supported`,
        );
      hash.update(`${where}:`).update(ext.data);
      files.add(ext.file);
      t.rawData = ext.data;
      t.dataLocation = 0;
      t.externalData = [];
    } else if (t.rawData && t.rawData.length > 0) {
      if (need !== null && t.rawData.length !== need)
        throw new DataError(
          path,
          `${where} has ${t.rawData.length} bytes of raw data, but dims [${(t.dims ?? []).map(int64).join(', ')}] of its type take ${need}`,
        );
    } else {
      const c = typedCount(t);
      if (c >= 0 && c !== n)
        throw new DataError(
          path,
          `${where} holds ${c} values, but its dims [${(t.dims ?? []).map(int64).join(', ')}] take ${n}`,
        );
    }
    if (t.dataType === ONNX_FLOAT || t.dataType === 11) {
      const v =
        t.dataType === ONNX_FLOAT
          ? tensorFloats(t)
          : t.rawData && t.rawData.length
            ? new Float64Array(Uint8Array.from(t.rawData).buffer)
            : Float64Array.from(t.doubleData ?? []);
      if (v) {
        for (let i = 0; i < v.length; i++) {
          if (!Number.isFinite(v[i]!))
            throw new DataError(
              path,
              `${where} holds ${v[i]} at index ${i}: the model's weights are not finite (the file is damaged or was saved from a diverged training); export a model with finite weights`,
            );
        }
      }
    }
  }
  return [...files];
}

/** The node producing each tensor, and the nodes reading it. */
function graphIndex(g: OnnxGraph): { producer: Map<string, OnnxNode>; consumers: Map<string, OnnxNode[]> } {
  const producer = new Map<string, OnnxNode>();
  const consumers = new Map<string, OnnxNode[]>();
  for (const n of g.node ?? []) {
    for (const o of n.output ?? []) producer.set(o, n);
    for (const i of n.input ?? []) {
      if (!consumers.has(i)) consumers.set(i, []);
      consumers.get(i)!.push(n);
    }
  }
  return { producer, consumers };
}

/** Finds the head; every way it can fail is a DataError naming the file and the node. */
function findHead(path: string, g: OnnxGraph, headName: string | undefined): OnnxHead {
  const { producer, consumers } = graphIndex(g);
  const outputs = (g.output ?? []).map((o) => o.name ?? '');
  const inits = new Map((g.initializer ?? []).map((t) => [t.name ?? '', t]));
  // Only a Gemm or MatMul whose weight is an initializer can be a head (a MatMul of two activations, as in attention,
  // cannot).
  const candidates = (g.node ?? [])
    .filter((n) => (n.opType === 'Gemm' || n.opType === 'MatMul') && inits.has(n.input?.[1] ?? ''))
    .map(nodeLabel);
  const hint = candidates.length
    ? `; its Gemm and MatMul nodes with a weight initializer: ${candidates.slice(-8).join(', ')}`
    : '; it has no Gemm or MatMul node with a weight initializer';
  // Follows Identity nodes down to a graph output; the output's name, or null when something else reads the tensor.
  const reachesOutput = (t: string): string | null => {
    let cur = t;
    for (let hop = 0; hop < 8; hop++) {
      if (outputs.includes(cur)) return cur;
      const next = consumers.get(cur) ?? [];
      if (next.length !== 1 || next[0]!.opType !== 'Identity') return null;
      cur = next[0]!.output![0]!;
    }
    return null;
  };
  const isSoftmax = (n: OnnxNode | undefined) => n?.opType === 'Softmax' || n?.opType === 'LogSoftmax';
  // The logits tensor's end: a graph output, or a Softmax (LogSoftmax) whose output is one (the Softmax is cut).
  const logitsEnd = (t: string): { output: string; softmax: OnnxNode | null } | null => {
    const direct = reachesOutput(t);
    if (direct) return { output: direct, softmax: null };
    const next = consumers.get(t) ?? [];
    if (next.length === 1 && isSoftmax(next[0]) && reachesOutput(next[0]!.output![0]!))
      return { output: t, softmax: next[0]! };
    return null;
  };
  let headNode: OnnxNode;
  if (headName !== undefined) {
    const named = (g.node ?? []).find((n) => n.name === headName);
    if (!named) throw new DataError(path, `has no node named "${headName}" (model.head)${hint}`);
    if (named.opType !== 'Gemm' && named.opType !== 'MatMul')
      throw new DataError(
        path,
        `model.head names node ${nodeLabel(named)}: the head must be a Gemm, or a MatMul followed by an Add${hint}`,
      );
    headNode = named;
  } else {
    if (outputs.length !== 1)
      throw new DataError(
        path,
        `the graph has ${outputs.length} outputs (${outputs.map((o) => `"${o}"`).join(', ')}); name the head node with "model.head"${hint}`,
      );
    let t = outputs[0]!;
    let p = producer.get(t);
    while (p && p.opType === 'Identity') {
      t = p.input![0]!;
      p = producer.get(t);
    }
    // A Softmax at the end (a model exported with its probabilities): the head is before it.
    if (p && isSoftmax(p)) {
      t = p.input![0]!;
      p = producer.get(t);
    }
    if (!p) throw new DataError(path, `the graph output "${outputs[0]}" is not produced by any node`);
    if (p.opType === 'Gemm') headNode = p;
    else if (p.opType === 'Add') {
      const mm = (p.input ?? []).map((i) => producer.get(i)).find((n) => n?.opType === 'MatMul');
      if (!mm)
        throw new DataError(
          path,
          `the graph output "${outputs[0]}" is produced by node ${nodeLabel(p)}, an Add that does not follow a MatMul; name the head node with "model.head"${hint}`,
        );
      headNode = mm;
    } else {
      throw new DataError(
        path,
        `the graph output "${outputs[0]}" comes from node ${nodeLabel(p)}, not from a Gemm or a MatMul followed by an Add (the classifier head, optionally followed by a Softmax); export the model with its last nn.Linear as the output${candidates.length ? `, or name the head with "model.head"${hint}` : hint}`,
      );
    }
  }
  const label = nodeLabel(headNode);
  const [aName, wName, cName] = [headNode.input?.[0] ?? '', headNode.input?.[1] ?? '', headNode.input?.[2] ?? ''];
  const wInit = inits.get(wName);
  if (!wInit)
    throw new DataError(
      path,
      `head node ${label}: its weight "${wName}" is not an initializer (computed weights cannot be fine-tuned)`,
    );
  const wDims = (wInit.dims ?? []).map(int64);
  const wData = floats(path, label, wInit);
  if (wDims.length !== 2)
    throw new DataError(path, `head node ${label}: weight "${wName}" has shape [${wDims.join(', ')}], not 2-D`);
  if ((consumers.get(wName) ?? []).length > 1)
    throw new DataError(
      path,
      `head node ${label}: its weight "${wName}" is shared with other nodes, so it cannot be replaced alone`,
    );
  if (headNode.opType === 'Gemm') {
    if (attrInt(headNode, 'transA', 0) !== 0)
      throw new DataError(
        path,
        `head node ${label} has transA = 1; SelMix supports Gemm heads with transA = 0 (as nn.Linear exports)`,
      );
    const transB = attrInt(headNode, 'transB', 0) !== 0;
    const alpha = attrFloat(headNode, 'alpha', 1);
    const beta = attrFloat(headNode, 'beta', 1);
    const [K, d] = transB ? [wDims[0]!, wDims[1]!] : [wDims[1]!, wDims[0]!];
    const W = new Float32Array(d * K);
    for (let r = 0; r < d; r++)
      for (let k = 0; k < K; k++) W[r * K + k] = alpha * (transB ? wData[k * d + r]! : wData[r * K + k]!);
    let b = new Float32Array(K);
    if (cName) {
      const cInit = inits.get(cName);
      if (!cInit) throw new DataError(path, `head node ${label}: its bias "${cName}" is not an initializer`);
      const c = floats(path, label, cInit);
      if (c.length !== K)
        throw new DataError(
          path,
          `head node ${label}: bias "${cName}" has ${c.length} entries for K = ${K} classes (broadcast biases are not supported)`,
        );
      if ((consumers.get(cName) ?? []).length > 1)
        throw new DataError(path, `head node ${label}: its bias "${cName}" is shared with other nodes`);
      b = Float32Array.from(c, (v) => beta * v);
    }
    const end = logitsEnd(headNode.output![0]!);
    if (!end)
      throw new DataError(
        path,
        `head node ${label} does not produce the graph's output (other nodes read its result); the head must be the last layer (a Softmax after it is allowed)${hint}`,
      );
    return {
      node: headNode.name ?? '',
      kind: 'gemm',
      addNode: null,
      features: aName,
      output: end.output,
      softmax: end.softmax ? nodeLabel(end.softmax) : null,
      weightName: wName,
      biasName: cName || null,
      K,
      d,
      W,
      b,
    };
  }
  // MatMul(features, W[d, K]) then Add(., b[K]).
  const [d, K] = [wDims[0]!, wDims[1]!];
  const next = consumers.get(headNode.output![0]!) ?? [];
  const add = next.length === 1 && next[0]!.opType === 'Add' ? next[0]! : null;
  if (!add) throw new DataError(path, `head node ${label} (MatMul) is not followed by a single Add of a bias`);
  const bName = (add.input ?? []).find((i) => i !== headNode.output![0]) ?? '';
  const bInit = inits.get(bName);
  if (!bInit)
    throw new DataError(path, `head node ${label}: the bias "${bName}" of ${nodeLabel(add)} is not an initializer`);
  const b = floats(path, label, bInit);
  if (b.length !== K)
    throw new DataError(path, `head node ${label}: bias "${bName}" has ${b.length} entries for K = ${K} classes`);
  const end = logitsEnd(add.output![0]!);
  if (!end)
    throw new DataError(
      path,
      `head node ${label}: its Add ${nodeLabel(add)} does not produce the graph's output; the head must be the last layer (a Softmax after it is allowed)${hint}`,
    );
  return {
    node: headNode.name ?? '',
    kind: 'matmul-add',
    addNode: add.name ?? '',
    features: aName,
    output: end.output,
    softmax: end.softmax ? nodeLabel(end.softmax) : null,
    weightName: wName,
    biasName: bName,
    K,
    d,
    W: Float32Array.from(wData),
    b: Float32Array.from(b),
  };
}

function floats(path: string, label: string, t: OnnxTensor): Float32Array {
  const f = tensorFloats(t);
  if (!f)
    throw new DataError(
      path,
      `head node ${label}: initializer "${t.name}" is not float32 data (other types are not supported for the head)`,
    );
  return f;
}

/** The nodes needed to compute `targets` from the graph inputs, in their original (topological) order. */
function ancestors(g: OnnxGraph, targets: string[]): OnnxNode[] {
  const { producer } = graphIndex(g);
  const keep = new Set<OnnxNode>();
  const stack = [...targets];
  while (stack.length) {
    const t = stack.pop()!;
    const p = producer.get(t);
    if (!p || keep.has(p)) continue;
    keep.add(p);
    stack.push(...(p.input ?? []).filter(Boolean));
  }
  return (g.node ?? []).filter((n) => keep.has(n));
}

/** The backbone as its own ONNX model: the graph up to the head's input, whose one output is the features (N x d). */
export function backboneBytes(m: OnnxModelFile): Uint8Array {
  const g = m.proto.graph!;
  const nodes = ancestors(g, [m.head.features]);
  const used = new Set(nodes.flatMap((n) => n.input ?? []));
  const graph: OnnxGraph = {
    ...g,
    node: nodes,
    initializer: (g.initializer ?? []).filter((t) => used.has(t.name ?? '')),
    input: (g.input ?? []).filter((v) => v.name === m.input.name || used.has(v.name ?? '')),
    output: [
      {
        name: m.head.features,
        type: { tensorType: { elemType: ONNX_FLOAT, shape: { dim: [{ dimParam: 'N' }, { dimValue: m.head.d }] } } },
      },
    ],
    valueInfo: (g.valueInfo ?? []).filter((v) => v.name !== m.head.features),
  };
  return encodeOnnx({ ...m.proto, graph });
}

/**
 * The graph with the logits tensor as an extra output when a Softmax ends it (ONNX Runtime fetches graph outputs only).
 */
function exposingLogits(m: OnnxModelFile, g: OnnxGraph): OnnxGraph {
  if (!m.head.softmax || (g.output ?? []).some((o) => o.name === m.head.output)) return g;
  const logits: OnnxValueInfo = {
    name: m.head.output,
    type: { tensorType: { elemType: ONNX_FLOAT, shape: { dim: [{ dimParam: 'N' }, { dimValue: m.head.K }] } } },
  };
  return {
    ...g,
    output: [...(g.output ?? []), logits],
    valueInfo: (g.valueInfo ?? []).filter((v) => v.name !== m.head.output),
  };
}

/**
 * The whole model as ONNX bytes, e.g. to evaluate it: unchanged, except that a Softmax-ended graph also outputs its
 * logits.
 */
export function modelBytes(m: OnnxModelFile): Uint8Array {
  return encodeOnnx({ ...m.proto, graph: exposingLogits(m, m.proto.graph!) });
}

/**
 * The same model with the head's initializers replaced by W (d x K, row-major) and b (K): the weight keeps its layout
 * (transB as exported), and a Gemm gets alpha = beta = 1 (its old scales are folded into the new values).
 */
export function withHead(
  m: OnnxModelFile,
  W: Float32Array,
  b: Float32Array,
  opts: { exposeLogits?: boolean } = {},
): Uint8Array {
  const { head } = m;
  const { d, K } = head;
  if (W.length !== d * K || b.length !== K)
    throw new RangeError(`withHead: W has ${W.length} entries and b ${b.length} for d = ${d}, K = ${K}`);
  const g = m.proto.graph!;
  const headNode = (g.node ?? []).find((n) => n.name === head.node && (n.opType === 'Gemm' || n.opType === 'MatMul'))!;
  const transB = head.kind === 'gemm' && attrInt(headNode, 'transB', 0) !== 0;
  const wOut = new Float32Array(d * K);
  for (let r = 0; r < d; r++) for (let k = 0; k < K; k++) wOut[transB ? k * d + r : r * K + k] = W[r * K + k]!;
  const oldW = (g.initializer ?? []).find((t) => t.name === head.weightName)!;
  const replaced = new Map<string, OnnxTensor>([
    [head.weightName, floatTensor(head.weightName, (oldW.dims ?? []).map(int64), wOut)],
  ]);
  let nodes = g.node ?? [];
  let extra: OnnxTensor[] = [];
  if (head.biasName) {
    const oldB = (g.initializer ?? []).find((t) => t.name === head.biasName)!;
    replaced.set(head.biasName, floatTensor(head.biasName, (oldB.dims ?? []).map(int64), b));
  } else {
    // A Gemm exported without a bias gets one (as its third input).
    const name = `${head.weightName}_selmix_bias`;
    extra = [floatTensor(name, [K], b)];
    nodes = nodes.map((n) => (n === headNode ? { ...n, input: [...(n.input ?? []).slice(0, 2), name] } : n));
  }
  if (head.kind === 'gemm') {
    nodes = nodes.map((n) => {
      if (n.name !== head.node || n.opType !== 'Gemm') return n;
      const rest = (n.attribute ?? []).filter((a) => a.name !== 'alpha' && a.name !== 'beta');
      return { ...n, attribute: [...rest, { name: 'alpha', type: 1, f: 1 }, { name: 'beta', type: 1, f: 1 }] };
    });
  }
  const graph: OnnxGraph = {
    ...g,
    node: nodes,
    initializer: [...(g.initializer ?? []).map((t) => replaced.get(t.name ?? '') ?? t), ...extra],
  };
  return encodeOnnx({ ...m.proto, graph: opts.exposeLogits ? exposingLogits(m, graph) : graph });
}

/**
 * The same model with trained initializers replaced by name (any float initializer; same element count) and the head's
 * replaced by W (d x K) and b as withHead does; everything else in the graph is unchanged.
 */
export function withInitializers(
  m: OnnxModelFile,
  values: Map<string, Float32Array>,
  W: Float32Array,
  b: Float32Array,
): Uint8Array {
  const g = m.proto.graph!;
  const initializer = (g.initializer ?? []).map((t) => {
    const v = values.get(t.name ?? '');
    if (!v) return t;
    const dims = (t.dims ?? []).map(int64);
    if (dims.reduce((a, x) => a * x, 1) !== v.length)
      throw new RangeError(
        `withInitializers: "${t.name}" has ${dims.join('x')} entries in the model, ${v.length} given`,
      );
    return floatTensor(t.name!, dims, v);
  });
  return withHead({ ...m, proto: { ...m.proto, graph: { ...g, initializer } } }, W, b);
}
