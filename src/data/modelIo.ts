// tfjs LayersModel files (model.json + binary weight shards) read and written with node:fs, so no tfjs-node is needed.
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { DataError } from '../core/errors';
import { writeFileAtomic } from './atomicWrite';
import { readInputFile } from './inputFile';

/** A model.json larger than this is not a model description (its weights live in the shards). */
const MAX_MODEL_JSON_BYTES = 64 * 2 ** 20;

type WeightsManifestEntry = tf.io.WeightsManifestEntry;

const DTYPE_BYTES: Record<string, number> = {
  float32: 4,
  int32: 4,
  bool: 1,
  complex64: 8,
  uint8: 1,
  uint16: 2,
  float16: 2,
};

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Bytes one weight takes in a shard (its quantized dtype when quantized); null for variable-size strings. */
function specBytes(spec: WeightsManifestEntry): number | null {
  const dtype = spec.quantization?.dtype ?? spec.dtype;
  const per = DTYPE_BYTES[dtype];
  if (per === undefined) return null;
  return spec.shape.reduce((a, b) => a * b, 1) * per;
}

function readJson(path: string): unknown {
  if (!existsSync(path)) throw new DataError(path, 'model file not found');
  const text = readInputFile(path, MAX_MODEL_JSON_BYTES).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new DataError(path, `model file is not valid JSON: ${(e as Error).message}`);
  }
}

/** Reads model.json and its weight shards into ModelArtifacts, checking each group's byte size against the manifest. */
function readArtifacts(modelJsonPath: string): tf.io.ModelArtifacts {
  const json = readJson(modelJsonPath);
  if (!isRecord(json) || !isRecord(json.modelTopology))
    throw new DataError(
      modelJsonPath,
      "field 'modelTopology' is missing or not an object (not a tfjs LayersModel file)",
    );
  const manifest = json.weightsManifest ?? [];
  if (!Array.isArray(manifest)) throw new DataError(modelJsonPath, "field 'weightsManifest' is not an array");
  const dir = dirname(resolve(modelJsonPath));
  const specs: WeightsManifestEntry[] = [];
  const buffers: Uint8Array[] = [];
  manifest.forEach((group: unknown, g) => {
    if (!isRecord(group) || !Array.isArray(group.paths) || !Array.isArray(group.weights)) {
      throw new DataError(modelJsonPath, `field 'weightsManifest[${g}]' needs 'paths' and 'weights' arrays`);
    }
    let expected = 0;
    (group.weights as unknown[]).forEach((w, j) => {
      if (
        !isRecord(w) ||
        typeof w.name !== 'string' ||
        typeof w.dtype !== 'string' ||
        !Array.isArray(w.shape) ||
        !w.shape.every((s) => Number.isInteger(s) && s >= 0)
      ) {
        throw new DataError(modelJsonPath, `field 'weightsManifest[${g}].weights[${j}]' needs name, dtype and shape`);
      }
      const bytes = specBytes(w as unknown as WeightsManifestEntry);
      if (bytes === null)
        throw new DataError(
          modelJsonPath,
          `field 'weightsManifest[${g}].weights[${j}]' (${w.name}) has unsupported dtype '${String((w as { quantization?: { dtype?: string } }).quantization?.dtype ?? w.dtype)}'`,
        );
      expected += bytes;
      specs.push(w as unknown as WeightsManifestEntry);
    });
    const shardFiles: string[] = [];
    let actual = 0;
    const parts: Uint8Array[] = [];
    (group.paths as unknown[]).forEach((p, j) => {
      if (typeof p !== 'string')
        throw new DataError(modelJsonPath, `field 'weightsManifest[${g}].paths[${j}]' is not a string`);
      const shard = resolve(dir, p);
      const rel = relative(dir, shard);
      if (isAbsolute(p) || rel.startsWith('..') || isAbsolute(rel)) {
        throw new DataError(
          modelJsonPath,
          `field 'weightsManifest[${g}].paths[${j}]' ("${p}") points outside the model's folder`,
        );
      }
      let buf: Buffer;
      try {
        buf = readInputFile(shard);
      } catch (e) {
        throw new DataError(
          shard,
          `cannot read weight shard listed in ${modelJsonPath} (weightsManifest[${g}].paths[${j}]): ${(e as Error).message.replace(`${shard}: `, '')}`,
        );
      }
      shardFiles.push(shard);
      parts.push(buf);
      actual += buf.byteLength;
    });
    if (actual !== expected) {
      throw new DataError(
        shardFiles.length === 1 ? shardFiles[0]! : modelJsonPath,
        `weight data is ${actual} bytes, but weightsManifest[${g}] in ${modelJsonPath} describes ${expected} bytes (shards: ${shardFiles.join(', ') || 'none'})`,
      );
    }
    buffers.push(...parts);
  });
  const total = buffers.reduce((a, b) => a + b.byteLength, 0);
  const weightData = new Uint8Array(total);
  let off = 0;
  for (const b of buffers) {
    weightData.set(b, off);
    off += b.byteLength;
  }
  const artifacts: tf.io.ModelArtifacts = {
    modelTopology: json.modelTopology as tf.io.ModelArtifacts['modelTopology'],
    weightSpecs: specs,
    weightData: weightData.buffer,
  };
  if (typeof json.format === 'string') artifacts.format = json.format;
  if (typeof json.generatedBy === 'string') artifacts.generatedBy = json.generatedBy;
  if (typeof json.convertedBy === 'string' || json.convertedBy === null)
    artifacts.convertedBy = json.convertedBy as string | null;
  if (isRecord(json.trainingConfig)) artifacts.trainingConfig = json.trainingConfig as unknown as tf.io.TrainingConfig;
  if (isRecord(json.userDefinedMetadata))
    artifacts.userDefinedMetadata = json.userDefinedMetadata as tf.io.ModelArtifacts['userDefinedMetadata'];
  return artifacts;
}

/** Loads a tfjs LayersModel from model.json and its weight shards on disk (no tfjs-node). */
export async function loadLayersModelFromFile(modelJsonPath: string): Promise<tf.LayersModel> {
  const artifacts = readArtifacts(modelJsonPath);
  const handler: tf.io.IOHandler = { load: async () => artifacts };
  try {
    return await tf.loadLayersModel(handler);
  } catch (e) {
    throw new DataError(modelJsonPath, `cannot build the model: ${(e as Error).message}`);
  }
}

/** Saves a LayersModel as dir/model.json + dir/weights.bin, each written atomically (weights first). */
export async function saveLayersModelToDir(model: tf.LayersModel, dir: string): Promise<void> {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new DataError(dir, `cannot create model folder: ${(e as Error).message}`);
  }
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weightData =
        artifacts.weightData === undefined ? new ArrayBuffer(0) : tf.io.CompositeArrayBuffer.join(artifacts.weightData);
      writeFileAtomic(join(dir, 'weights.bin'), new Uint8Array(weightData));
      const modelJson: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology as tf.io.ModelJSON['modelTopology'],
        weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs ?? [] }],
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy ?? `TensorFlow.js tfjs-layers v${tf.version_layers}`,
        convertedBy: artifacts.convertedBy ?? null,
      };
      if (artifacts.trainingConfig) modelJson.trainingConfig = artifacts.trainingConfig;
      if (artifacts.userDefinedMetadata) modelJson.userDefinedMetadata = artifacts.userDefinedMetadata;
      // model.json last: it is what readers open, so it never points at weights that are not there yet.
      writeFileAtomic(join(dir, 'model.json'), JSON.stringify(modelJson));
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    }),
  );
}
