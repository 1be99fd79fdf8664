// The classifier as SelMix sees it (docs/ALGORITHM.md section 1): a backbone x -> g(x) in R^d and a linear head
// a = W^T g + b with W (d x K) and b (K). A tfjs LayersModel is split at its last Dense layer; its backbone
// is run by a small interpreter over the layer list, so that every gradient avoids kernels wasm lacks.
import * as tf from '@tensorflow/tfjs';
import { conv2d, dense } from './nn';
import { ModelShapeError } from '../errors';

/** One backbone stage, interpreted from a Keras layer. */
type Stage =
  | { kind: 'conv'; w: tf.Variable; b: tf.Variable | null; stride: number; padding: 'same' | 'valid'; act: string }
  | { kind: 'dense'; w: tf.Variable; b: tf.Variable | null; act: string }
  | { kind: 'maxPool' | 'avgPool'; size: [number, number]; stride: [number, number]; padding: 'same' | 'valid' }
  | { kind: 'globalAvgPool' }
  | { kind: 'flatten' }
  | { kind: 'reshape'; shape: number[] }
  | { kind: 'act'; act: string }
  | {
      kind: 'batchNorm';
      gamma: tf.Tensor | null;
      beta: tf.Tensor | null;
      mean: tf.Tensor;
      variance: tf.Tensor;
      eps: number;
    }
  | { kind: 'identity' };

/** A model split into a trainable backbone and a linear head. */
export interface SelmixModel {
  K: number;
  d: number;
  /** Shape of one input example (e.g. [28, 28, 1], or [d] for a linear head on features). */
  inputShape: number[];
  W: tf.Variable<tf.Rank.R2>;
  b: tf.Variable<tf.Rank.R1>;
  /** The backbone, or null when inputs are already features. */
  backbone: Backbone | null;
}

/** A backbone g(x) with its trainable variables. */
export interface Backbone {
  variables: tf.Variable[];
  /** Frozen tensors the backbone reads (BatchNorm statistics), released with the model. */
  constants: tf.Tensor[];
  apply(x: tf.Tensor): tf.Tensor2D;
  /**
   * The LayersModel it came from, so fine-tuned weights can be written back and saved (null: an ONNX network, written
   * by the run layer).
   */
  source: tf.LayersModel | null;
  /** Layer index of the head in source.layers. */
  headIndex: number;
  /** Releases what the backbone holds outside tfjs (ONNX Runtime sessions). */
  dispose?: () => void;
}

/**
 * A trainable variable holding a copy of t, with a unique name (biases end in _b_ for the no-decay rule).
 * tf.variable keeps its initial value's data but not the tensor object, so the copy is made inside a tidy.
 */
function trainable(t: tf.Tensor, name: string): tf.Variable {
  return tf.tidy(() => tf.variable(t.clone(), true, `${name}_${Math.random().toString(36).slice(2, 8)}`));
}

function activate(x: tf.Tensor, act: string): tf.Tensor {
  switch (act) {
    case 'linear':
      return x;
    case 'relu':
      return tf.relu(x);
    case 'relu6':
      return tf.relu6(x);
    case 'elu':
      return tf.elu(x);
    case 'selu':
      return tf.selu(x);
    case 'sigmoid':
      return tf.sigmoid(x);
    case 'tanh':
      return tf.tanh(x);
    case 'softplus':
      return tf.softplus(x);
    case 'swish':
      return tf.mul(x, tf.sigmoid(x));
    default:
      throw new ModelShapeError(`activation "${act}" is not supported`);
  }
}

function actName(layer: tf.layers.Layer): string {
  const cfg = layer.getConfig() as { activation?: unknown };
  return typeof cfg.activation === 'string' ? cfg.activation : 'linear';
}

function pair(v: unknown, fallback: number): [number, number] {
  if (Array.isArray(v)) return [Number(v[0]), Number(v[1] ?? v[0])];
  if (typeof v === 'number') return [v, v];
  return [fallback, fallback];
}

/**
 * Splits a LayersModel at its last layer, which must be Dense (linear or softmax activation: the
 * head's logits are its pre-activation). The layers before it become the backbone.
 */
export function fromLayersModel(model: tf.LayersModel): SelmixModel {
  const layers = model.layers;
  const headIndex = layers.length - 1;
  const head = layers[headIndex];
  if (!head || head.getClassName() !== 'Dense') {
    throw new ModelShapeError(
      `the last layer must be Dense (the classifier head), found ${head ? `${head.getClassName()} "${head.name}"` : 'no layers'}`,
    );
  }
  const headAct = actName(head);
  if (headAct !== 'linear' && headAct !== 'softmax')
    throw new ModelShapeError(`the head "${head.name}" has activation "${headAct}"; expected linear or softmax`);
  const [hw, hb] = head.getWeights();
  if (!hw) throw new ModelShapeError(`the head "${head.name}" has no kernel`);
  const [d, K] = hw.shape as [number, number];
  const stages: Stage[] = [];
  const variables: tf.Variable[] = [];
  const constants: tf.Tensor[] = [];
  const v = (t: tf.Tensor, name: string): tf.Variable => {
    const x = trainable(t, name);
    variables.push(x);
    return x;
  };
  for (let i = 0; i < headIndex; i++) {
    const layer = layers[i]!;
    const cls = layer.getClassName();
    const cfg = layer.getConfig() as Record<string, unknown>;
    const ws = layer.getWeights();
    switch (cls) {
      case 'InputLayer':
      case 'Dropout':
      case 'SpatialDropout2D':
      case 'GaussianNoise':
      case 'GaussianDropout':
        stages.push({ kind: 'identity' });
        break;
      case 'Conv2D': {
        const [sh, sw] = pair(cfg.strides, 1);
        const [dh, dw] = pair(cfg.dilationRate, 1);
        if (sh !== sw) throw new ModelShapeError(`layer "${layer.name}": unequal strides are not supported`);
        if (dh !== 1 || dw !== 1)
          throw new ModelShapeError(`layer "${layer.name}": dilated convolutions are not supported`);
        if (cfg.dataFormat === 'channelsFirst')
          throw new ModelShapeError(`layer "${layer.name}": channelsFirst is not supported`);
        stages.push({
          kind: 'conv',
          w: v(ws[0]!, 'conv_w'),
          b: ws[1] ? v(ws[1], 'conv_b') : null,
          stride: sh,
          padding: cfg.padding === 'same' ? 'same' : 'valid',
          act: actName(layer),
        });
        break;
      }
      case 'Dense':
        stages.push({
          kind: 'dense',
          w: v(ws[0]!, 'dense_w'),
          b: ws[1] ? v(ws[1], 'dense_b') : null,
          act: actName(layer),
        });
        break;
      case 'MaxPooling2D':
      case 'AveragePooling2D': {
        const size = pair(cfg.poolSize, 2);
        const stride = pair(cfg.strides ?? cfg.poolSize, size[0]);
        stages.push({
          kind: cls === 'MaxPooling2D' ? 'maxPool' : 'avgPool',
          size,
          stride,
          padding: cfg.padding === 'same' ? 'same' : 'valid',
        });
        break;
      }
      case 'GlobalAveragePooling2D':
        stages.push({ kind: 'globalAvgPool' });
        break;
      case 'Flatten':
        stages.push({ kind: 'flatten' });
        break;
      case 'Reshape':
        stages.push({ kind: 'reshape', shape: (cfg.targetShape as number[]) ?? [] });
        break;
      case 'Activation':
      case 'ReLU':
        stages.push({ kind: 'act', act: cls === 'ReLU' ? 'relu' : String(cfg.activation ?? 'linear') });
        break;
      case 'BatchNormalization': {
        // Frozen (docs/ALGORITHM.md section 5.2): parameters not trained, moving statistics used.
        const names = layer.weights.map((w) => w.name.split('/').pop() ?? '');
        const get = (n: string): tf.Tensor | null => {
          const k = names.findIndex((x) => x.startsWith(n));
          if (k < 0) return null;
          const c = ws[k]!.clone();
          constants.push(c);
          return c;
        };
        const mean = get('moving_mean');
        const variance = get('moving_variance');
        if (!mean || !variance)
          throw new ModelShapeError(`layer "${layer.name}": BatchNormalization without moving statistics`);
        stages.push({
          kind: 'batchNorm',
          gamma: get('gamma'),
          beta: get('beta'),
          mean,
          variance,
          eps: Number(cfg.epsilon ?? 1e-3),
        });
        break;
      }
      default:
        throw new ModelShapeError(
          `layer "${layer.name}" of type ${cls} is not supported by the backbone interpreter (supported: Conv2D, Dense, pooling, Flatten, Reshape, Activation, BatchNormalization, Dropout)`,
        );
    }
  }
  const inputShape = (model.inputs[0]!.shape.slice(1) as (number | null)[]).map((n) => n ?? -1);
  const W = trainable(hw, 'head_W') as tf.Variable<tf.Rank.R2>;
  const b = (
    hb ? trainable(hb, 'head_b') : tf.tidy(() => trainable(tf.zeros([K]), 'head_b'))
  ) as tf.Variable<tf.Rank.R1>;
  // Stages before the first trainable one see only data: no input gradient is needed there.
  const firstTrainable = stages.findIndex((s) => s.kind === 'conv' || s.kind === 'dense');
  const apply = (x: tf.Tensor): tf.Tensor2D => {
    let h: tf.Tensor = x;
    stages.forEach((s, i) => {
      h = runStage(s, h, i > firstTrainable);
    });
    if (h.rank !== 2) h = tf.reshape(h, [h.shape[0]!, -1]);
    return h as tf.Tensor2D;
  };
  if (stages.length === 0 || stages.every((s) => s.kind === 'identity')) {
    return { K, d, inputShape, W, b, backbone: null };
  }
  return { K, d, inputShape, W, b, backbone: { variables, constants, apply, source: model, headIndex } };
}

function runStage(s: Stage, h: tf.Tensor, inputGrad: boolean): tf.Tensor {
  switch (s.kind) {
    case 'identity':
      return h;
    case 'conv': {
      let y: tf.Tensor = conv2d(h as tf.Tensor4D, s.w as tf.Tensor4D, s.stride, s.padding, inputGrad);
      if (s.b) y = tf.add(y, s.b);
      return activate(y, s.act);
    }
    case 'dense': {
      const flat = h.rank === 2 ? (h as tf.Tensor2D) : (tf.reshape(h, [h.shape[0]!, -1]) as tf.Tensor2D);
      let y: tf.Tensor = dense(flat, s.w as tf.Tensor2D);
      if (s.b) y = tf.add(y, s.b);
      return activate(y, s.act);
    }
    case 'maxPool':
      return tf.maxPool(h as tf.Tensor4D, s.size, s.stride, s.padding);
    case 'avgPool':
      return tf.avgPool(h as tf.Tensor4D, s.size, s.stride, s.padding);
    case 'globalAvgPool':
      return tf.mean(h, [1, 2]);
    case 'flatten':
      return tf.reshape(h, [h.shape[0]!, -1]);
    case 'reshape':
      return tf.reshape(h, [h.shape[0]!, ...s.shape]);
    case 'act':
      return activate(h, s.act);
    case 'batchNorm':
      return tf.batchNorm(h, s.mean, s.variance, s.beta ?? undefined, s.gamma ?? undefined, s.eps);
  }
}

/**
 * The head of a linearModel whose values have not been made into tensors yet: W (d x K) and b (K) on the host. The
 * first read of model.W or model.b makes both variables (and drops these arrays: from then on the variables hold
 * the head).
 */
const hostHeads = new WeakMap<SelmixModel, { W: Float32Array; b: Float32Array }>();

/**
 * A linear head on d-dimensional features, from W (d x K) and b (K). Its tfjs variables are made when first read:
 * a command that only computes with the head on ONNX Runtime (gain, eval) reads it with headValues and never makes
 * them (about 0.2 s and two copies of W at K = 1000, d = 2048).
 */
export function linearModel(
  W: Float32Array | Float64Array,
  b: Float32Array | Float64Array,
  d: number,
  K: number,
): SelmixModel {
  if (W.length !== d * K || b.length !== K)
    throw new RangeError(`linearModel: W has ${W.length} entries and b ${b.length} for d = ${d}, K = ${K}`);
  let vars: { W: tf.Variable<tf.Rank.R2>; b: tf.Variable<tf.Rank.R1> } | null = null;
  const made = (): { W: tf.Variable<tf.Rank.R2>; b: tf.Variable<tf.Rank.R1> } => {
    if (!vars) {
      const host = hostHeads.get(m)!;
      vars = {
        W: tf.tidy(() => trainable(tf.tensor2d(host.W, [d, K]), 'head_W')) as tf.Variable<tf.Rank.R2>,
        b: tf.tidy(() => trainable(tf.tensor1d(host.b), 'head_b')) as tf.Variable<tf.Rank.R1>,
      };
      hostHeads.delete(m);
    }
    return vars;
  };
  const m: SelmixModel = {
    K,
    d,
    inputShape: [d],
    get W() {
      return made().W;
    },
    get b() {
      return made().b;
    },
    backbone: null,
  };
  hostHeads.set(m, { W: Float32Array.from(W), b: Float32Array.from(b) });
  return m;
}

/**
 * The head's values of a linearModel whose variables have not been made yet (W d x K, b K; read them, do not write
 * them), else null: the caller reads model.W and model.b.
 */
export function headValues(m: SelmixModel): { W: Float32Array; b: Float32Array } | null {
  return hostHeads.get(m) ?? null;
}

/**
 * The head's W (d x K) and b (K) to read: the host values while the variables have not been made (headValues), else
 * the variables' own (read them, do not write them).
 */
export function headArrays(m: SelmixModel): { W: Float32Array; b: Float32Array } {
  return headValues(m) ?? { W: m.W.dataSync() as Float32Array, b: m.b.dataSync() as Float32Array };
}

/** Writes the fine-tuned backbone and head back into the source LayersModel (for saving). */
export function writeBack(m: SelmixModel): tf.LayersModel | null {
  if (!m.backbone?.source) return null;
  const src = m.backbone.source;
  let k = 0;
  for (let i = 0; i < m.backbone.headIndex; i++) {
    const layer = src.layers[i]!;
    const cls = layer.getClassName();
    if (cls === 'Conv2D' || cls === 'Dense') {
      const n = layer.getWeights().length;
      layer.setWeights(m.backbone.variables.slice(k, k + n));
      k += n;
    }
  }
  const head = src.layers[m.backbone.headIndex]!;
  head.setWeights(head.getWeights().length > 1 ? [m.W, m.b] : [m.W]);
  return src;
}

/** The demo's CNN (sized for 28x28x1 MNIST; any HxWxC works): two conv blocks, a 64-d feature layer, a linear head. */
export function demoCnn(K: number, seed: number, inputShape: number[] = [28, 28, 1]): tf.LayersModel {
  const init = (s: number) => tf.initializers.heNormal({ seed: seed * 101 + s });
  return tf.sequential({
    layers: [
      tf.layers.conv2d({
        inputShape,
        filters: 16,
        kernelSize: 3,
        padding: 'same',
        activation: 'relu',
        kernelInitializer: init(1),
        name: 'conv1',
      }),
      tf.layers.maxPooling2d({ poolSize: 2, name: 'pool1' }),
      tf.layers.conv2d({
        filters: 32,
        kernelSize: 3,
        padding: 'same',
        activation: 'relu',
        kernelInitializer: init(2),
        name: 'conv2',
      }),
      tf.layers.maxPooling2d({ poolSize: 2, name: 'pool2' }),
      tf.layers.flatten({ name: 'flatten' }),
      tf.layers.dense({ units: 64, activation: 'relu', kernelInitializer: init(3), name: 'features' }),
      tf.layers.dense({
        units: K,
        kernelInitializer: tf.initializers.glorotUniform({ seed: seed * 101 + 4 }),
        name: 'head',
      }),
    ],
  });
}

/** Releases the model's variables. */
export function disposeModel(m: SelmixModel): void {
  // A head that never became variables has nothing in tfjs to release.
  if (!hostHeads.delete(m)) {
    m.W.dispose();
    m.b.dispose();
  }
  m.backbone?.variables.forEach((v) => v.dispose());
  m.backbone?.constants.forEach((c) => c.dispose());
  m.backbone?.dispose?.();
}
