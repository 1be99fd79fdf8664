// Batched inference: features g(x) and logits a(x) of a whole set, in eval mode, tensors disposed per batch.
import * as tf from '@tensorflow/tfjs';
import { headArrays, type SelmixModel } from './model';
import type { MatMul } from '../numerics/gain';
import { argmaxRows } from '../numerics/classStats';
import { confusionMatrix, classSupport } from '../numerics/confusion';
import { metricsReport } from '../numerics/metrics';
import type { MetricsReport } from '../../protocol/messages';

/** A set of examples: inputs flat (n x prod(shape)), labels or null. */
export interface ExampleSet {
  x: Float32Array;
  y: Int32Array | null;
  n: number;
  /** Shape of one example. */
  shape: number[];
  /**
   * Set when x is not held (images decoded in batches when needed, src/run/imageSource.ts): a digest of the inputs
   * (files, sizes, times, preprocessing).
   */
  sourceKey?: string;
}

/** Features (n x d) and logits (n x K) of every example. */
export interface Forward {
  features: Float32Array;
  logits: Float32Array;
  n: number;
}

/** Gathers the rows idx of a flat set into a tensor of shape [idx.length, ...shape]. */
export function gatherRows(set: ExampleSet, idx: ArrayLike<number>): tf.Tensor {
  const per = set.x.length / Math.max(1, set.n);
  const out = new Float32Array(idx.length * per);
  for (let i = 0; i < idx.length; i++) out.set(set.x.subarray(idx[i]! * per, (idx[i]! + 1) * per), i * per);
  return tf.tensor(out, [idx.length, ...set.shape]);
}

/**
 * Runs the model over a set in batches; returns features and logits as flat float32 arrays. Without a backbone the
 * features are the set's own array (not a copy: read it, do not write it), so a caller can tell that they have not
 * changed since the last pass. onRows hears the rows done after each batch (not on the one-product path of a head on
 * features).
 */
export function forwardAll(
  model: SelmixModel,
  set: ExampleSet,
  batch = 256,
  mm?: MatMul,
  onRows?: (done: number, total: number) => void,
): Forward {
  const { K, d } = model;
  const bb = model.backbone;
  // A head on features with a float32 provider (ONNX Runtime from K = 100): the logits are one product, X W + b.
  if (!bb && mm?.precision === 'float32')
    return { features: set.x, logits: headLogits(set.x, set.n, model, mm), n: set.n };
  // Without a backbone: larger batches (each product packs W again on wasm, and rows of features are small).
  const rows = bb ? batch : Math.max(batch, 4096);
  const features = bb ? new Float32Array(set.n * d) : set.x;
  const logits = new Float32Array(set.n * K);
  const per = set.x.length / Math.max(1, set.n);
  for (let s = 0; s < set.n; s += rows) {
    const e = Math.min(set.n, s + rows);
    const [f, a] = tf.tidy(() => {
      const x = tf.tensor(set.x.subarray(s * per, e * per), [e - s, ...set.shape]);
      const feats = bb ? bb.apply(x) : (x.reshape([e - s, d]) as tf.Tensor2D);
      return [feats, tf.add(tf.matMul(feats, model.W), model.b)];
    });
    if (bb) features.set(f.dataSync() as Float32Array, s * d);
    logits.set(a.dataSync() as Float32Array, s * K);
    f.dispose();
    a.dispose();
    onRows?.(e, set.n);
  }
  return { features, logits, n: set.n };
}

/** X W + b for n feature rows through the provider, in float32 (the bias added in float32, as a tensor add does). */
function headLogits(x: Float32Array, n: number, model: SelmixModel, mm: MatMul): Float32Array {
  const { K, d } = model;
  const { W, b } = headArrays(model);
  const p = mm(x.length === n * d ? x : x.subarray(0, n * d), W, n, d, K);
  const out = p instanceof Float32Array ? p : Float32Array.from(p);
  for (let i = 0; i < n; i++) for (let k = 0; k < K; k++) out[i * K + k] = Math.fround(out[i * K + k]! + b[k]!);
  return out;
}

/** Metrics of logits against labels (logit adjustment optional, for the post-hoc baseline). */
export function metricsOf(
  logits: ArrayLike<number>,
  labels: Int32Array,
  K: number,
  headFrac = 0.9,
  adjust?: ArrayLike<number>,
): MetricsReport {
  const n = labels.length;
  let l: ArrayLike<number> = logits;
  if (adjust) {
    const a = new Float32Array(n * K);
    for (let i = 0; i < n; i++) for (let k = 0; k < K; k++) a[i * K + k] = logits[i * K + k]! - adjust[k]!;
    l = a;
  }
  const preds = argmaxRows(l, n, K);
  return metricsReport(confusionMatrix(labels, preds, K), K, classSupport(labels, K), headFrac);
}

/** Evaluates a model on a labeled set. */
export function evaluate(model: SelmixModel, set: ExampleSet, headFrac = 0.9): MetricsReport {
  if (!set.y) throw new Error('evaluate needs labels');
  const fw = forwardAll(model, set);
  return metricsOf(fw.logits, set.y, model.K, headFrac);
}
