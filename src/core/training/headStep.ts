// The SGD step on a linear head over precomputed features (docs/ALGORITHM.md sections 4 and 8.11), with as few tensor
// kernels as the math allows: on wasm every tfjs kernel has a fixed cost, and element-wise kernels over the
// d x K weights cost about as much as a small product (npm run bench). What runs where:
//   JS:      gathering and mixing the features, the one-hot targets, the loss, the softmax gradient's scaling,
//            the bias and its momentum;
//   backend: the two products, the bias add and softmax, and the update of W.
// Weight decay without momentum is carried as a scale: the W variable holds W / s, so W <- (1 - lr wd) W - lr dW
// is one add on the backend (s shrinks by 1 - lr wd per step and multiplies the features instead). `sync` makes the
// variables exact again (W = s x variable, b and its momentum written back); the training loop calls it before
// every validation pass, checkpoint and at the end.
import * as tf from '@tensorflow/tfjs';

/** One step's batch: anchor rows, partner rows (or null: no mixup), anchor labels and mixing weights. */
export interface HeadBatch {
  /** Feature matrix the anchors index (n x d, row-major). */
  anchorSet: Float32Array;
  /** Feature matrix the partners index (the unlabeled pool, or the anchor set). */
  partnerSet: Float32Array;
  anchors: ArrayLike<number>;
  partners: ArrayLike<number> | null;
  ya: ArrayLike<number>;
  /** lambda per row: f = lambda f_a + (1 - lambda) f_p. */
  lam: ArrayLike<number>;
}

/** Hyper-parameters of one step. */
export interface HeadStepParams {
  lr: number;
  momentum: number;
  /** Weight decay on W (the bias is not decayed). */
  wd: number;
}

/** The head's variables: W (d x K), b (K) and their momentum buffers. */
export interface HeadVariables {
  W: tf.Variable;
  b: tf.Variable;
  mW: tf.Variable;
  mb: tf.Variable;
}

/**
 * Below this the carried scale of W is folded back into the variable (one multiply), to keep it well inside float32.
 */
const MIN_SCALE = 0.5;

/**
 * What the loop needs of a head trainer on features: LinearHeadTrainer (tfjs) or a native one the run layer hands in.
 */
export interface HeadTrainer {
  /** W = wScale x (the W variable) between sync calls. */
  readonly wScale: number;
  /** One SGD step; returns the batch's loss before the update. */
  step(batch: HeadBatch, p: HeadStepParams): number;
  /** Writes b and its momentum back into their variables. */
  writeBias(): void;
  /** Makes the variables exact (W, b and both momentum buffers). */
  sync(): void;
  /**
   * W ([d, K]) and b as they are now, exact, without changing the trainer's state (the variables may lag behind
   * between sync calls); the arrays may be the trainer's own: read them before the next step, do not keep them.
   */
  current(): { W: Float32Array; b: Float32Array };
  /** Releases what the trainer holds outside tfjs (native sessions), if anything. */
  dispose?(): void;
}

/**
 * Makes a head trainer over the head's variables, W carrying `scale` (a checkpoint's headScale; 1 for exact variables).
 */
export type HeadTrainerFactory = (v: HeadVariables, scale: number) => HeadTrainer;

/** A head trainer's [d, K] from its W variable, after checking the scale W carries (a RangeError naming `who`). */
export function headDims(v: HeadVariables, scale: number, who: string): [number, number] {
  if (!(scale > 0) || !Number.isFinite(scale))
    throw new RangeError(`${who}: the scale of W must be a positive number, got ${scale}`);
  return v.W.shape as [number, number];
}

/**
 * A linear head trained by SGD with cross-entropy on mixed features. Between `sync` calls the W variable holds
 * W / scale and the bias and its momentum live in `b` and `mb`; construct it after the variables hold their
 * starting values (e.g. after a resume).
 */
export class LinearHeadTrainer implements HeadTrainer {
  readonly b: Float32Array;
  readonly mb: Float32Array;
  /** W = scale x (the W variable) between sync calls. */
  private scale: number;
  private readonly d: number;
  private readonly K: number;

  /** `scale`: the scale the W variable carries (from a checkpoint's headScale; 1 for exact variables). */
  constructor(
    private readonly v: HeadVariables,
    scale = 1,
  ) {
    [this.d, this.K] = headDims(v, scale, 'LinearHeadTrainer');
    this.scale = scale;
    this.b = Float32Array.from(v.b.dataSync());
    this.mb = Float32Array.from(v.mb.dataSync());
  }

  /** The scale the W variable carries now: W = wScale x variable. */
  get wScale(): number {
    return this.scale;
  }

  /**
   * Writes b and its momentum back into their variables (as copies: tfjs's cpu backend keeps the array a tensor is
   * made from, so ours would alias the variables and their clones), leaving W's scale as it is. A checkpoint takes
   * this and wScale: folding the scale in would round W differently from a run that was never stopped there.
   */
  writeBias(): void {
    tf.tidy(() => {
      this.v.b.assign(tf.tensor1d(this.b.slice()));
      this.v.mb.assign(tf.tensor1d(this.mb.slice()));
    });
  }

  /** W (the variable times the carried scale) and b as they are now; the variables and the scale stay as they are. */
  current(): { W: Float32Array; b: Float32Array } {
    const W = Float32Array.from(this.v.W.dataSync());
    if (this.scale !== 1) for (let i = 0; i < W.length; i++) W[i] = W[i]! * this.scale;
    return { W, b: this.b };
  }

  /** Makes the variables exact: folds the carried scale into W and writes b and its momentum back. */
  sync(): void {
    if (this.scale !== 1) {
      const s = this.scale;
      tf.tidy(() => {
        this.v.W.assign(tf.mul(this.v.W, s));
      });
      this.scale = 1;
    }
    this.writeBias();
  }

  /**
   * One SGD step on mean CE(f W + b, y_a) with f the mixed features; returns the batch's loss before the update.
   * dL/da = (softmax(a) - onehot(y_a)) / B, dW = f^T dL/da (explicit transpose: a transposed matMul is slow on wasm),
   * db = column sums; then with momentum mu > 0: m = mu m + (grad + wd W), W -= lr m; with mu = 0:
   * W <- (1 - lr wd) W - lr grad. The bias is not decayed. The loss is -log softmax(a)_y from the float32 softmax,
   * recomputed exactly (logsumexp in float64) for a row whose probability is under 1e-30.
   */
  step(batch: HeadBatch, p: HeadStepParams): number {
    const { d, K, v } = this;
    const B = batch.ya.length;
    const { lr, momentum: mu, wd } = p;
    if (mu > 0 && this.scale !== 1) this.sync();
    // The carried scale enters through the features: f W = (s f) (W / s).
    const s = this.scale;
    const f = new Float32Array(B * d);
    const xa = batch.anchorSet,
      xp = batch.partnerSet,
      partners = batch.partners;
    for (let i = 0; i < B; i++) {
      const a = batch.anchors[i]! * d;
      const o = i * d;
      if (partners) {
        const q = partners[i]! * d;
        const lam = batch.lam[i]! * s,
          rest = s - lam;
        for (let r = 0; r < d; r++) f[o + r] = rest * xp[q + r]! + lam * xa[a + r]!;
      } else {
        for (let r = 0; r < d; r++) f[o + r] = s * xa[a + r]!;
      }
    }
    const ft = tf.tensor2d(f, [B, d]);
    try {
      const [logits, prob] = tf.tidy(() => {
        const a = tf.add(tf.matMul(ft, v.W), tf.tensor1d(this.b));
        return [a, tf.softmax(a)];
      });
      const A = logits.dataSync();
      const P = prob.dataSync();
      logits.dispose();
      prob.dispose();
      // Loss, and the softmax gradient (P - Y) / B with its column sums (the bias gradient).
      let loss = 0;
      const g = new Float32Array(B * K);
      const db = new Float64Array(K);
      for (let i = 0; i < B; i++) {
        const o = i * K;
        const y = batch.ya[i]!;
        const py = P[o + y]!;
        if (py >= 1e-30) loss -= Math.log(py);
        else {
          let mx = -Infinity;
          for (let l = 0; l < K; l++) mx = Math.max(mx, A[o + l]!);
          let z = 0;
          for (let l = 0; l < K; l++) z += Math.exp(A[o + l]! - mx);
          loss += mx + Math.log(z) - A[o + y]!;
        }
        for (let l = 0; l < K; l++) {
          const gl = (P[o + l]! - (l === y ? 1 : 0)) / B;
          g[o + l] = gl;
          db[l]! += gl;
        }
      }
      if (lr === 0) return loss / B;
      if (mu > 0) {
        // Momentum: the plain update on the backend (the scale is 1 on this path).
        tf.tidy(() => {
          const dW = tf.matMul(tf.transpose(ft), tf.tensor2d(g, [B, K]));
          const m = tf.add(tf.mul(v.mW, mu), wd > 0 ? tf.add(dW, tf.mul(v.W, wd)) : dW);
          v.mW.assign(m);
          v.W.assign(tf.sub(v.W, tf.mul(m, lr)));
        });
        for (let l = 0; l < K; l++) {
          this.mb[l] = mu * this.mb[l]! + db[l]!;
          this.b[l] = this.b[l]! - lr * this.mb[l]!;
        }
      } else {
        // W' = c W - lr f^T g with c = 1 - lr wd. With W = s V, f_s = s f and s' = c s:
        // V' = W' / s' = V - lr / (c s^2) f_s^T g, i.e. one product and one add, the factor folded into g.
        const c = 1 - lr * wd;
        const alpha = -lr / (c * s * s);
        for (let t = 0; t < g.length; t++) g[t] = g[t]! * alpha;
        tf.tidy(() => {
          v.W.assign(tf.add(v.W, tf.matMul(tf.transpose(ft), tf.tensor2d(g, [B, K]))));
        });
        this.scale = c * s;
        for (let l = 0; l < K; l++) this.b[l] = this.b[l]! - lr * db[l]!;
        if (this.scale < MIN_SCALE) this.sync();
      }
      return loss / B;
    } finally {
      ft.dispose();
    }
  }
}
