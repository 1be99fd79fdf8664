// ONNX models in the run: loading (the head as the loop's linear model, images preprocessed into the model's input
// layout), feature extraction on ONNX Runtime (batched, with progress logs, cached by model and data hash), the
// fine-tuned model.onnx (the same graph, the head's initializers replaced) checked against the tool's head on the
// validation set before it is written, and evaluation of the whole graph. The backbone is frozen: Node has no ONNX
// training runtime, so only the head is fine-tuned.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { OrtSession, probeOnnxRuntime } from '../backend/onnxRuntime';
import type { SelmixConfig } from '../core/config';
import { CancelledError, DataError, TrainingError } from '../core/errors';
import type { ExampleSet } from '../core/evaluate';
import { linearModel, type SelmixModel } from '../core/model';
import type { FinetuneData } from '../core/train';
import type { RunEvent } from '../protocol/messages';
import type { StageEnter } from './progress';
import { writeFileAtomic } from '../data/atomicWrite';
import { encodeNpy, readNpy } from '../data/npy';
import { backboneBytes, modelBytes, readOnnxModel, withHead, type OnnxModelFile } from '../data/onnxModel';

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

/** Loads an ONNX model config: the file read and its head found; the head as the loop's linear model, whose inputShape is the ONNX input's. */
export function loadOnnxModel(m: OnnxModelConfig, path: string): { model: SelmixModel; onnx: OnnxModelFile } {
  const onnx = readOnnxModel(path, m.head);
  const { W, b, d, K } = onnx.head;
  const model = linearModel(W, b, d, K);
  model.inputShape = onnx.input.dims.slice(1);
  return { model, onnx };
}

/** Bilinear resize of one HWC image (align_corners = false, as torchvision's Resize on tensors). */
function resize(src: Float32Array, h: number, w: number, c: number, H: number, W: number): Float32Array {
  const out = new Float32Array(H * W * c);
  const sy = h / H;
  const sx = w / W;
  for (let y = 0; y < H; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), h - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, h - 1);
    const wy = fy - y0;
    for (let x = 0; x < W; x++) {
      const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), w - 1);
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, w - 1);
      const wx = fx - x0;
      for (let k = 0; k < c; k++) {
        const v = (1 - wy) * ((1 - wx) * src[(y0 * w + x0) * c + k]! + wx * src[(y0 * w + x1) * c + k]!) + wy * ((1 - wx) * src[(y1 * w + x0) * c + k]! + wx * src[(y1 * w + x1) * c + k]!);
        out[(y * W + x) * c + k] = v;
      }
    }
  }
  return out;
}

/**
 * Turns image sets (HWC in [0, 1]) into the model's input: resized to preprocess.size, normalised by mean and std,
 * laid out NCHW or NHWC. A preprocess that does not fit the model input is a DataError naming the file and the input.
 */
export function preprocessImages(m: OnnxModelConfig, onnx: OnnxModelFile, data: FinetuneData): void {
  const pp = m.preprocess ?? { layout: 'NCHW' as const };
  const dims = onnx.input.dims;
  const where = `the model input "${onnx.input.name}" [${dims.map((v) => (v < 0 ? '?' : v)).join(', ')}]`;
  if (dims.length !== 4) throw new DataError(onnx.path, `${where} is not an image batch (rank 4); give .npy inputs (data.kind "npy") shaped for the model`);
  const [h, w, c] = data.train.shape as [number, number, number];
  const [mC, mH, mW] = pp.layout === 'NCHW' ? [dims[1]!, dims[2]!, dims[3]!] : [dims[3]!, dims[1]!, dims[2]!];
  const [H, W] = pp.size ?? [h, w];
  if ((mH > 0 && mH !== H) || (mW > 0 && mW !== W)) {
    throw new DataError(onnx.path, `${where} takes ${mH}x${mW} images (layout ${pp.layout}) but the images are ${H}x${W}${pp.size ? ' after model.preprocess.size' : ''}; set model.preprocess.size to [${mH}, ${mW}]${mC === 3 || mC === 1 ? '' : ' and check model.preprocess.layout'}`);
  }
  if (mC > 0 && mC !== c) {
    throw new DataError(onnx.path, `${where} takes ${mC} channel(s) (layout ${pp.layout}) but the images have ${c}${mC === 1 ? '; set data.grayscale to true' : ''}${c === 1 && mC === 3 ? '; set data.grayscale to false' : ''}${pp.layout === 'NCHW' && dims[3] === c ? '; or is the layout "NHWC"?' : ''}`);
  }
  for (const [key, v] of [['mean', pp.mean], ['std', pp.std]] as const) {
    if (v && v.length !== 1 && v.length !== c) throw new DataError(onnx.path, `model.preprocess.${key} has ${v.length} values for images with ${c} channel(s); give one value or ${c}`);
  }
  const mean = (k: number) => (pp.mean ? pp.mean[pp.mean.length === 1 ? 0 : k]! : 0);
  const std = (k: number) => (pp.std ? pp.std[pp.std.length === 1 ? 0 : k]! : 1);
  const convert = (s: ExampleSet): void => {
    const per = H * W * c;
    const out = new Float32Array(s.n * per);
    for (let i = 0; i < s.n; i++) {
      let img = s.x.subarray(i * h * w * c, (i + 1) * h * w * c) as Float32Array;
      if (H !== h || W !== w) img = resize(img, h, w, c, H, W);
      const o = i * per;
      for (let p = 0; p < H * W; p++) for (let k = 0; k < c; k++) {
        out[o + (pp.layout === 'NCHW' ? k * H * W + p : p * c + k)] = (img[p * c + k]! - mean(k)) / std(k);
      }
    }
    s.x = out;
    s.shape = pp.layout === 'NCHW' ? [c, H, W] : [H, W, c];
  };
  for (const s of new Set([data.train, data.val, data.unlabeled, data.test])) if (s) convert(s);
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

/** Runs a session over a set in batches (the model's fixed batch size, or BATCH), returning the one output, N x cols. */
async function runBatched(session: OrtSession, onnx: OnnxModelFile, set: ExampleSet, output: string, cols: number, label: string, o: ExtractOptions): Promise<Float32Array> {
  const progress = o.enter?.('extracting', label, set.n);
  const fixed = onnx.input.dims[0]! > 0 ? onnx.input.dims[0]! : 0;
  const batch = fixed || BATCH;
  const per = set.n > 0 ? set.x.length / set.n : 0;
  const out = new Float32Array(set.n * cols);
  const t0 = performance.now();
  let nextLog = 0;
  for (let i = 0; i < set.n; i += batch) {
    if (o.shouldStop?.()) throw new CancelledError();
    const m = Math.min(batch, set.n - i);
    let x = set.x.subarray(i * per, (i + m) * per) as Float32Array;
    if (fixed && m < fixed) {
      // A model exported with a fixed batch size gets the last batch padded with zeros.
      const padded = new Float32Array(fixed * per);
      padded.set(x);
      x = padded;
    }
    const r = session.run({ [onnx.input.name]: { data: x, dims: [fixed || m, ...set.shape] } }, [output])[output]!;
    if (r.data.length < m * cols) throw new DataError(onnx.path, `"${output}" has ${r.data.length / (fixed || m)} values per example; the head expects ${cols}`);
    out.set(r.data.subarray(0, m * cols), i * cols);
    const done = i + m;
    progress?.(done, set.n);
    if (done >= nextLog || done === set.n) {
      o.emit?.({ type: 'run/log', payload: { level: 'info', message: `${label}: ${done}/${set.n} examples on ONNX Runtime (${(done / ((performance.now() - t0) / 1000)).toFixed(0)} examples/s)` } });
      nextLog = done + Math.max(batch, Math.ceil(set.n / 5));
    }
    await new Promise((r2) => setImmediate(r2));
  }
  return out;
}

/** sha256 of a set's inputs and shape (the cache key's data part). */
function setDigest(set: ExampleSet): string {
  const h = createHash('sha256');
  h.update(JSON.stringify([set.n, set.shape]));
  h.update(new Uint8Array(set.x.buffer, set.x.byteOffset, set.x.byteLength));
  return h.digest('hex');
}

/**
 * Replaces every set by its backbone features (the ONNX graph up to the head's input), run on ONNX Runtime; the
 * features of a set are cached under cacheDir by the model's and the set's hash. Returns the featurized model and data.
 */
export async function onnxFeaturize(onnx: OnnxModelFile, model: SelmixModel, data: FinetuneData, o: ExtractOptions = {}): Promise<{ model: SelmixModel; data: FinetuneData; notes: string[] }> {
  requireOrt(onnx.path);
  const { d } = onnx.head;
  let session: OrtSession | null = null;
  const notes: string[] = [];
  const cache = new Map<ExampleSet, ExampleSet>();
  const f = async (s: ExampleSet, name: string): Promise<ExampleSet> => {
    const seen = cache.get(s);
    if (seen) return seen;
    const key = createHash('sha256').update(`${onnx.digest}:${onnx.head.features}:${setDigest(s)}`).digest('hex').slice(0, 32);
    const file = o.cacheDir ? join(o.cacheDir, `${key}.npy`) : null;
    let x: Float32Array | null = null;
    if (file && existsSync(file)) {
      try {
        const a = readNpy(file);
        if (a.shape.length === 2 && a.shape[0] === s.n && a.shape[1] === d && a.data instanceof Float32Array) x = a.data;
      } catch {
        x = null; // a damaged cache entry is recomputed
      }
      if (x) notes.push(`${name} features from the cache (${file})`);
    }
    if (!x) {
      session ??= new OrtSession(backboneBytes(onnx));
      x = await runBatched(session, onnx, s, onnx.head.features, d, `extracting ${name} features`, o);
      if (file) {
        try {
          mkdirSync(o.cacheDir!, { recursive: true });
          writeFileAtomic(file, encodeNpy(x, [s.n, d]));
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
      train: await f(data.train, 'train') as ExampleSet & { y: Int32Array }, val: await f(data.val, 'validation') as ExampleSet & { y: Int32Array },
      unlabeled: data.unlabeled ? await f(data.unlabeled, 'unlabeled') : null, test: data.test ? await f(data.test, 'test') : null, classNames: data.classNames,
    };
    return { model: { ...model, inputShape: [d], backbone: null }, data: feats, notes };
  } finally {
    (session as OrtSession | null)?.dispose();
  }
}

/** The logits of the whole ONNX graph (or of given model bytes) on a set, N x K, on ONNX Runtime. */
export async function onnxLogits(onnx: OnnxModelFile, set: ExampleSet, o: ExtractOptions = {}, bytes: Uint8Array = modelBytes(onnx)): Promise<Float32Array> {
  requireOrt(onnx.path);
  const session = new OrtSession(bytes);
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
export async function fineTunedOnnx(onnx: OnnxModelFile, W: Float32Array, b: Float32Array, valInputs: ExampleSet, valFeatures: ExampleSet, outFile: string): Promise<{ bytes: Uint8Array; check: OnnxVerification }> {
  const bytes = withHead(onnx, W, b);
  const { d, K } = onnx.head;
  const logits = await onnxLogits(onnx, valInputs, {}, bytes);
  let maxAbsDiff = 0;
  for (let i = 0; i < valFeatures.n; i++) {
    for (let k = 0; k < K; k++) {
      let s = b[k]!;
      for (let r = 0; r < d; r++) s += valFeatures.x[i * d + r]! * W[r * K + k]!;
      const diff = Math.abs(s - logits[i * K + k]!);
      if (!(diff <= maxAbsDiff)) maxAbsDiff = Number.isNaN(diff) ? Number.POSITIVE_INFINITY : diff;
    }
  }
  const check: OnnxVerification = { file: outFile, examples: valFeatures.n, maxAbsDiff, tolerance: ONNX_LOGIT_TOLERANCE, ok: maxAbsDiff <= ONNX_LOGIT_TOLERANCE };
  if (!check.ok) throw new TrainingError(`the fine-tuned ONNX model's logits differ from the tool's head by up to ${maxAbsDiff.toExponential(2)} on ${valFeatures.n} validation examples (tolerance ${ONNX_LOGIT_TOLERANCE}); ${outFile} was not written`);
  return { bytes, check };
}
