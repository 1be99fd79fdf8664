// ONNX models in the run: loading (the head as the loop's linear model, images preprocessed into the model's input
// layout), feature extraction on ONNX Runtime (batched, with progress logs, cached by model and data hash), the
// fine-tuned model.onnx (the same graph, the head's initializers replaced) checked against the tool's head on the
// validation set before it is written, and evaluation of the whole graph. With model.freezeBackbone false (the
// default) the whole network trains on ONNX Runtime through training graphs this tool builds
// (src/formats/onnx/networkStep.ts, run by src/backend/onnxNetworkStep.ts): the model is checked for ops without a
// gradient before any data is read, its backbone becomes the loop's Backbone, and model.onnx carries every trained
// initializer.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { OrtSession, probeOnnxRuntime } from '../backend/onnxRuntime';
import type { SelmixConfig } from '../core/config';
import { CancelledError, DataError, TrainingError } from '../core/errors';
import type { ExampleSet } from '../core/training/evaluate';
import { linearModel, type SelmixModel } from '../core/training/model';
import type { FinetuneData } from '../core/training/train';
import type { RunEvent } from '../protocol/messages';
import type { StageEnter } from './progress';
import { writeFilesAtomic } from '../data/atomicWrite';
import { readInputFile } from '../data/inputFile';
import { encodeNpy, parseNpy } from '../data/npy';
import {
  backboneBytes,
  modelBytes,
  readOnnxModel,
  withHead,
  withInitializers,
  type OnnxModelFile,
} from '../data/onnxModel';
import { OrtNetwork, probeNetwork } from '../backend/onnxNetworkStep';
import { describeUnsupported } from '../formats/onnx/autodiff';
import { networkModel, type NetworkModel } from '../formats/onnx/networkStep';
import { TRAINING_OPSET } from '../formats/onnx/opsetNormalize';
import { tensorFloats } from '../formats/onnx/proto';
import type { NetworkTrainerFactory } from '../core/training/networkStep';
import type { ImageLayout } from '../core/training/inputMix';
import type { AugmentSpec } from '../core/training/augment';
import { resolveSteps } from '../core/training/train';
import type { ImageTransform } from '../data/images';
import { inputBatch } from './imageSource';
import { PREPROCESS_PRESETS } from '../core/config';
import { transformedSize, transformInto, type TransformPlan } from '../formats/imageTransforms';

type OnnxModelConfig = Extract<NonNullable<SelmixConfig['model']>, { kind: 'onnx' }>;

/** The examples per ONNX Runtime call when the model's batch dimension is symbolic. */
const BATCH = 64;
/** The largest difference allowed between the written model's logits and the tool's head (features x W + b). */
export const ONNX_LOGIT_TOLERANCE = 1e-4;

/** ONNX Runtime, or a DataError naming the model file when it cannot run ONNX models here. */
function requireOrt(file: string): void {
  const p = probeOnnxRuntime();
  if (!p.ok) throw new DataError(file, `ONNX models run on ONNX Runtime, which is not available here: ${p.detail}`);
}

/**
 * Loads an ONNX model config: the file read and its head found; the head as the loop's linear model, whose inputShape
 * is the ONNX input's.
 */
export function loadOnnxModel(
  m: OnnxModelConfig,
  path: string,
): { model: SelmixModel; onnx: OnnxModelFile; network?: NetworkModel } {
  const onnx = readOnnxModel(path, m.head);
  checkOnnxSession(onnx);
  // Whole-network form (checked by assertTrainable before training; evaluation does not need it to be trainable).
  const network = m.freezeBackbone
    ? undefined
    : networkModel(onnx.proto, onnx.input.name, onnx.head, onnx.head.W, onnx.head.b);
  const { W, b, d, K } = onnx.head;
  const model = linearModel(W, b, d, K);
  model.inputShape = onnx.input.dims.slice(1);
  return { model, onnx, ...(network ? { network } : {}) };
}

/**
 * Creates (and drops) an ONNX Runtime session of the whole model, so everything ONNX Runtime refuses (an unknown op or
 * domain, an opset or IR version too new, inconsistent shapes, an invalid subgraph) is a DataError naming the file,
 * before anything is written.
 */
export function checkOnnxSession(onnx: OnnxModelFile): void {
  requireOrt(onnx.path);
  let s: OrtSession;
  try {
    s = new OrtSession(modelBytes(onnx));
  } catch (e) {
    // ONNX Runtime prefixes some messages with its C++ source location and function signature: noise to the user.
    const msg = ((e as Error).message ?? String(e))
      .replace(/\s+/g, ' ')
      .trim()
      .replace(/^\/\S+:\d+ .*?\) (?=[A-Z])/, '');
    throw new DataError(onnx.path, `ONNX Runtime cannot load this model: ${msg}`);
  }
  s.dispose();
}

/**
 * The model in whole-network training form; an op without a gradient on a parameter's path, or an opset past 18, is a
 * DataError naming it.
 */
export function onnxNetwork(onnx: OnnxModelFile): NetworkModel {
  const net = networkModel(onnx.proto, onnx.input.name, onnx.head, onnx.head.W, onnx.head.b);
  assertTrainable(onnx, net);
  return net;
}

/**
 * Refuses a network with an op without a gradient on a parameter's path, or an opset past 18 (a DataError naming the
 * file and nodes).
 */
export function assertTrainable(onnx: OnnxModelFile, net: NetworkModel): void {
  if (net.unsupported.length) {
    throw new DataError(
      onnx.path,
      `whole-network fine-tuning needs a gradient for every op between a trained parameter and the logits, and node${net.unsupported.length > 1 ? 's' : ''} ${describeUnsupported(net.unsupported)} ${net.unsupported.length > 1 ? 'have' : 'has'} none; set "model": { ..., "freezeBackbone": true } to fine-tune the head only (that still works), or re-export without ${[...new Set(net.unsupported.map((n) => n.opType))].join(', ')}`,
    );
  }
  if (net.opset > 18 || net.opset < 7)
    throw new DataError(
      onnx.path,
      `is an opset-${net.opset} model; whole-network fine-tuning reads opsets 7 to 18 (re-export with opset_version=${TRAINING_OPSET}), or set "freezeBackbone": true`,
    );
}

/**
 * A whole ONNX network made ready for the loop: its Backbone set on the model, the trainer factory, and what the run
 * says about it.
 */
export interface PreparedNetwork {
  net: OrtNetwork;
  trainer: NetworkTrainerFactory;
  notes: string[];
  augment: AugmentSpec | undefined;
  /** The images' layout (input-level mixing), when the inputs are images. */
  image: ImageLayout | undefined;
}

/**
 * Probes the network's shapes on ONNX Runtime (batch sizes 2 and 3), gives the model its Backbone (variables mirroring
 * the trainable initializers), builds the step graph for the run's batch size and times one step (lr 0: nothing
 * changes), and reports the time per step and the estimated time of the steps to the end. Failures are DataErrors
 * naming the model file.
 */
export function prepareOnnxNetwork(
  cfg: SelmixConfig,
  onnx: OnnxModelFile,
  network: NetworkModel,
  model: SelmixModel,
  data: FinetuneData,
): PreparedNetwork {
  requireOrt(onnx.path);
  assertTrainable(onnx, network);
  const shape = data.train.shape;
  let probes: ReturnType<typeof probeNetwork>;
  try {
    probes = probeNetwork(network, shape);
  } catch (e) {
    throw new DataError(
      onnx.path,
      `could not run the model at batch sizes 2 and 3 to read its shapes (${(e as Error).message.split('\n')[0]}); a model exported with a fixed batch size needs its batch dimension dynamic for whole-network training: export with dynamic_axes={"${onnx.input.name}": {0: "N"}}, or set "freezeBackbone": true`,
    );
  }
  const net = new OrtNetwork(network, probes, shape);
  const inits = new Map((network.proto.graph!.initializer ?? []).map((t) => [t.name ?? '', t]));
  const initial = new Map(net.backboneParams.map((p) => [p, tensorFloats(inits.get(p)!)!]));
  model.backbone = net.backbone(initial, () => ({ W: model.W, b: model.b }));
  model.inputShape = shape.slice();
  const B = cfg.training.batchSize;
  let ms: number;
  try {
    const values = net.paramsFromVariables([model.W, model.b, ...model.backbone.variables]);
    ms = net.measureStep(B, values, data.train.x, model.K);
  } catch (e) {
    net.dispose();
    throw new DataError(
      onnx.path,
      `could not build or run the whole-network training step: ${(e as Error).message.split('\n')[0]}; set "freezeBackbone": true to fine-tune the head only`,
    );
  }
  const sizes = network.params.map((p) => network.paramShapes.get(p)!.reduce((a, v) => a * v, 1));
  const total = sizes.reduce((a, v) => a + v, 0);
  const names =
    network.params.length <= 12
      ? network.params.join(', ')
      : `${network.params.slice(0, 6).join(', ')}, ... , ${network.params.slice(-3).join(', ')}`;
  const T = resolveSteps(cfg.training, data.train.n);
  const images = cfg.data.kind !== 'npy' && shape.length === 3;
  const augmentOn = cfg.training.augment ?? images;
  let augment: AugmentSpec | undefined;
  const pp = cfg.model?.kind === 'onnx' ? cfg.model.preprocess : undefined;
  const image: ImageLayout | undefined =
    shape.length === 3 ? { layout: pp?.layout ?? 'NCHW', shape: shape.slice() } : undefined;
  if (augmentOn && shape.length === 3) {
    const layout = pp?.layout ?? 'NCHW';
    const C = layout === 'NCHW' ? shape[0]! : shape[2]!;
    const pad = Array.from(
      { length: C },
      (_, c) =>
        (0 - (pp?.mean ? pp.mean[pp.mean.length === 1 ? 0 : c]! : 0)) /
        (pp?.std ? pp.std[pp.std.length === 1 ? 0 : c]! : 1),
    );
    augment = { layout, shape: shape.slice(), pad, padding: 4 };
  }
  const notes = [
    `whole network: ${network.params.length} parameter tensors (${total} values) trained on ONNX Runtime (${names}); the head at training.lr, the backbone at lr x ${cfg.training.backboneLrFactor}, BatchNorm frozen`,
    `one whole-network step (batch ${B} + ${B} partners) takes ${ms.toFixed(0)} ms: about ${formatDuration(ms * T)} for the ${T} steps, refreshes not counted`,
    augment
      ? 'augmentation: random crop (4-pixel padding) and horizontal flip of training images (training.augment)'
      : `augmentation off${shape.length === 3 ? ' (training.augment)' : ': inputs are not images'}`,
  ];
  if (cfg.training.mixup !== 'feature')
    notes.push(
      cfg.training.mixup === 'cutmix'
        ? 'mixup: CutMix of the images (a box of the partner pasted into the anchor), soft targets weighted by area'
        : `mixup: saliency-guided (PuzzleMix-style) on a ${cfg.training.puzzleGrid} x ${cfg.training.puzzleGrid} grid, soft targets weighted by area; the saliency pass of 2 x ${B} images adds about one step's time`,
    );
  return { net, trainer: (vars, mom) => net.trainer(vars, mom), notes, augment, image };
}

/** A duration in ms as s, min or h. */
function formatDuration(ms: number): string {
  const s = ms / 1000;
  if (s < 120) return `${s.toFixed(0)} s`;
  if (s < 7200) return `${(s / 60).toFixed(0)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

/**
 * The largest |f W + b - logits| over n rows of features f (n x d, float64 sums) against the logits from row `row` on,
 * at least `prev`; a NaN difference counts as infinite.
 */
function maxHeadLogitDiff(
  f: ArrayLike<number>,
  n: number,
  d: number,
  K: number,
  W: Float32Array,
  b: Float32Array,
  logits: ArrayLike<number>,
  row: number,
  prev: number,
): number {
  let maxAbsDiff = prev;
  for (let i = 0; i < n; i++)
    for (let k = 0; k < K; k++) {
      let z = b[k]!;
      for (let r = 0; r < d; r++) z += f[i * d + r]! * W[r * K + k]!;
      const diff = Math.abs(z - logits[(row + i) * K + k]!);
      if (!(diff <= maxAbsDiff)) maxAbsDiff = Number.isNaN(diff) ? Number.POSITIVE_INFINITY : diff;
    }
  return maxAbsDiff;
}

/** The check of a written model.onnx's logits against `against`; a TrainingError (nothing written) beyond tolerance. */
function verified(outFile: string, examples: number, maxAbsDiff: number, against: string): OnnxVerification {
  const check: OnnxVerification = {
    file: outFile,
    examples,
    maxAbsDiff,
    tolerance: ONNX_LOGIT_TOLERANCE,
    ok: maxAbsDiff <= ONNX_LOGIT_TOLERANCE,
  };
  if (!check.ok)
    throw new TrainingError(
      `the fine-tuned ONNX model's logits differ from ${against} by up to ${maxAbsDiff.toExponential(2)} on ${examples} validation examples (tolerance ${ONNX_LOGIT_TOLERANCE}); ${outFile} was not written`,
    );
  return check;
}

/**
 * The fine-tuned whole network as model.onnx: every trained initializer replaced (the head as withHead writes it), run
 * on the validation inputs and compared with the run's own forward pass (features x W + b, float64) before anything
 * is written. A mismatch beyond ONNX_LOGIT_TOLERANCE is a TrainingError.
 */
export async function fineTunedNetworkOnnx(
  onnx: OnnxModelFile,
  net: OrtNetwork,
  model: SelmixModel,
  valInputs: ExampleSet,
  outFile: string,
): Promise<{ bytes: Uint8Array; check: OnnxVerification; trained: string[] }> {
  const vars = [model.W, model.b, ...(model.backbone?.variables ?? [])];
  const values = net.paramsFromVariables(vars);
  const W = Float32Array.from(model.W.dataSync());
  const b = Float32Array.from(model.b.dataSync());
  const backbone = new Map(net.backboneParams.map((p) => [p, values.get(p)!]));
  const bytes = withInitializers(onnx, backbone, W, b);
  const logits = await onnxLogits(onnx, valInputs, {}, bytes);
  const { d, K } = onnx.head;
  const per = valInputs.n ? valInputs.x.length / valInputs.n : 0;
  let maxAbsDiff = 0;
  for (let s = 0; s < valInputs.n; s += BATCH) {
    const n = Math.min(BATCH, valInputs.n - s);
    const f = net.run(valInputs.x.subarray(s * per, (s + n) * per) as Float32Array, n, values).features;
    maxAbsDiff = maxHeadLogitDiff(f, n, d, K, W, b, logits, s, maxAbsDiff);
  }
  const check = verified(outFile, valInputs.n, maxAbsDiff, "the run's own forward pass");
  return { bytes, check, trained: net.m.params };
}

/**
 * How images become this model's input: PIL's mode, torchvision's transforms, and the input size when the model fixes
 * it.
 */
export interface ImagePlan {
  plan: TransformPlan;
  mode: 'L' | 'RGB';
  channels: 1 | 3;
  /** The model's [H, W] where it fixes them (-1: free). */
  modelHW: [number, number];
  /** The preprocessing in words and as a key (the feature cache's). */
  describe: string;
}

/** [H, W] of a resize or crop field (an int is a square for a crop). */
const pairOf = (v: number | readonly [number, number]): [number, number] =>
  typeof v === 'number' ? [v, v] : [v[0], v[1]];

/**
 * The model's image pipeline from model.preprocess (a preset, with fields beside it replacing the preset's) checked
 * against the model input before any image is read: rank 4, the layout, the channels (and data.grayscale), the size a
 * fixed resize or crop gives. Every mismatch is a DataError naming the model file and the field to change.
 */
export function resolveImagePlan(m: OnnxModelConfig, onnx: OnnxModelFile, grayscale: boolean): ImagePlan {
  const pp = m.preprocess ?? { layout: 'NCHW' as const };
  const preset: { resize?: number; centerCrop?: number; mean: readonly number[]; std: readonly number[] } | undefined =
    pp.preset ? PREPROCESS_PRESETS[pp.preset] : undefined;
  const dims = onnx.input.dims;
  const show = (v: number) => (v < 0 ? '?' : String(v));
  const where = `the model input "${onnx.input.name}" [${dims.map(show).join(', ')}]`;
  if (dims.length !== 4)
    throw new DataError(
      onnx.path,
      `${where} is not an image batch (rank 4); give .npy inputs (data.kind "npy") shaped for the model`,
    );
  const isC = (v: number | undefined) => v === 1 || v === 3;
  if (pp.layout === 'NCHW' && !isC(dims[1]) && dims[1]! > 0 && isC(dims[3])) {
    throw new DataError(
      onnx.path,
      `${where} has ${dims[3]} channels last (NHWC), not ${dims[1]} channels first; set model.preprocess.layout to "NHWC"`,
    );
  }
  if (pp.layout === 'NHWC' && !isC(dims[3]) && dims[3]! > 0 && isC(dims[1])) {
    throw new DataError(
      onnx.path,
      `${where} has ${dims[1]} channels first (NCHW); set model.preprocess.layout to "NCHW" (or remove it: NCHW is the default)`,
    );
  }
  const [mC, mH, mW] = pp.layout === 'NCHW' ? [dims[1]!, dims[2]!, dims[3]!] : [dims[3]!, dims[1]!, dims[2]!];
  if (mC > 0 && !isC(mC))
    throw new DataError(
      onnx.path,
      `${where} takes ${mC} channels (layout ${pp.layout}); images have 1 (grayscale) or 3 (RGB)`,
    );
  if (grayscale && mC === 3)
    throw new DataError(
      onnx.path,
      `${where} takes 3 channels (RGB) but data.grayscale is true; set data.grayscale to false`,
    );
  const channels: 1 | 3 = mC === 1 || (mC <= 0 && grayscale) ? 1 : 3;
  const mean = pp.mean ?? preset?.mean ?? [0];
  const std = pp.std ?? preset?.std ?? [1];
  for (const [key, v] of [
    ['mean', mean],
    ['std', std],
  ] as const) {
    if (v.length !== 1 && v.length !== channels) {
      throw new DataError(
        onnx.path,
        `model.preprocess.${key} has ${v.length} values${pp[key] ? '' : ` (preset "${pp.preset}")`} but ${where} takes ${channels} channel(s); give one value or ${channels}${channels === 1 ? ' (e.g. "preset": "mnist")' : ''}`,
      );
    }
  }
  const resize = pp.resize ?? pp.size ?? preset?.resize ?? null;
  const crop = pp.centerCrop ?? preset?.centerCrop ?? null;
  const plan: TransformPlan = {
    resize: resize === null ? null : typeof resize === 'number' ? resize : pairOf(resize),
    centerCrop: crop === null ? null : pairOf(crop),
    mean,
    std,
    layout: pp.layout,
  };
  const fixed = plan.centerCrop ?? (Array.isArray(plan.resize) ? (plan.resize as [number, number]) : null);
  if (fixed && ((mH > 0 && mH !== fixed[0]) || (mW > 0 && mW !== fixed[1]))) {
    throw new DataError(
      onnx.path,
      `${where} takes ${show(mH)}x${show(mW)} images (layout ${pp.layout}) but model.preprocess${pp.preset && !pp.centerCrop && !pp.resize && !pp.size ? ` (preset "${pp.preset}")` : ''} makes them ${fixed[0]}x${fixed[1]}; set model.preprocess.centerCrop to [${show(mH)}, ${show(mW)}] (after a resize whose shorter side is at least that), or use the preset the model was trained with`,
    );
  }
  const describe = `${channels === 1 ? 'L' : 'RGB'}, resize ${JSON.stringify(plan.resize)}, centerCrop ${JSON.stringify(plan.centerCrop)}, mean ${JSON.stringify(mean)}, std ${JSON.stringify(std)}, ${pp.layout}`;
  return { plan, mode: channels === 1 ? 'L' : 'RGB', channels, modelHW: [mH, mW], describe };
}

/**
 * The per-image transform of a plan, for loadImageFolder: decoded pixels to the model input, the size checked on the
 * first image.
 */
export function imageTransform(ip: ImagePlan, onnx: OnnxModelFile): ImageTransform {
  const { plan, channels } = ip;
  return {
    mode: ip.mode,
    outShape: (h, w) => {
      const [H, W] = transformedSize(plan, h, w);
      return plan.layout === 'NCHW' ? [channels, H, W] : [H, W, channels];
    },
    check: (shape, file) => {
      const [H, W] = plan.layout === 'NCHW' ? [shape[1]!, shape[2]!] : [shape[0]!, shape[1]!];
      const [mH, mW] = ip.modelHW;
      if ((mH > 0 && mH !== H) || (mW > 0 && mW !== W)) {
        throw new DataError(
          file,
          `after model.preprocess this image is ${H}x${W} but the model (${onnx.path}) takes ${mH}x${mW}; set model.preprocess.resize to [${mH}, ${mW}], or resize and centerCrop as the model was trained (e.g. "preset": "imagenet" for 224x224)`,
        );
      }
    },
    apply: (img, out, offset) => transformInto(plan, img, out, offset),
  };
}

/** What feature extraction reports and how it is stopped. */
export interface ExtractOptions {
  emit?: (e: RunEvent) => void;
  shouldStop?: () => boolean;
  /** Folder of cached features (one .npy per split and model); none: no cache. */
  cacheDir?: string;
  /** Reports the extraction stage (run/stage events). */
  enter?: StageEnter;
}

/**
 * Runs a session over a set in batches (the model's fixed batch size, or BATCH), returning the one output, N x cols.
 */
async function runBatched(
  session: OrtSession,
  onnx: OnnxModelFile,
  set: ExampleSet,
  output: string,
  cols: number,
  label: string,
  o: ExtractOptions,
): Promise<Float32Array> {
  const progress = o.enter?.('extracting', label, set.n);
  const fixed = onnx.input.dims[0]! > 0 ? onnx.input.dims[0]! : 0;
  const batch = fixed || BATCH;
  const per = set.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(set.n * cols);
  const t0 = performance.now();
  let nextLog = 0;
  for (let i = 0; i < set.n; i += batch) {
    if (o.shouldStop?.()) throw new CancelledError();
    const m = Math.min(batch, set.n - i);
    // Held inputs are a view; a lazy image set decodes and transforms this batch only.
    let x = await inputBatch(set, i, i + m);
    if (fixed && m < fixed) {
      // A model exported with a fixed batch size gets the last batch padded with zeros.
      const padded = new Float32Array(fixed * per);
      padded.set(x);
      x = padded;
    }
    let r: { data: Float32Array; dims: number[] };
    try {
      r = session.run({ [onnx.input.name]: { data: x, dims: [fixed || m, ...set.shape] } }, [output])[output]!;
    } catch (e) {
      // What the load-time session check cannot see (a shape only known with data) is still the model's or the data's.
      throw new DataError(
        onnx.path,
        `ONNX Runtime failed to run the model (${label}, examples ${i + 1}..${i + m} of shape [${set.shape.join(', ')}]): ${((e as Error).message ?? String(e)).replace(/\s+/g, ' ').trim()}`,
      );
    }
    if (r.data.length < m * cols)
      throw new DataError(
        onnx.path,
        `"${output}" has ${r.data.length / (fixed || m)} values per example; the head expects ${cols}`,
      );
    out.set(r.data.subarray(0, m * cols), i * cols);
    const done = i + m;
    progress?.(done, set.n);
    if (done >= nextLog || done === set.n) {
      o.emit?.({
        type: 'run/log',
        payload: {
          level: 'info',
          message: `${label}: ${done}/${set.n} examples on ONNX Runtime (${(done / ((performance.now() - t0) / 1000)).toFixed(0)} examples/s)`,
        },
      });
      nextLog = done + Math.max(batch, Math.ceil(set.n / 5));
    }
    await new Promise((r2) => setImmediate(r2));
  }
  return out;
}

/**
 * sha256 of a set's inputs and shape (the cache key's data part): a lazy set's files, sizes, times and preprocessing.
 */
function setDigest(set: ExampleSet): string {
  if (set.sourceKey)
    return createHash('sha256')
      .update(`lazy:${set.n}:${set.shape.join('x')}:${set.sourceKey}`)
      .digest('hex');
  const h = createHash('sha256');
  h.update(JSON.stringify([set.n, set.shape]));
  h.update(new Uint8Array(set.x.buffer, set.x.byteOffset, set.x.byteLength));
  return h.digest('hex');
}

/**
 * Replaces every set by its backbone features (the ONNX graph up to the head's input), run on ONNX Runtime; the
 * features of a set are cached under cacheDir by the model's and the set's hash. Returns the featurized model and data.
 */
export async function onnxFeaturize(
  onnx: OnnxModelFile,
  model: SelmixModel,
  data: FinetuneData,
  o: ExtractOptions = {},
): Promise<{ model: SelmixModel; data: FinetuneData; notes: string[] }> {
  requireOrt(onnx.path);
  const { d } = onnx.head;
  let session: OrtSession | null = null;
  const notes: string[] = [];
  const cache = new Map<ExampleSet, ExampleSet>();
  const f = async (s: ExampleSet, name: string): Promise<ExampleSet> => {
    const seen = cache.get(s);
    if (seen) return seen;
    const key = createHash('sha256')
      .update(`${onnx.digest}:${onnx.head.features}:${setDigest(s)}`)
      .digest('hex')
      .slice(0, 32);
    const file = o.cacheDir ? join(o.cacheDir, `${key}.npy`) : null;
    let x: Float32Array | null = null;
    if (file && existsSync(file)) {
      // Each entry has its sha256 beside it: an entry of the right shape but damaged contents is not trusted.
      let why = '';
      try {
        const bytes = readInputFile(file);
        const want = existsSync(file + '.sha256')
          ? readInputFile(file + '.sha256', 1024)
              .toString('utf8')
              .trim()
          : null;
        const got = createHash('sha256').update(bytes).digest('hex');
        if (want !== got)
          why = want === null ? 'it has no checksum (.sha256)' : 'its contents do not match its checksum';
        else {
          const a = parseNpy(bytes, file);
          if (a.shape.length === 2 && a.shape[0] === s.n && a.shape[1] === d && a.data instanceof Float32Array)
            x = a.data;
          else why = `its shape [${a.shape.join(', ')}] is not [${s.n}, ${d}]`;
        }
      } catch (e) {
        why = (e as Error).message;
      }
      if (x) notes.push(`${name} features from the cache (${file})`);
      else
        notes.push(
          `the feature cache entry ${file} is damaged (${why}): the ${name} features are computed again and the entry replaced`,
        );
    }
    if (!x) {
      session ??= new OrtSession(backboneBytes(onnx), undefined, true, 'all');
      x = await runBatched(session, onnx, s, onnx.head.features, d, `extracting ${name} features`, o);
      if (file) {
        try {
          mkdirSync(o.cacheDir!, { recursive: true });
          const bytes = encodeNpy(x, [s.n, d]);
          writeFilesAtomic([
            { path: file, data: bytes },
            { path: file + '.sha256', data: createHash('sha256').update(bytes).digest('hex') + '\n' },
          ]);
        } catch (e) {
          notes.push(`could not cache the ${name} features (${(e as Error).message})`);
        }
      }
    }
    const out: ExampleSet = { x, y: s.y, n: s.n, shape: [d] };
    cache.set(s, out);
    return out;
  };
  try {
    const feats: FinetuneData = {
      train: (await f(data.train, 'train')) as ExampleSet & { y: Int32Array },
      val: (await f(data.val, 'validation')) as ExampleSet & { y: Int32Array },
      unlabeled: data.unlabeled ? await f(data.unlabeled, 'unlabeled') : null,
      test: data.test ? await f(data.test, 'test') : null,
      classNames: data.classNames,
    };
    return { model: { ...model, inputShape: [d], backbone: null }, data: feats, notes };
  } finally {
    (session as OrtSession | null)?.dispose();
  }
}

/** The logits of the whole ONNX graph (or of given model bytes) on a set, N x K, on ONNX Runtime. */
export async function onnxLogits(
  onnx: OnnxModelFile,
  set: ExampleSet,
  o: ExtractOptions = {},
  bytes: Uint8Array = modelBytes(onnx),
): Promise<Float32Array> {
  requireOrt(onnx.path);
  const session = new OrtSession(bytes, undefined, true, 'all');
  try {
    return await runBatched(session, onnx, set, onnx.head.output, onnx.head.K, 'ONNX logits', o);
  } finally {
    session.dispose();
  }
}

/** What the check of the written model found. */
export interface OnnxVerification {
  file: string;
  examples: number;
  maxAbsDiff: number;
  tolerance: number;
  ok: boolean;
}

/**
 * The fine-tuned model.onnx: the same graph with the head's initializers replaced by W (d x K) and b, run on the
 * validation inputs and compared with features x W + b (float64) before anything is written. A mismatch beyond
 * ONNX_LOGIT_TOLERANCE is a TrainingError (nothing written).
 */
export async function fineTunedOnnx(
  onnx: OnnxModelFile,
  W: Float32Array,
  b: Float32Array,
  valInputs: ExampleSet,
  valFeatures: ExampleSet,
  outFile: string,
): Promise<{ bytes: Uint8Array; check: OnnxVerification }> {
  const bytes = withHead(onnx, W, b);
  const { d, K } = onnx.head;
  // A Softmax-ended model is written with its Softmax; its logits (the Softmax's input) are what is checked.
  const logits = await onnxLogits(
    onnx,
    valInputs,
    {},
    onnx.head.softmax ? withHead(onnx, W, b, { exposeLogits: true }) : bytes,
  );
  const maxAbsDiff = maxHeadLogitDiff(valFeatures.x, valFeatures.n, d, K, W, b, logits, 0, 0);
  const check = verified(outFile, valFeatures.n, maxAbsDiff, "the tool's head");
  return { bytes, check };
}
