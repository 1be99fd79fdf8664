// Benchmark (c): one fine-tuning step of the demo CNN (src/core/training/model.ts demoCnn through fromLayersModel, so
// the convolutions use the forward-convolution filter gradients of src/core/training/nn.ts), 64 anchors + 64 partners,
// feature mixup, as src/core/training/train.ts's `step` runs it with a trainable backbone; on wasm and on pure-JS cpu.
import * as tf from '@tensorflow/tfjs';
import { demoCnn, disposeModel, fromLayersModel } from '../src/core/training/model';
import { sgdStep, trainableVariables } from '../src/core/training/train';
import { forwardAll } from '../src/core/training/evaluate';
import { timeIt, type Timing } from './lib';
import { profileKernels } from './headStep';

/** One backend's CNN-step figures. */
export interface CnnStepResult {
  backend: string;
  step: Timing;
  /** Approximate FLOPs of one step (forward of 2B images, backward about twice that); see flopsOfDemoCnn. */
  flops: number;
  gflops: number;
  kernels: { count: number; top: { name: string; ms: number }[] } | null;
  /** forwardAll over nVal validation images (eval mode): the part of a refresh that scales with the backbone. */
  validationPass: Timing | null;
  nVal: number;
}

/** Multiply-add FLOPs (x2) of one forward pass of the demo CNN on one 28x28x1 image. */
export function flopsOfDemoCnn(K = 10): number {
  const conv1 = 28 * 28 * 16 * 3 * 3 * 1;
  const conv2 = 14 * 14 * 32 * 3 * 3 * 16;
  const fc = 7 * 7 * 32 * 64;
  const head = 64 * K;
  return 2 * (conv1 + conv2 + fc + head);
}

/** Times the CNN step on the current tfjs backend (the caller switches backends). */
export async function benchCnnStep(opts: {
  B?: number;
  reps: number;
  iters: number;
  profile?: boolean;
  nVal?: number;
}): Promise<CnnStepResult> {
  const B = opts.B ?? 64;
  const K = 10;
  const lm = demoCnn(K, 0);
  const model = fromLayersModel(lm);
  const vars = trainableVariables(model, false);
  const isBias = vars.map((v, i) => i === 1 || /_b_/.test(v.name));
  const lrFactor = vars.map((_, i) => (i < 2 ? 1 : 0.1));
  const xa = tf.randomUniform([B, 28, 28, 1], 0, 1, 'float32', 1);
  const xp = tf.randomUniform([B, 28, 28, 1], 0, 1, 'float32', 2);
  const lamData = Float32Array.from({ length: B }, (_, i) => 0.6 + (0.4 * i) / B);
  const yData = Int32Array.from({ length: B }, (_, i) => i % K);
  const lr = 0.01;
  const wd = 5e-4;

  // The engine's own step (src/core/training/train.ts sgdStep), trainable-backbone branch (momentum 0, the default).
  const mom = vars.map((v) => tf.variable(tf.zerosLike(v), false));
  const step = (): number =>
    sgdStep(model, vars, mom, isBias, lrFactor, {
      xa: xa.clone(),
      xp: xp.clone(),
      ya: yData,
      lam: lamData,
      lr,
      momentum: 0,
      wd,
      freeze: false,
    });
  const t = timeIt(
    () => {
      for (let i = 0; i < opts.iters; i++) step();
    },
    { reps: opts.reps, warmup: 1 },
  );
  const per = (v: number) => v / opts.iters;
  const timing: Timing = {
    medianMs: per(t.medianMs),
    minMs: per(t.minMs),
    maxMs: per(t.maxMs),
    cpuMedianMs: per(t.cpuMedianMs),
    reps: t.reps,
  };
  const kernels = opts.profile ? await profileKernels(step) : null;
  const nVal = opts.nVal ?? 0;
  let validationPass: Timing | null = null;
  if (nVal > 0) {
    const val = {
      x: Float32Array.from({ length: nVal * 784 }, (_, i) => (i % 7) / 7),
      y: new Int32Array(nVal),
      n: nVal,
      shape: [28, 28, 1],
    };
    validationPass = timeIt(() => forwardAll(model, val), { reps: 3, warmup: 1 });
  }
  xa.dispose();
  xp.dispose();
  mom.forEach((m) => m.dispose());
  disposeModel(model);
  lm.dispose();
  const flops = 3 * 2 * B * flopsOfDemoCnn(K);
  return {
    backend: tf.getBackend(),
    step: timing,
    flops,
    gflops: flops / (timing.medianMs * 1e6),
    kernels,
    validationPass,
    nVal,
  };
}

/** The input gradient of the demo CNN's second convolution three ways, on wasm: the evidence for an engine change. */
export interface ConvGradResult {
  /** tf.conv2dTranspose, as src/core/training/nn.ts conv2d's gradFunc computes dx. */
  conv2dTranspose: Timing;
  /** The same dx as a forward convolution of the zero-padded dy with the flipped, in/out-swapped filter. */
  forwardConv: Timing;
  /** Largest |difference| between the two. */
  maxAbsDiff: number;
  /** The first convolution's dx (a gradient for the input images, which nothing uses). */
  firstLayerDx: Timing;
}

/**
 * Times dx of conv2 (128 x 14 x 14 x 32 -> 128 x 16 x 16 x 16, 3x3 filter) by conv2dTranspose and by a forward conv.
 */
export function benchConvGrad(reps = 5): ConvGradResult {
  const w = tf.randomNormal([3, 3, 16, 32], 0, 1, 'float32', 1) as tf.Tensor4D;
  const dy = tf.randomNormal([128, 14, 14, 32], 0, 1, 'float32', 2) as tf.Tensor4D;
  const wFlip = tf.tidy(() => tf.transpose(tf.reverse(w, [0, 1]), [0, 1, 3, 2])) as tf.Tensor4D;
  const w1 = tf.randomNormal([3, 3, 1, 16], 0, 1, 'float32', 3) as tf.Tensor4D;
  const dy1 = tf.randomNormal([128, 28, 28, 16], 0, 1, 'float32', 4) as tf.Tensor4D;
  const viaTranspose = () => tf.conv2dTranspose(dy, w, [128, 16, 16, 16], 1, 'valid');
  const viaForward = () =>
    tf.conv2d(
      tf.pad(dy, [
        [0, 0],
        [2, 2],
        [2, 2],
        [0, 0],
      ]) as tf.Tensor4D,
      wFlip,
      1,
      'valid',
    );
  const conv2dTranspose = timeIt(() => tf.tidy(viaTranspose).dispose(), { reps });
  const forwardConv = timeIt(() => tf.tidy(viaForward).dispose(), { reps });
  const firstLayerDx = timeIt(
    () => tf.tidy(() => tf.conv2dTranspose(dy1, w1, [128, 30, 30, 1], 1, 'valid')).dispose(),
    { reps },
  );
  const a = tf.tidy(viaTranspose);
  const b = tf.tidy(viaForward);
  const maxAbsDiff = tf.tidy(() => tf.max(tf.abs(tf.sub(a, b)))).dataSync()[0]!;
  [w, dy, wFlip, w1, dy1, a, b].forEach((t) => t.dispose());
  return { conv2dTranspose, forwardConv, maxAbsDiff, firstLayerDx };
}
