// Whole-network training of an ONNX classifier on ONNX Runtime: the model's intermediate shapes probed once (the
// forward graph run at two batch sizes with every intermediate as an output), the step graph of
// src/formats/onnx/networkStep.ts built and loaded once per batch size, and the parameters with their momentum held in
// JS arrays between steps (fed in, read back). Also the forward graph with the parameters as inputs (features and
// logits with the current backbone) and the Backbone the loop sees: its variables mirror the trainable initializers.
import * as tf from '@tensorflow/tfjs';
import type { Backbone } from '../core/training/model';
import type { NetworkBatch, NetworkStepParams, NetworkTrainer } from '../core/training/networkStep';
import { encodeOnnx } from '../formats/onnx/proto';
import {
  forwardModel,
  probeModel,
  stepModel,
  stepNames,
  type NetworkModel,
  type ProbeRun,
} from '../formats/onnx/networkStep';
import { OrtSession } from './onnxRuntime';

/**
 * A deterministic input of n examples in [-1, 1] (shapes do not depend on values; zeros could hit a degenerate path).
 */
function probeInput(n: number, per: number): Float32Array {
  const x = new Float32Array(n * per);
  let s = 12345;
  for (let i = 0; i < x.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    x[i] = (s / 4294967296) * 2 - 1;
  }
  return x;
}

/** Runs the model once at batch sizes 2 and 3 with every intermediate as an output: their shapes and int64 values. */
export function probeNetwork(m: NetworkModel, exampleShape: number[]): [ProbeRun, ProbeRun] {
  const { proto, outputs } = probeModel(m);
  const s = new OrtSession(encodeOnnx(proto));
  try {
    const per = exampleShape.reduce((a, v) => a * v, 1);
    return [2, 3].map((n) => {
      const r = s.runRaw({ [m.inputName]: { data: probeInput(n, per), dims: [n, ...exampleShape] } }, outputs);
      const run: ProbeRun = { n, shapes: new Map([[m.inputName, [n, ...exampleShape]]]), ints: new Map() };
      for (const o of outputs) {
        const t = r[o]!;
        run.shapes.set(o, t.dims);
        if (t.type === 'int64' && t.data.length <= 64) run.ints.set(o, Array.from(t.data));
      }
      return run;
    }) as [ProbeRun, ProbeRun];
  } finally {
    s.dispose();
  }
}

/** The trainable parameters of a network and their momentum, as the step graph takes them. */
export type ParamValues = Map<string, Float32Array>;

/** The step graph's session for one batch size. */
export class OrtNetworkStep {
  private readonly session: OrtSession;
  private readonly y: Float32Array;

  constructor(
    private readonly m: NetworkModel,
    probes: [ProbeRun, ProbeRun],
    readonly B: number,
    private readonly exampleShape: number[],
    decayed?: ReadonlySet<string>,
    /** 'input': the batch's xa is already mixed and carries soft targets (NetworkBatch.y); one backbone pass. */
    readonly mix: 'feature' | 'input' = 'feature',
  ) {
    // One thread: on two cores a second made this graph no faster (a ResNet-8 step at batch 64 + 64, 370 to 500 ms
    // against about 400 ms) for a quarter more CPU time in a whole run (docs/PERFORMANCE.md, fifteenth pass).
    this.session = new OrtSession(encodeOnnx(stepModel(m, { B, probes, mix, ...(decayed ? { decayed } : {}) })));
    this.y = new Float32Array(B * m.head.K);
  }

  /** One step: params and momentum replaced by their new values (new arrays); returns the loss before the update. */
  step(params: ParamValues, momentum: ParamValues, batch: NetworkBatch, p: NetworkStepParams): number {
    const { B, m } = this;
    const K = m.head.K;
    if (batch.ya.length !== B)
      throw new RangeError(`OrtNetworkStep: a batch of ${batch.ya.length} rows for a graph built for ${B}`);
    if ((this.mix === 'input') !== (batch.y !== undefined))
      throw new RangeError(
        `OrtNetworkStep: a graph for ${this.mix} mixup needs ${this.mix === 'input' ? '' : 'no '}soft targets`,
      );
    let y = batch.y;
    if (!y) {
      y = this.y.fill(0);
      for (let i = 0; i < B; i++) y[i * K + batch.ya[i]!] = 1;
    }
    const feeds: Record<string, { data: Float32Array; dims: readonly number[] }> = {
      Xa: { data: batch.xa, dims: [B, ...this.exampleShape] },
      ...(this.mix === 'input'
        ? {}
        : {
            Xp: { data: batch.xp, dims: [B, ...this.exampleShape] },
            lam: { data: batch.lam, dims: [B, 1] },
          }),
      Y: { data: y, dims: [B, K] },
      lr: { data: Float32Array.of(p.lr), dims: [1] },
      mu: { data: Float32Array.of(p.momentum), dims: [1] },
      wd: { data: Float32Array.of(p.wd), dims: [1] },
      blf: { data: Float32Array.of(p.backboneLrFactor), dims: [1] },
    };
    const outs = ['loss'];
    for (const name of m.params) {
      const dims = m.paramShapes.get(name)!;
      feeds[name] = { data: params.get(name)!, dims };
      feeds[stepNames.momentum(name)] = { data: momentum.get(name)!, dims };
      outs.push(stepNames.newParam(name), stepNames.newMomentum(name));
    }
    const r = this.session.run(feeds, outs);
    for (const name of m.params) {
      params.set(name, r[stepNames.newParam(name)]!.data);
      momentum.set(name, r[stepNames.newMomentum(name)]!.data);
    }
    return r.loss!.data[0]!;
  }

  /** Releases the session. */
  dispose(): void {
    this.session.dispose();
  }
}

/** The saliency graph for n images: the input gradient of each image's cross-entropy with its label. */
export class OrtSaliency {
  private readonly session: OrtSession;

  constructor(
    private readonly m: NetworkModel,
    probes: [ProbeRun, ProbeRun],
    readonly n: number,
    private readonly exampleShape: number[],
  ) {
    this.session = new OrtSession(encodeOnnx(stepModel(m, { B: n, probes, saliency: true })));
  }

  /** d CE(x_i, y_i) / d x_i for the n images of x (flat, the model's layout). */
  run(params: ParamValues, x: Float32Array, y: Int32Array): Float32Array {
    const { n, m } = this;
    const K = m.head.K;
    if (y.length !== n) throw new RangeError(`OrtSaliency: ${y.length} labels for a graph built for ${n}`);
    const Y = new Float32Array(n * K);
    for (let i = 0; i < n; i++) Y[i * K + y[i]!] = 1;
    const feeds: Record<string, { data: Float32Array; dims: readonly number[] }> = {
      Xa: { data: x, dims: [n, ...this.exampleShape] },
      Y: { data: Y, dims: [n, K] },
    };
    for (const name of m.params) feeds[name] = { data: params.get(name)!, dims: m.paramShapes.get(name)! };
    return this.session.run(feeds, ['saliency']).saliency!.data;
  }

  /** Releases the session. */
  dispose(): void {
    this.session.dispose();
  }
}

/** The head's weight as the loop holds it (d x K) from its ONNX layout, and back. */
function headToLoop(w: Float32Array, d: number, K: number, transB: boolean): Float32Array {
  if (!transB) return Float32Array.from(w);
  const out = new Float32Array(d * K);
  for (let r = 0; r < d; r++) for (let k = 0; k < K; k++) out[r * K + k] = w[k * d + r]!;
  return out;
}

function headFromLoop(W: Float32Array, d: number, K: number, transB: boolean): Float32Array {
  if (!transB) return Float32Array.from(W);
  const out = new Float32Array(d * K);
  for (let r = 0; r < d; r++) for (let k = 0; k < K; k++) out[k * d + r] = W[r * K + k]!;
  return out;
}

/**
 * A network on ONNX Runtime: the forward graph (parameters as inputs), the step graphs, and the loop's view of it.
 * Backbone parameters are the trainable initializers other than the head's weight and bias, in initializer order.
 */
export class OrtNetwork {
  readonly backboneParams: string[];
  private readonly forward: OrtSession;
  private readonly steps = new Map<string, OrtNetworkStep>();
  private readonly saliencies = new Map<number, OrtSaliency>();

  constructor(
    readonly m: NetworkModel,
    readonly probes: [ProbeRun, ProbeRun],
    readonly exampleShape: number[],
  ) {
    const head = new Set([m.head.weightName, m.head.biasName]);
    this.backboneParams = m.params.filter((p) => !head.has(p));
    // The forward passes (validation, evaluation) on every core: intraOpThreads.
    this.forward = new OrtSession(encodeOnnx(forwardModel(m)), undefined, true, 'all');
  }

  /** The step graph for batch size B and a mixup kind (built and loaded on first use). */
  stepFor(B: number, mix: 'feature' | 'input' = 'feature'): OrtNetworkStep {
    const key = `${mix}:${B}`;
    let s = this.steps.get(key);
    if (!s) {
      s = new OrtNetworkStep(this.m, this.probes, B, this.exampleShape, undefined, mix);
      this.steps.set(key, s);
    }
    return s;
  }

  /** The saliency graph for n images (built and loaded on first use). */
  saliencyFor(n: number): OrtSaliency {
    let s = this.saliencies.get(n);
    if (!s) {
      s = new OrtSaliency(this.m, this.probes, n, this.exampleShape);
      this.saliencies.set(n, s);
    }
    return s;
  }

  /** Features (n x d) and logits (n x K) of n examples with the given parameter values. */
  run(x: Float32Array, n: number, params: ParamValues): { features: Float32Array; logits: Float32Array } {
    const feeds: Record<string, { data: Float32Array; dims: readonly number[] }> = {
      [this.m.inputName]: { data: x, dims: [n, ...this.exampleShape] },
    };
    for (const p of this.m.params) feeds[p] = { data: params.get(p)!, dims: this.m.paramShapes.get(p)! };
    const r = this.forward.run(feeds, [this.m.head.features, this.m.head.output]);
    return { features: r[this.m.head.features]!.data, logits: r[this.m.head.output]!.data };
  }

  /** The parameters as the loop's variables hold them: W (d x K) and b first, then the backbone's. */
  paramsFromVariables(vars: tf.Variable[]): ParamValues {
    const { d, K } = this.m.head;
    const out: ParamValues = new Map();
    out.set(this.m.head.weightName, headFromLoop(vars[0]!.dataSync() as Float32Array, d, K, this.m.transB));
    out.set(this.m.head.biasName, Float32Array.from(vars[1]!.dataSync()));
    this.backboneParams.forEach((p, i) => out.set(p, Float32Array.from(vars[i + 2]!.dataSync())));
    return out;
  }

  /** Writes parameter values into the loop's variables (the inverse of paramsFromVariables). */
  writeVariables(values: ParamValues, vars: tf.Variable[]): void {
    const { d, K } = this.m.head;
    tf.tidy(() => {
      vars[0]!.assign(tf.tensor2d(headToLoop(values.get(this.m.head.weightName)!, d, K, this.m.transB), [d, K]));
      vars[1]!.assign(tf.tensor1d(values.get(this.m.head.biasName)!.slice()));
      this.backboneParams.forEach((p, i) => vars[i + 2]!.assign(tf.tensor(values.get(p)!.slice(), vars[i + 2]!.shape)));
    });
  }

  /**
   * The Backbone the loop sees: variables mirroring the backbone's initializers; apply runs the forward graph with the
   * current values.
   */
  backbone(initial: ParamValues, head: () => { W: tf.Variable; b: tf.Variable }): Backbone {
    const variables = this.backboneParams.map((p, i) => {
      const dims = this.m.paramShapes.get(p)!;
      // Names carry _b_ for 1-D parameters: the loop's no-decay rule (src/core/training/train.ts) reads it.
      return tf.tidy(() =>
        tf.variable(
          tf.tensor(initial.get(p)!.slice(), dims),
          true,
          `onnx_${i}${dims.length < 2 ? '_b_' : '_w_'}${Math.random().toString(36).slice(2, 8)}`,
        ),
      );
    });
    const apply = (x: tf.Tensor): tf.Tensor2D => {
      const n = x.shape[0]!;
      const h = head();
      const values = this.paramsFromVariables([h.W, h.b, ...variables]);
      const r = this.run(x.dataSync() as Float32Array, n, values);
      return tf.tensor2d(r.features, [n, this.m.head.d]);
    };
    return { variables, constants: [], apply, source: null, headIndex: -1, dispose: () => this.dispose() };
  }

  /** A trainer bound to the loop's variables and momentum buffers (same order: W, b, backbone). */
  trainer(vars: tf.Variable[], momentum: tf.Variable[]): NetworkTrainer {
    let params = this.paramsFromVariables(vars);
    let mom = this.paramsFromVariables(momentum);
    return {
      step: (batch, p) => {
        const s = this.stepFor(batch.ya.length, batch.y ? 'input' : 'feature');
        if (p.lr === 0) {
          // No update: the loss of the current parameters, state kept (as the tfjs step skips a zero learning rate).
          const keepP = new Map(params);
          const keepM = new Map(mom);
          const loss = s.step(params, mom, batch, p);
          params = keepP;
          mom = keepM;
          return loss;
        }
        return s.step(params, mom, batch, p);
      },
      sync: () => {
        this.writeVariables(params, vars);
        this.writeVariables(mom, momentum);
      },
      reload: () => {
        params = this.paramsFromVariables(vars);
        mom = this.paramsFromVariables(momentum);
      },
      saliency: (x, y) => this.saliencyFor(y.length).run(params, x, y),
      values: () => {
        const { d, K } = this.m.head;
        return [
          headToLoop(params.get(this.m.head.weightName)!, d, K, this.m.transB),
          params.get(this.m.head.biasName)!,
          ...this.backboneParams.map((p) => params.get(p)!),
        ];
      },
    };
  }

  /** Times one step at batch size B (lr 0: nothing changes), after building its graph; milliseconds. */
  measureStep(B: number, params: ParamValues, x: Float32Array, K: number): number {
    const s = this.stepFor(B);
    const per = this.exampleShape.reduce((a, v) => a * v, 1);
    const xa = new Float32Array(B * per);
    xa.set(x.subarray(0, Math.min(x.length, B * per)));
    const mom: ParamValues = new Map([...params].map(([k, v]) => [k, new Float32Array(v.length)]));
    const batch: NetworkBatch = {
      xa,
      xp: xa,
      lam: new Float32Array(B).fill(1),
      ya: new Int32Array(B).map((_, i) => i % K),
    };
    const t0 = performance.now();
    s.step(new Map(params), mom, batch, { lr: 0, momentum: 0, wd: 0, backboneLrFactor: 0 });
    return performance.now() - t0;
  }

  /** Releases every session. */
  dispose(): void {
    this.forward.dispose();
    for (const s of this.steps.values()) s.dispose();
    this.steps.clear();
    for (const s of this.saliencies.values()) s.dispose();
    this.saliencies.clear();
  }
}
