// One SelMix refresh (docs/ALGORITHM.md sections 2-4): validation confusion matrix, metrics, multipliers,
// D, centroids, gain matrix and sampling distribution, from a validation pass's features and logits.
import type { MetricsReport } from '../../protocol/messages';
import { argmaxRows } from './classStats';
import { classSupport, clipConfusion, confusionMatrix } from './confusion';
import { classCentroids } from './centroids';
import { samplingDistribution } from './distribution';
import { gainMatrix, type DeltaWVariant, type GainScratch, type Mat, type MatMul } from './gain';
import { metricsReport } from './metrics';
import type { ObjectiveOptions } from '../objectives/objectives';
import type { ObjectiveId } from '../objectives/objectiveIds';
import { compileBuiltinObjective, type CompiledObjective } from '../objectives/compiledObjective';

/** What a refresh needs: a validation pass (features, labels, logits) and the current head. */
export interface RefreshInput {
  K: number;
  d: number;
  /** N x d validation features (pre-logits), row-major. */
  features: ArrayLike<number>;
  labels: ArrayLike<number>;
  /**
   * N x K: the model's current logits on the same examples; or, instead of them, `preds`. From the logits a refresh
   * takes each row's argmax, and for a float32 provider the centroid logits as the class means.
   */
  logits?: ArrayLike<number>;
  /**
   * Each row's predicted class (the first argmax of its logits), given instead of the logits by a caller that had
   * only those computed (MatMul.argmaxAffine): the centroid logits are then Z W + b through the provider.
   */
  preds?: Int32Array;
  /**
   * Head weight, d x K, in either precision (float32 as the model holds it: a trusted float32 gain never reads it, and
   * the exact provider widens it once).
   */
  W: Float64Array | Float32Array;
  /** Head bias, K. */
  b: Float64Array;
  /** The objective: a built-in id, or any compiled objective (a custom expression's, compileObjective). */
  objective: ObjectiveId | CompiledObjective;
  prevMultipliers: Float64Array | null;
  /** The refresh's index (0 first): the step size of the 'dual' constraint multipliers decays with it. */
  round?: number;
  options: ObjectiveOptions;
  /** Inverse temperature of the sampling softmax. */
  s: number;
  lambdaBar?: number;
  variant?: DeltaWVariant;
  /** Default 1e-8, 1e-10 for meanRecall (docs/ALGORITHM.md section 4). */
  epsMask?: number;
  /**
   * Matmul provider for the gain matrix (prepareGainMatMul of src/backend/backend.ts); absent: float64MatMul, exact.
   */
  matmul?: MatMul;
  /**
   * Reuse across refreshes for validation features that do not change (a head on fixed features): when `features`
   * is the very array of the previous refresh, its centroids and their Gram matrix are reused. The caller must not
   * change that array in place.
   */
  cache?: RefreshCache;
  /**
   * The logits are the features times this very W plus b, computed by the caller (the training loop's validation
   * pass): a float32 gain provider then takes the centroid logits from them without its spot check.
   */
  logitsFromHead?: boolean;
  /**
   * The gain's work arrays, kept by a caller that refreshes again at the same size (GainArgs.scratch). The
   * centroids Z (RefreshResult.Z, without a cache) and the centroid logits are written into its arrays too: Z is then
   * valid until the next refresh with this scratch.
   */
  scratch?: GainScratch;
  /**
   * Called as the refresh starts on the gains (everything up to G) and on the sampling distribution, so a caller can
   * say what it is doing (the training loop's run/refreshing events).
   */
  onPhase?: (phase: 'gains' | 'distribution') => void;
}

/** What computeRefresh keeps between refreshes on unchanged features (see RefreshInput.cache). */
export interface RefreshCache {
  features?: ArrayLike<number>;
  Z?: Float64Array;
  gram?: { S?: Mat };
}

/** Everything one refresh produces. */
export interface RefreshResult {
  /** The predicted class of each validation row (argmax of its logits), from which C was counted. */
  preds: Int32Array;
  C: Float64Array;
  /** With a scratch, C, Cclipped and D are its arrays: the same memory at the next refresh (the loop keeps none). */
  Cclipped: Float64Array;
  metrics: MetricsReport;
  objectiveValue: number;
  multipliers: Float64Array | null;
  D: Float64Array;
  G: Float64Array;
  P: Float64Array;
  Z: Float64Array;
  maxGain: number;
}

/**
 * The centroid logits A = Z W + b as the class means of the validation logits (the head is affine), O(N K)
 * instead of O(K^2 d); a class without examples has z_k = 0, so A_k = b. gainMatrix spot-checks them.
 */
export function centroidLogitsFromLogits(
  logits: ArrayLike<number>,
  labels: ArrayLike<number>,
  N: number,
  K: number,
  b: Float64Array,
  out?: Float64Array,
): Float64Array {
  const { Z: A, counts } = classCentroids(logits, N, K, labels, K, out);
  for (let k = 0; k < K; k++) if (counts[k] === 0) A.set(b, k * K);
  return A;
}

/**
 * Runs one refresh: C, clip, metrics, multipliers (from the clipped C, before D), D, Z, G, P (docs/ALGORITHM.md
 * sections 2-4).
 */
export function computeRefresh(inp: RefreshInput): RefreshResult {
  const { K, d, features, labels, logits, W, b, objective, options } = inp;
  const N = labels.length;
  if ((logits === undefined) === (inp.preds === undefined))
    throw new RangeError('computeRefresh: give either the logits or the predictions, not both or neither');
  if (logits && logits.length !== N * K)
    throw new RangeError(`computeRefresh: ${logits.length} logits, expected N*K = ${N * K}`);
  if (inp.preds && inp.preds.length !== N)
    throw new RangeError(`computeRefresh: ${inp.preds.length} predictions, expected N = ${N}`);
  if (features.length !== N * d)
    throw new RangeError(`computeRefresh: ${features.length} feature values, expected N*d = ${N * d}`);
  inp.onPhase?.('gains');
  const preds = logits ? argmaxRows(logits, N, K) : inp.preds!;
  const sc = inp.scratch;
  const C = confusionMatrix(labels, preds, K, sc?.take('confusion', Float64Array, K * K));
  const Cclipped = clipConfusion(C, undefined, undefined, sc?.take('clipped', Float64Array, K * K));
  const metrics = metricsReport(C, K, classSupport(labels, K), options.headFrac);
  const obj = typeof objective === 'string' ? compileBuiltinObjective(objective, K) : objective;
  if (obj.K !== K)
    throw new RangeError(`computeRefresh: the objective ${obj.name} is compiled for K = ${obj.K}, not ${K}`);
  const multipliers = obj.updateMultipliers(Cclipped, inp.prevMultipliers, options, inp.round ?? 0);
  const D = obj.D(Cclipped, multipliers, options, sc?.take('objectiveD', Float64Array, K * K));
  const cache = inp.cache;
  if (cache && cache.features !== features) {
    cache.features = features;
    cache.Z = classCentroids(features, N, d, labels, K).Z;
    cache.gram = {};
  }
  const Z = cache?.Z ?? classCentroids(features, N, d, labels, K, sc?.take('centroids', Float64Array, K * d)).Z;
  const G = gainMatrix({
    K,
    d,
    Z,
    W,
    b,
    D,
    lambdaBar: inp.lambdaBar ?? 0.8,
    variant: inp.variant ?? 'prototype',
    ...(cache?.gram ? { gram: cache.gram } : {}),
    ...(inp.matmul ? { matmul: inp.matmul } : {}),
    ...(sc ? { scratch: sc } : {}),
    // A float32 provider takes the centroid logits from the validation logits (one O(K^2 d) product fewer); the
    // exact float64 one recomputes them from Z W + b, which the float32 validation logits only approximate, and so
    // does any provider when only the predictions came.
    ...(inp.matmul?.precision === 'float32' && logits
      ? {
          A: centroidLogitsFromLogits(logits, labels, N, K, b, sc?.take('centroidLogits', Float64Array, K * K)),
          trustA: inp.logitsFromHead === true,
        }
      : {}),
  });
  const eps = inp.epsMask ?? (obj.id === 'meanRecall' ? 1e-10 : 1e-8);
  inp.onPhase?.('distribution');
  const P = samplingDistribution(G, K, inp.s, eps);
  let maxGain = -Infinity;
  for (let t = 0; t < G.length; t++) maxGain = Math.max(maxGain, G[t]!);
  return {
    preds,
    C,
    Cclipped,
    metrics,
    objectiveValue: obj.valueAt(C, metrics),
    multipliers,
    D,
    G,
    P,
    Z,
    maxGain,
  };
}
