// The head's SGD step (feature mixup, softmax cross-entropy, SGD with momentum and weight decay on W): one ONNX graph,
// built once per shape (B, d, K) and run on ONNX Runtime, computes the loss, dW and the bias update; the update of W
// and its momentum follows on the host, in place: the same update as src/core/training/headStep.ts's
// LinearHeadTrainer. The graph has no state: W, b and the bias momentum go in; lr and momentum are inputs, so a
// learning-rate schedule needs no new graph.
//   F = lam Xa + (1 - lam) Xp;  A = F W + b;  loss = mean_i -log softmax(A_i)[y_i]
//   G = (softmax(A) - Y) / B;   dW = F^T G;  db = colsum(G)
//   mW' = mu mW + dW + wd W;    W' = W - lr mW';   mb' = mu mb + db;   b' = b - lr mb'   (the bias is not decayed)
// W's update on the host is one pass over d x K in place (a WebAssembly SIMD loop where it runs, else JS: wUpdate.ts),
// where the graph took six element-wise passes and two fresh d x K outputs (W' and mW', copied out of ONNX Runtime at
// every step); each operation rounded to float32 as the graph's Mul, Add and Sub round, so W and mW are the same to
// the last bit.
import * as tf from '@tensorflow/tfjs';
import { headDims, type HeadBatch, type HeadStepParams, type HeadVariables } from '../core/training/headStep';
import { encodeOnnx, floatTensor, int64Tensor, modelOf, node, valueInfo } from '../formats/onnx/proto';
import { headStepThreads, OrtSession } from './onnxRuntime';
import { hostUpdateW, simdWUpdate } from './wUpdate';

/** The head's state as the fused step carries it: W (d x K, row-major), b (K) and their momentum buffers. */
export interface OrtHeadState {
  W: Float32Array;
  b: Float32Array;
  mW: Float32Array;
  mb: Float32Array;
  /**
   * W's update in place, when W and mW live in its WebAssembly memory (simdWUpdate), and the room there that the step
   * asks ONNX Runtime to write dW into; else hostUpdateW on dW as ONNX Runtime returns it.
   */
  fast?: { update: (dW: Float32Array, p: HeadStepParams) => void; dW: Float32Array };
}

/** The ONNX bytes of the step's graph for B rows, d features and K classes (W's update is on the host: hostUpdateW). */
export function headStepGraph(B: number, d: number, K: number): Uint8Array {
  const n = (
    op: string,
    ins: string[],
    out: string,
    attrs: Record<string, number | number[]> = {},
    ints: string[] = [],
  ) => node(op, ins, [out], attrs, ints);
  return encodeOnnx(
    modelOf({
      name: 'selmix_head_step',
      initializer: [
        floatTensor('one', [1], Float32Array.of(1)),
        floatTensor('invB', [1], Float32Array.of(1 / B)),
        int64Tensor('axis0', [1], [0]),
      ],
      input: [
        valueInfo('W', [d, K]),
        valueInfo('b', [K]),
        valueInfo('mb', [K]),
        valueInfo('Xa', [B, d]),
        valueInfo('Xp', [B, d]),
        valueInfo('lam', [B, 1]),
        valueInfo('Y', [B, K]),
        valueInfo('lr', [1]),
        valueInfo('mu', [1]),
      ],
      output: [valueInfo('dW', [d, K]), valueInfo('b_out', [K]), valueInfo('mb_out', [K]), valueInfo('loss', [])],
      node: [
        // Feature mixup.
        n('Sub', ['one', 'lam'], 'rest'),
        n('Mul', ['Xa', 'lam'], 'fa'),
        n('Mul', ['Xp', 'rest'], 'fp'),
        n('Add', ['fa', 'fp'], 'F'),
        // Forward and the loss.
        n('Gemm', ['F', 'W', 'b'], 'A'),
        n('LogSoftmax', ['A'], 'logP', { axis: 1 }, ['axis']),
        n('Mul', ['Y', 'logP'], 'ylogP'),
        n('ReduceSum', ['ylogP'], 'sumYlogP', { keepdims: 0 }, ['keepdims']),
        n('Mul', ['sumYlogP', 'invB'], 'negLoss1'),
        n('Neg', ['negLoss1'], 'loss1'),
        n('Squeeze', ['loss1'], 'loss'),
        // The softmax cross-entropy gradient.
        n('Exp', ['logP'], 'P'),
        n('Sub', ['P', 'Y'], 'PmY'),
        n('Mul', ['PmY', 'invB'], 'G'),
        n('Gemm', ['F', 'G'], 'dW', { transA: 1 }, ['transA']),
        n('ReduceSum', ['G', 'axis0'], 'db', { keepdims: 0 }, ['keepdims']),
        // SGD with momentum on the bias (not decayed).
        n('Mul', ['mb', 'mu'], 'muMb'),
        n('Add', ['muMb', 'db'], 'mb_out'),
        n('Mul', ['mb_out', 'lr'], 'stepB'),
        n('Sub', ['b', 'stepB'], 'b_out'),
      ],
    }),
  );
}

/**
 * The fused head step for one shape; `step` updates the state in place (new arrays) and returns the batch's loss before
 * the update.
 */
export class OrtHeadStep {
  private readonly session: OrtSession;
  private readonly xa: Float32Array;
  private readonly xp: Float32Array;
  private readonly lam: Float32Array;
  private readonly y: Float32Array;

  constructor(
    readonly B: number,
    readonly d: number,
    readonly K: number,
  ) {
    this.session = new OrtSession(headStepGraph(B, d, K), undefined, true, headStepThreads(B, d, K));
    this.xa = new Float32Array(B * d);
    this.xp = new Float32Array(B * d);
    this.lam = new Float32Array(B);
    this.y = new Float32Array(B * K);
  }

  /**
   * One step on a batch of exactly B rows (anchors gathered here; no partners: lambda = 1). W and mW are updated in
   * place, b and mb replaced; with update false nothing in the state changes (the loss alone).
   */
  step(state: OrtHeadState, batch: HeadBatch, p: HeadStepParams, update = true): number {
    const { B, d, K } = this;
    if (batch.ya.length !== B)
      throw new RangeError(`OrtHeadStep: a batch of ${batch.ya.length} rows for a graph built for ${B}`);
    this.y.fill(0);
    for (let i = 0; i < B; i++) {
      const a = batch.anchors[i]! * d;
      this.xa.set(batch.anchorSet.subarray(a, a + d), i * d);
      if (batch.partners) {
        const q = batch.partners[i]! * d;
        this.xp.set(batch.partnerSet.subarray(q, q + d), i * d);
        this.lam[i] = batch.lam[i]!;
      } else {
        this.lam[i] = 1;
      }
      this.y[i * K + batch.ya[i]!] = 1;
    }
    if (!batch.partners) this.xp.fill(0);
    const r = this.session.run(
      {
        W: { data: state.W, dims: [d, K] },
        b: { data: state.b, dims: [K] },
        mb: { data: state.mb, dims: [K] },
        Xa: { data: this.xa, dims: [B, d] },
        Xp: { data: this.xp, dims: [B, d] },
        lam: { data: this.lam, dims: [B, 1] },
        Y: { data: this.y, dims: [B, K] },
        lr: { data: Float32Array.of(p.lr), dims: [1] },
        mu: { data: Float32Array.of(p.momentum), dims: [1] },
      },
      update ? ['dW', 'b_out', 'mb_out', 'loss'] : ['loss'],
      update && state.fast ? { dW: { data: state.fast.dW, dims: [d, K] } } : undefined,
    );
    if (update) {
      // On the fast path dW was a pre-allocated output: ONNX Runtime wrote it into the fast path's memory (r.dW is
      // the binding's copy of the same values), so the update reads it there without a copy.
      if (state.fast) state.fast.update(state.fast.dW, p);
      else hostUpdateW(state.W, state.mW, r.dW!.data, p);
      state.b = r.b_out!.data;
      state.mb = r.mb_out!.data;
    }
    return r.loss!.data[0]!;
  }

  /** Releases the session. */
  dispose(): void {
    this.session.dispose();
  }
}

/**
 * The fused step behind LinearHeadTrainer's surface (step, sync, writeBias, wScale), so the loop can take either:
 * W, b and their momentum live in JS arrays between sync calls (wScale is always 1), one graph per batch size.
 */
export class OrtHeadTrainer {
  private readonly state: OrtHeadState;
  private readonly graphs = new Map<number, OrtHeadStep>();
  private readonly d: number;
  private readonly K: number;

  constructor(
    private readonly v: HeadVariables,
    scale = 1,
  ) {
    [this.d, this.K] = headDims(v, scale, 'OrtHeadTrainer');
    // W and its momentum in WebAssembly memory, updated there four floats at a time (the same bits as hostUpdateW),
    // where WebAssembly SIMD runs; in plain arrays otherwise.
    const fast = simdWUpdate(this.d * this.K);
    const W = fast ? fast.W : new Float32Array(this.d * this.K);
    const mW = fast ? fast.mW : new Float32Array(this.d * this.K);
    W.set(v.W.dataSync());
    mW.set(v.mW.dataSync());
    if (scale !== 1) for (let i = 0; i < W.length; i++) W[i] = W[i]! * scale;
    this.state = {
      W,
      b: Float32Array.from(v.b.dataSync()),
      mW,
      mb: Float32Array.from(v.mb.dataSync()),
      ...(fast ? { fast } : {}),
    };
  }

  /** Always 1: W is held exactly. */
  get wScale(): number {
    return 1;
  }

  /** One SGD step (see OrtHeadStep); returns the batch's loss before the update. */
  step(batch: HeadBatch, p: HeadStepParams): number {
    const B = batch.ya.length;
    let g = this.graphs.get(B);
    if (!g) {
      g = new OrtHeadStep(B, this.d, this.K);
      this.graphs.set(B, g);
    }
    // A step with no update (lr 0) still reports the loss and leaves the state as it is.
    return g.step(this.state, batch, p, p.lr !== 0);
  }

  /** Writes b and its momentum back into their variables. */
  writeBias(): void {
    tf.tidy(() => {
      this.v.b.assign(tf.tensor1d(this.state.b.slice()));
      this.v.mb.assign(tf.tensor1d(this.state.mb.slice()));
    });
  }

  /** W and b as they are now: the arrays the steps update (the W variable lags behind them until sync). */
  current(): { W: Float32Array; b: Float32Array } {
    return { W: this.state.W, b: this.state.b };
  }

  /** Makes the variables exact: W, b and both momentum buffers written back. */
  sync(): void {
    tf.tidy(() => {
      this.v.W.assign(tf.tensor2d(this.state.W.slice(), [this.d, this.K]));
      this.v.mW.assign(tf.tensor2d(this.state.mW.slice(), [this.d, this.K]));
    });
    this.writeBias();
  }

  /** Releases the sessions. */
  dispose(): void {
    for (const g of this.graphs.values()) g.dispose();
    this.graphs.clear();
  }
}
