// The ONNX file format (a protobuf ModelProto) through protobufjs, with the message definitions of the ONNX IR
// (field numbers as in onnx/onnx.proto3, IR version 10) written as a protobufjs JSON descriptor. Pure: bytes in,
// bytes out; reading files is src/data/onnxModel.ts. Every field of the IR is declared, so decoding a model and
// encoding it again keeps everything it held (protobufjs drops fields it does not know).
import protobuf from 'protobufjs';

const rep = (type: string, id: number) => ({ type, id, rule: 'repeated' });
const one = (type: string, id: number) => ({ type, id });
const props = rep('StringStringEntryProto', 0);

/** The ONNX IR message definitions, as a protobufjs JSON descriptor. */
const ONNX_DESCRIPTOR = {
  nested: {
    onnx: {
      nested: {
        StringStringEntryProto: { fields: { key: one('string', 1), value: one('string', 2) } },
        OperatorSetIdProto: { fields: { domain: one('string', 1), version: one('int64', 2) } },
        TensorAnnotation: {
          fields: { tensorName: one('string', 1), quantParameterTensorNames: rep('StringStringEntryProto', 2) },
        },
        AttributeProto: {
          fields: {
            name: one('string', 1),
            refAttrName: one('string', 21),
            docString: one('string', 13),
            type: one('int32', 20),
            f: one('float', 2),
            i: one('int64', 3),
            s: one('bytes', 4),
            t: one('TensorProto', 5),
            g: one('GraphProto', 6),
            sparseTensor: one('SparseTensorProto', 22),
            tp: one('TypeProto', 14),
            floats: rep('float', 7),
            ints: rep('int64', 8),
            strings: rep('bytes', 9),
            tensors: rep('TensorProto', 10),
            graphs: rep('GraphProto', 11),
            sparseTensors: rep('SparseTensorProto', 23),
            typeProtos: rep('TypeProto', 15),
          },
        },
        ValueInfoProto: {
          fields: {
            name: one('string', 1),
            type: one('TypeProto', 2),
            docString: one('string', 3),
            metadataProps: { ...props, id: 4 },
          },
        },
        NodeProto: {
          fields: {
            input: rep('string', 1),
            output: rep('string', 2),
            name: one('string', 3),
            opType: one('string', 4),
            domain: one('string', 7),
            overload: one('string', 8),
            attribute: rep('AttributeProto', 5),
            docString: one('string', 6),
            metadataProps: { ...props, id: 9 },
          },
        },
        TrainingInfoProto: {
          fields: {
            initialization: one('GraphProto', 1),
            algorithm: one('GraphProto', 2),
            initializationBinding: rep('StringStringEntryProto', 3),
            updateBinding: rep('StringStringEntryProto', 4),
          },
        },
        ModelProto: {
          fields: {
            irVersion: one('int64', 1),
            opsetImport: rep('OperatorSetIdProto', 8),
            producerName: one('string', 2),
            producerVersion: one('string', 3),
            domain: one('string', 4),
            modelVersion: one('int64', 5),
            docString: one('string', 6),
            graph: one('GraphProto', 7),
            metadataProps: { ...props, id: 14 },
            trainingInfo: rep('TrainingInfoProto', 20),
            functions: rep('FunctionProto', 25),
          },
        },
        GraphProto: {
          fields: {
            node: rep('NodeProto', 1),
            name: one('string', 2),
            initializer: rep('TensorProto', 5),
            sparseInitializer: rep('SparseTensorProto', 15),
            docString: one('string', 10),
            input: rep('ValueInfoProto', 11),
            output: rep('ValueInfoProto', 12),
            valueInfo: rep('ValueInfoProto', 13),
            quantizationAnnotation: rep('TensorAnnotation', 14),
            metadataProps: { ...props, id: 16 },
          },
        },
        TensorProto: {
          fields: {
            dims: rep('int64', 1),
            dataType: one('int32', 2),
            segment: one('Segment', 3),
            floatData: rep('float', 4),
            int32Data: rep('int32', 5),
            stringData: rep('bytes', 6),
            int64Data: rep('int64', 7),
            name: one('string', 8),
            docString: one('string', 12),
            rawData: one('bytes', 9),
            externalData: rep('StringStringEntryProto', 13),
            dataLocation: one('int32', 14),
            doubleData: rep('double', 10),
            uint64Data: rep('uint64', 11),
            metadataProps: { ...props, id: 16 },
          },
          nested: { Segment: { fields: { begin: one('int64', 1), end: one('int64', 2) } } },
        },
        SparseTensorProto: {
          fields: { values: one('TensorProto', 1), indices: one('TensorProto', 2), dims: rep('int64', 3) },
        },
        TensorShapeProto: {
          fields: { dim: rep('Dimension', 1) },
          nested: {
            Dimension: {
              oneofs: { value: { oneof: ['dimValue', 'dimParam'] } },
              fields: { dimValue: one('int64', 1), dimParam: one('string', 2), denotation: one('string', 3) },
            },
          },
        },
        TypeProto: {
          oneofs: { value: { oneof: ['tensorType', 'sequenceType', 'mapType', 'optionalType', 'sparseTensorType'] } },
          fields: {
            tensorType: one('Tensor', 1),
            sequenceType: one('Sequence', 4),
            mapType: one('Map', 5),
            optionalType: one('Optional', 9),
            sparseTensorType: one('SparseTensor', 8),
            denotation: one('string', 6),
          },
          nested: {
            Tensor: { fields: { elemType: one('int32', 1), shape: one('TensorShapeProto', 2) } },
            Sequence: { fields: { elemType: one('TypeProto', 1) } },
            Map: { fields: { keyType: one('int32', 1), valueType: one('TypeProto', 2) } },
            Optional: { fields: { elemType: one('TypeProto', 1) } },
            SparseTensor: { fields: { elemType: one('int32', 1), shape: one('TensorShapeProto', 2) } },
          },
        },
        FunctionProto: {
          fields: {
            name: one('string', 1),
            input: rep('string', 4),
            output: rep('string', 5),
            attribute: rep('string', 6),
            attributeProto: rep('AttributeProto', 11),
            node: rep('NodeProto', 7),
            docString: one('string', 8),
            opsetImport: rep('OperatorSetIdProto', 9),
            domain: one('string', 10),
            overload: one('string', 13),
            valueInfo: rep('ValueInfoProto', 12),
            metadataProps: { ...props, id: 14 },
          },
        },
      },
    },
  },
};

const root = protobuf.Root.fromJSON(ONNX_DESCRIPTOR);
const ModelType = root.lookupType('onnx.ModelProto');

/** An int64 as protobufjs decodes it: a number, or a Long when the value needs more than 53 bits. */
export type Int64 = number | { toNumber(): number };

/** ONNX TensorProto.DataType values used here. */
export const ONNX_FLOAT = 1;
/** ONNX int32 element type. */
export const ONNX_INT32 = 6;
/** ONNX int64 element type. */
export const ONNX_INT64 = 7;
/** ONNX float64 element type. */
export const ONNX_DOUBLE = 11;

/** A TensorProto (the fields this tool reads or writes). */
export interface OnnxTensor {
  name?: string;
  dims?: Int64[];
  dataType?: number;
  rawData?: Uint8Array;
  floatData?: number[];
  doubleData?: number[];
  int64Data?: Int64[];
  dataLocation?: number;
  externalData?: { key?: string; value?: string }[];
}

/** An AttributeProto. */
export interface OnnxAttribute {
  name?: string;
  type?: number;
  f?: number;
  i?: Int64;
  s?: Uint8Array;
  t?: OnnxTensor;
  ints?: Int64[];
  floats?: number[];
}

/** A NodeProto. */
export interface OnnxNode {
  name?: string;
  opType?: string;
  domain?: string;
  input?: string[];
  output?: string[];
  attribute?: OnnxAttribute[];
}

/** A TensorShapeProto dimension: a size, a symbol (the batch) or neither. */
export interface OnnxDim {
  dimValue?: Int64;
  dimParam?: string;
}

/** A ValueInfoProto of a tensor. */
export interface OnnxValueInfo {
  name?: string;
  type?: { tensorType?: { elemType?: number; shape?: { dim?: OnnxDim[] } } };
}

/** A GraphProto. */
export interface OnnxGraph {
  name?: string;
  node?: OnnxNode[];
  initializer?: OnnxTensor[];
  input?: OnnxValueInfo[];
  output?: OnnxValueInfo[];
  valueInfo?: OnnxValueInfo[];
}

/** A ModelProto. */
export interface OnnxModelProto {
  irVersion?: Int64;
  opsetImport?: { domain?: string; version?: Int64 }[];
  producerName?: string;
  producerVersion?: string;
  graph?: OnnxGraph;
}

/** An int64 field as a JS number. */
export function int64(v: Int64 | undefined | null): number {
  if (v === undefined || v === null) return 0;
  return typeof v === 'number' ? v : v.toNumber();
}

/** Decodes ONNX bytes; throws the protobuf reader's error on bytes that are not a ModelProto. */
export function decodeOnnx(bytes: Uint8Array): OnnxModelProto {
  return ModelType.decode(bytes) as unknown as OnnxModelProto;
}

/** Encodes a ModelProto (decoded by decodeOnnx, or built with the helpers below) to ONNX bytes. */
export function encodeOnnx(model: OnnxModelProto): Uint8Array {
  return ModelType.encode(ModelType.fromObject(model as unknown as Record<string, unknown>)).finish();
}

/** A float32 initializer (raw little-endian data). */
export function floatTensor(name: string, dims: number[], data: Float32Array): OnnxTensor {
  const raw = new Uint8Array(data.length * 4);
  const view = new DataView(raw.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i]!, true);
  return { name, dims, dataType: ONNX_FLOAT, rawData: raw };
}

/** An int64 initializer (for Reshape shapes and the like). */
export function int64Tensor(name: string, dims: number[], data: number[]): OnnxTensor {
  return { name, dims, dataType: ONNX_INT64, int64Data: data };
}

/**
 * The float32 values of a float initializer (raw_data or float_data), or null when it has another type or lives in an
 * external file.
 */
export function tensorFloats(t: OnnxTensor): Float32Array | null {
  if (t.dataType !== ONNX_FLOAT || t.dataLocation === 1) return null;
  const n = (t.dims ?? []).reduce((a: number, d) => a * int64(d), 1);
  if (t.rawData && t.rawData.length > 0) {
    if (t.rawData.length !== n * 4) return null;
    const view = new DataView(t.rawData.buffer, t.rawData.byteOffset, t.rawData.byteLength);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
    return out;
  }
  const f = t.floatData ?? [];
  return f.length === n ? Float32Array.from(f) : null;
}

/** A node with attributes given as plain values (number: float unless listed in ints, number[]: ints). */
export function node(
  opType: string,
  inputs: string[],
  outputs: string[],
  attrs: Record<string, number | number[]> = {},
  intAttrs: string[] = [],
): OnnxNode {
  const attribute: OnnxAttribute[] = Object.entries(attrs).map(([name, v]) => {
    if (Array.isArray(v)) return { name, type: 7, ints: v };
    return intAttrs.includes(name) ? { name, type: 2, i: v } : { name, type: 1, f: v };
  });
  return { opType, input: inputs, output: outputs, name: `${opType}_${outputs[0] ?? ''}`, attribute };
}

/** A float32 (or other element type) graph input or output; a string dimension is symbolic. */
export function valueInfo(name: string, dims: (number | string)[], elemType = ONNX_FLOAT): OnnxValueInfo {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/** A whole model around one graph (IR 8, the default ONNX opset at the given version). */
export function modelOf(graph: OnnxGraph, opset = 17): OnnxModelProto {
  return {
    irVersion: 8,
    opsetImport: [{ domain: '', version: opset }],
    producerName: 'selmix',
    producerVersion: '0.1.0',
    graph,
  };
}
