// Benchmark (b): one head fine-tuning step (feature mixup, hand-written head gradient, SGD update) as the
// training loop runs it on precomputed features (linearHeadStep of src/core/training/headStep.ts), against the
// backend's raw
// matMul on the same shapes (the same FLOPs); beside it the general tensor-op step (sgdStep of
// src/core/training/train.ts,
// the path of a backbone), the products with weights that change every step, and the transposed-matMul penalty.
import * as tf from '@tensorflow/tfjs';
import { gatherRows, type ExampleSet } from '../src/core/training/evaluate';
import { Rng } from '../src/core/numerics/rng';
import { sgdStep } from '../src/core/training/train';
import { LinearHeadTrainer } from '../src/core/training/headStep';
import type { SelmixModel } from '../src/core/training/model';
import { cpuMs, gaussian, median, mulberry, timeIt, type Timing } from './lib';

/** Shapes of the head step. */
export interface HeadShape {
  /** Anchors per step (as many partners). */
  B: number;
  d: number;
  K: number;
}

/** Head-step figures. */
export interface HeadStepResult {
  shape: HeadShape;
  /** FLOPs of the two matrix products of a step: logits (B x d x K) and dW (d x B x K), 2 per multiply-add. */
  matmulFlops: number;
  /**
   * The step as the training loop runs it on features (LinearHeadTrainer: gather, mixup, logits, softmax gradient,
   * loss, weight decay, SGD).
   */
  engineStep: Timing;
  /** The same step as tensor ops (sgdStep: ~30 tfjs kernels, as on a backbone's features). */
  tensorOpStep: Timing;
  /** The two products alone (f W and f^T g with f^T precomputed), as one "matMul step" of the same FLOPs. */
  matmulOnly: Timing;
  /**
   * The same two products plus the add that makes the next W on the backend, as in a training step: W is a new
   * tensor every step, and wasm's matmul packs its right operand once per tensor (a fixed W is packed once).
   */
  matmulFreshW: Timing;
  /** Per product. */
  matmulForward: Timing;
  matmulGradW: Timing;
  engineGflops: number;
  tensorOpGflops: number;
  matmulGflops: number;
  /**
   * matMul-only time / engine-step time, the median of the per-rep ratios of the interleaved timings (target >= 0.5).
   */
  ratio: number;
  /** The same for the products with a W that changes every step. */
  freshWRatio?: number;
  tensorOpRatio: number;
  /**
   * Kernel count and the top kernels by time in one engine step (tf.profile), when the backend reports kernel times.
   */
  kernels: { count: number; top: { name: string; ms: number }[] } | null;
  /** Kernels in one tensor-op step (tf.profile), when profiled. */
  tensorOpKernels?: number;
  /** A large square product, for the backend's best rate. */
  square: { n: number; timing: Timing; gflops: number };
  transpose: TransposeResult;
}

/** The transposed-matMul penalty on the shapes of the head gradient. */
export interface TransposeResult {
  /** dW = f^T g with f (B x d), g (B x K). */
  gradW: { transposeA: Timing; explicitTranspose: Timing; pretransposed: Timing; penalty: number };
  /** dX = g W^T with g (B x K), W (d x K). */
  gradX: { transposeB: Timing; explicitTranspose: Timing; pretransposed: Timing; penalty: number };
}

/**
 * Times `iters` calls of an op (each in its own tidy) as one run, reading back once at the end; returns per-call ms.
 */
function opTiming(make: () => tf.Tensor, reps: number, iters: number): Timing {
  const t = timeIt(
    () => {
      let last: tf.Tensor | null = null;
      for (let i = 0; i < iters; i++) {
        last?.dispose();
        last = tf.tidy(make);
      }
      last!.dataSync();
      last!.dispose();
    },
    { reps, warmup: 1 },
  );
  const per = (x: number) => x / iters;
  return {
    medianMs: per(t.medianMs),
    minMs: per(t.minMs),
    maxMs: per(t.maxMs),
    cpuMedianMs: per(t.cpuMedianMs),
    reps: t.reps,
  };
}

/** Runs the head-step benchmark on the current backend. */
export async function benchHeadStep(
  shape: HeadShape,
  opts: { reps?: number; iters?: number; profile?: boolean } = {},
): Promise<HeadStepResult> {
  const { B, d, K } = shape;
  const reps = opts.reps ?? 7;
  const iters = opts.iters ?? 100;
  const u = mulberry(7);
  const g = gaussian(u);
  // A feature set to gather from, as the loop does (ReLU-like features).
  const n = 20 * K;
  const x = new Float32Array(n * d);
  for (let i = 0; i < x.length; i++) x[i] = Math.max(0, g());
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) y[i] = i % K;
  const set: ExampleSet = { x, y, n, shape: [d] };
  const W = tf.variable(tf.randomNormal([d, K], 0, 1 / Math.sqrt(d), 'float32', 1)) as tf.Variable<tf.Rank.R2>;
  const b = tf.variable(tf.zeros([K])) as tf.Variable<tf.Rank.R1>;
  const vars = [W, b] as tf.Variable[];
  const mom = vars.map((v) => tf.variable(tf.zerosLike(v), false));
  const rng = new Rng(3);
  const cfg = { lr: 0.01, wd: 5e-4, momentum: 0 };
  const isBias = [false, true];

  const draw = () => {
    const anchors = new Int32Array(B);
    const partners = new Int32Array(B);
    for (let i = 0; i < B; i++) {
      anchors[i] = rng.int(n);
      partners[i] = rng.int(n);
    }
    const lam = new Float32Array(B);
    for (let i = 0; i < B; i++) lam[i] = rng.uniform(0.6, 1);
    return { anchors, partners, ya: Int32Array.from(anchors, (a) => y[a]!), lam };
  };

  // The engine's step on features (src/core/training/headStep.ts), as the training loop calls it.
  const head = new LinearHeadTrainer({ W, b, mW: mom[0]!, mb: mom[1]! });
  const engineStep = (): number => {
    const bt = draw();
    return head.step(
      { anchorSet: x, partnerSet: x, anchors: bt.anchors, partners: bt.partners, ya: bt.ya, lam: bt.lam },
      { lr: cfg.lr, momentum: cfg.momentum, wd: cfg.wd },
    );
  };

  // The same step as tensor ops: sgdStep of src/core/training/train.ts on a linear head.
  const model: SelmixModel = { K, d, inputShape: [d], W, b, backbone: null };
  const tensorOpStep = (): number => {
    const bt = draw();
    return sgdStep(model, vars, mom, isBias, [1, 1], {
      xa: gatherRows(set, bt.anchors),
      xp: gatherRows(set, bt.partners),
      ya: bt.ya,
      lam: bt.lam,
      lr: cfg.lr,
      momentum: cfg.momentum,
      wd: cfg.wd,
      freeze: false,
    });
  };

  // Raw products on the same shapes.
  const f = tf.randomNormal([B, d], 0, 1, 'float32', 2) as tf.Tensor2D;
  const fT = tf.transpose(f) as tf.Tensor2D;
  const gr = tf.randomNormal([B, K], 0, 0.01, 'float32', 3) as tf.Tensor2D;
  const WT = tf.transpose(W) as tf.Tensor2D;
  const matmulForward = opTiming(() => tf.matMul(f, W), reps, iters);
  const matmulGradW = opTiming(() => tf.matMul(fT, gr), reps, iters);

  // The four contenders, interleaved rep by rep (each rep: iters calls of each), so a slow spell of this shared
  // machine hits all of them alike; the ratios are medians of the per-rep ratios.
  const contenders: Record<'engine' | 'tensorOps' | 'matmulOnly' | 'matmulFreshW', () => void> = {
    engine: () => {
      for (let i = 0; i < iters; i++) engineStep();
      head.sync();
      W.dataSync();
    },
    tensorOps: () => {
      for (let i = 0; i < iters; i++) tensorOpStep();
      W.dataSync();
    },
    matmulOnly: () => {
      for (let i = 0; i < iters; i++)
        tf.tidy(() => {
          tf.matMul(f, W);
          tf.matMul(fT, gr);
        });
    },
    matmulFreshW: () => {
      let Wi: tf.Tensor = tf.clone(W);
      for (let i = 0; i < iters; i++) {
        const next = tf.tidy(() => {
          tf.matMul(f, Wi);
          return tf.add(Wi, tf.matMul(fT, gr));
        });
        Wi.dispose();
        Wi = next;
      }
      Wi.dataSync();
      Wi.dispose();
    },
  };
  const names = Object.keys(contenders) as (keyof typeof contenders)[];
  const wall: Record<string, number[]> = {},
    cpu: Record<string, number[]> = {};
  for (const n of names) {
    contenders[n]();
    wall[n] = [];
    cpu[n] = [];
  } // warm-up
  for (let r = 0; r < reps; r++) {
    for (const n of names) {
      const c0 = cpuMs();
      const t0 = performance.now();
      contenders[n]();
      wall[n]!.push((performance.now() - t0) / iters);
      cpu[n]!.push((cpuMs() - c0) / iters);
    }
  }
  const timing = (n: keyof typeof contenders): Timing => ({
    medianMs: median(wall[n]!),
    minMs: Math.min(...wall[n]!),
    maxMs: Math.max(...wall[n]!),
    cpuMedianMs: median(cpu[n]!),
    reps,
  });
  const perRepRatio = (n: keyof typeof contenders) => median(wall.matmulOnly!.map((m, r) => m / wall[n]![r]!));
  const engine = timing('engine');
  const tensorOps = timing('tensorOps');
  const mmOnly = timing('matmulOnly');
  const mmFresh = timing('matmulFreshW');

  const tIters = Math.max(5, Math.round(iters / 5));
  const transpose: TransposeResult = {
    gradW: {
      transposeA: opTiming(() => tf.matMul(f, gr, true, false), reps, tIters),
      explicitTranspose: opTiming(() => tf.matMul(tf.transpose(f), gr), reps, tIters),
      pretransposed: opTiming(() => tf.matMul(fT, gr), reps, tIters),
      penalty: 0,
    },
    gradX: {
      transposeB: opTiming(() => tf.matMul(gr, W, false, true), reps, tIters),
      explicitTranspose: opTiming(() => tf.matMul(gr, tf.transpose(W)), reps, tIters),
      pretransposed: opTiming(() => tf.matMul(gr, WT), reps, tIters),
      penalty: 0,
    },
  };
  transpose.gradW.penalty = transpose.gradW.transposeA.medianMs / transpose.gradW.explicitTranspose.medianMs;
  transpose.gradX.penalty = transpose.gradX.transposeB.medianMs / transpose.gradX.explicitTranspose.medianMs;

  const sq = 512;
  const A = tf.randomNormal([sq, sq], 0, 1, 'float32', 4);
  const Bm = tf.randomNormal([sq, sq], 0, 1, 'float32', 5);
  const square = opTiming(() => tf.matMul(A, Bm), Math.min(reps, 5), 5);

  let kernels: HeadStepResult['kernels'] = null;
  let tensorOpKernels: number | undefined;
  if (opts.profile) {
    kernels = await profileKernels(engineStep);
    head.sync();
    tensorOpKernels = (await profileKernels(tensorOpStep)).count;
  }

  [f, fT, gr, WT, A, Bm, W, b, ...mom].forEach((t) => t.dispose());
  const matmulFlops = 2 * B * d * K * 2;
  const gf = (ms: number) => matmulFlops / (ms * 1e6);
  return {
    shape,
    matmulFlops,
    engineStep: engine,
    tensorOpStep: tensorOps,
    matmulOnly: mmOnly,
    matmulFreshW: mmFresh,
    matmulForward,
    matmulGradW,
    engineGflops: gf(engine.medianMs),
    tensorOpGflops: gf(tensorOps.medianMs),
    matmulGflops: gf(mmOnly.medianMs),
    ratio: perRepRatio('engine'),
    tensorOpRatio: perRepRatio('tensorOps'),
    freshWRatio: perRepRatio('matmulFreshW'),
    kernels,
    ...(tensorOpKernels !== undefined ? { tensorOpKernels } : {}),
    square: { n: sq, timing: square, gflops: (2 * sq ** 3) / (square.medianMs * 1e6) },
    transpose,
  };
}

/** Kernels run by one call of fn, with their summed times per kernel name as the backend's profiler reports them. */
export async function profileKernels(
  fn: () => unknown,
): Promise<{ count: number; top: { name: string; ms: number }[] }> {
  const info = await tf.profile(() => {
    fn();
  });
  const ks = await Promise.all(info.kernels.map(async (k) => ({ name: k.name, ms: Number(await k.kernelTimeMs) })));
  const byName = new Map<string, number>();
  for (const k of ks) byName.set(k.name, (byName.get(k.name) ?? 0) + (Number.isFinite(k.ms) ? k.ms : 0));
  return {
    count: ks.length,
    top: [...byName]
      .map(([name, ms]) => ({ name, ms }))
      .sort((a, b) => b.ms - a.ms)
      .slice(0, 8),
  };
}
