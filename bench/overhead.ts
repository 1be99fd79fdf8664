// Benchmark (d): what SelMix costs on top of plain mixup fine-tuning with the same steps on the same data.
// Real finetune() runs (src/core/training/train.ts) on a head-only problem, interleaved:
//   selmix        policy 'selmix', a refresh (validation pass, multipliers, D, G, P, sampler rebuild) every 50 steps;
//   uniformMixup  policy 'uniformMixup' with the same refreshes (the engine keeps the bookkeeping for its baselines);
//   mixupOnly     policy 'uniformMixup' with refreshEvery > steps: one refresh at the start and one at the end,
//                 i.e. plain mixup fine-tuning with nothing SelMix-specific in the loop.
// Overhead = (selmix - mixupOnly) / selmix. Also the parts, timed alone: one refresh and one batch draw.
import * as tf from '@tensorflow/tfjs';
import { configSchema, type SelmixConfig } from '../src/core/config';
import { forwardAll, type ExampleSet } from '../src/core/training/evaluate';
import { linearModel, disposeModel, type SelmixModel } from '../src/core/training/model';
import { computeRefresh } from '../src/core/numerics/refresh';
import { PairSampler } from '../src/core/numerics/sampler';
import { finetune, indicesByClass, objectiveOptions, type FinetuneData } from '../src/core/training/train';
import { Rng } from '../src/core/numerics/rng';
import { prepareGainMatMul } from '../src/backend/backend';
import { cpuMs, gaussian, median, mulberry, timeIt, type Timing } from './lib';

/** Figures of the overhead benchmark. */
export interface OverheadResult {
  K: number;
  d: number;
  steps: number;
  refreshEvery: number;
  rounds: number;
  /** Median wall and CPU seconds per variant over the rounds. */
  runs: Record<'selmix' | 'uniformMixup' | 'mixupOnly', { wallS: number; cpuS: number; refreshes: number }>;
  /** (selmix - mixupOnly) / selmix, on wall and on CPU time. */
  overheadWall: number;
  overheadCpu: number;
  /** The parts alone. */
  parts: { validationPass: Timing; computeRefresh: Timing; samplerBuild: Timing; drawBatch: Timing };
  /** (extra refreshes x (validation pass + refresh + sampler build)) / selmix wall: the overhead from the parts. */
  overheadFromParts: number;
  /** The same split: the validation passes' share, and what is SelMix's own (computeRefresh + sampler build). */
  validationShare: number;
  selmixShare: number;
}

/** A synthetic head-only problem: class-structured ReLU features, long-tailed train set, balanced validation set. */
export function syntheticProblem(K: number, d: number, seed = 5): { model: SelmixModel; data: FinetuneData } {
  const g = gaussian(mulberry(seed));
  const mu = Float32Array.from({ length: K * d }, () => Math.max(0, g()));
  const make = (counts: number[]): ExampleSet & { y: Int32Array } => {
    const n = counts.reduce((a, b) => a + b, 0);
    const x = new Float32Array(n * d);
    const y = new Int32Array(n);
    let i = 0;
    counts.forEach((c, k) => {
      for (let t = 0; t < c; t++, i++) {
        y[i] = k;
        for (let r = 0; r < d; r++) x[i * d + r] = Math.max(0, mu[k * d + r]! + 1.5 * g());
      }
    });
    return { x, y, n, shape: [d] };
  };
  // rho = 100 long tail from 200 examples down to 2.
  const train = make(Array.from({ length: K }, (_, k) => Math.max(2, Math.floor(200 * 100 ** (-k / (K - 1))))));
  const val = make(new Array<number>(K).fill(10));
  const W = Float32Array.from({ length: d * K }, () => g() / Math.sqrt(d));
  return {
    model: linearModel(W, new Float32Array(K), d, K),
    data: { train, val, unlabeled: null, test: null, classNames: Array.from({ length: K }, (_, k) => String(k)) },
  };
}

function config(policy: 'selmix' | 'uniformMixup', steps: number, refreshEvery: number): SelmixConfig {
  return configSchema.parse({
    objective: 'minRecall',
    data: { kind: 'npy', train: { features: 'x.npy', labels: 'y.npy' } },
    model: { kind: 'linear', weights: 'w.npy' },
    training: { steps, refreshEvery, seed: 0 },
    selmix: { policy },
  });
}

/** Runs the overhead benchmark on the current backend. */
export async function benchOverhead(opts: {
  K: number;
  d: number;
  steps: number;
  rounds: number;
}): Promise<OverheadResult> {
  const { K, d, steps, rounds } = opts;
  const refreshEvery = 50;
  const { model, data } = syntheticProblem(K, d);
  const runMm = await prepareGainMatMul(K);
  const W0 = model.W.clone();
  const b0 = model.b.clone();
  const variants = {
    selmix: config('selmix', steps, refreshEvery),
    uniformMixup: config('uniformMixup', steps, refreshEvery),
    mixupOnly: config('uniformMixup', steps, steps + 1),
  };
  const samples: Record<keyof typeof variants, { wall: number[]; cpu: number[]; refreshes: number }> = {
    selmix: { wall: [], cpu: [], refreshes: 0 },
    uniformMixup: { wall: [], cpu: [], refreshes: 0 },
    mixupOnly: { wall: [], cpu: [], refreshes: 0 },
  };
  for (let r = 0; r <= rounds; r++) {
    for (const name of Object.keys(variants) as (keyof typeof variants)[]) {
      model.W.assign(W0);
      model.b.assign(b0);
      let refreshes = 0;
      const c0 = cpuMs();
      const t0 = performance.now();
      const res = await finetune(model, data, {
        config: variants[name],
        ...(runMm ? { matmul: runMm } : {}),
        emit: (e) => {
          if (e.type === 'run/refresh') refreshes++;
        },
        shouldStop: () => false,
      });
      const wall = performance.now() - t0;
      const cpu = cpuMs() - c0;
      res.bestWeights.forEach((t) => t.dispose());
      if (r === 0) continue; // warm-up round
      samples[name].wall.push(wall / 1000);
      samples[name].cpu.push(cpu / 1000);
      samples[name].refreshes = refreshes;
    }
  }
  const runs = Object.fromEntries(
    Object.entries(samples).map(([k, v]) => [
      k,
      { wallS: median(v.wall), cpuS: median(v.cpu), refreshes: v.refreshes },
    ]),
  ) as OverheadResult['runs'];

  // The parts alone.
  const cfg = variants.selmix;
  const W = Float64Array.from(await model.W.data());
  const b = Float64Array.from(await model.b.data());
  const fw = forwardAll(model, data.val);
  const validationPass = timeIt(() => forwardAll(model, data.val), { reps: 9 });
  const refreshArgs = {
    K,
    d,
    features: fw.features,
    labels: data.val.y,
    logits: fw.logits,
    W,
    b,
    objective: cfg.objective,
    prevMultipliers: null,
    options: objectiveOptions(cfg),
    s: cfg.selmix.temperature,
    lambdaBar: (cfg.training.lambdaMin + 1) / 2,
    ...(runMm ? { matmul: runMm } : {}),
    logitsFromHead: true,
  };
  // As in the run: the validation features do not change, so centroids and S come from the cache after the first.
  const cache = {};
  const computeRefreshT = timeIt(() => computeRefresh({ ...refreshArgs, cache }), { reps: 9 });
  const P = computeRefresh(refreshArgs).P;
  const rng = new Rng(1);
  const anchorsByClass = indicesByClass(data.train.y, K);
  // As in the run without an unlabeled set: the partners' per-class lists are the anchors'.
  const samplerBuild = timeIt(() => new PairSampler({ P, K, anchorsByClass, partnersByClass: anchorsByClass, rng }), {
    reps: 9,
  });
  const sampler = new PairSampler({ P, K, anchorsByClass, partnersByClass: anchorsByClass, rng });
  const drawT = timeIt(
    () => {
      for (let i = 0; i < 100; i++) sampler.draw(cfg.training.batchSize);
    },
    { reps: 9 },
  );
  const drawBatch: Timing = {
    ...drawT,
    medianMs: drawT.medianMs / 100,
    minMs: drawT.minMs / 100,
    maxMs: drawT.maxMs / 100,
    cpuMedianMs: drawT.cpuMedianMs / 100,
  };
  const extra = runs.selmix.refreshes - runs.mixupOnly.refreshes;
  const perRefresh = validationPass.medianMs + computeRefreshT.medianMs + samplerBuild.medianMs;
  W0.dispose();
  b0.dispose();
  disposeModel(model);
  void tf;
  return {
    K,
    d,
    steps,
    refreshEvery,
    rounds,
    runs,
    overheadWall: (runs.selmix.wallS - runs.mixupOnly.wallS) / runs.selmix.wallS,
    overheadCpu: (runs.selmix.cpuS - runs.mixupOnly.cpuS) / runs.selmix.cpuS,
    parts: { validationPass, computeRefresh: computeRefreshT, samplerBuild, drawBatch },
    overheadFromParts: (extra * perRefresh) / 1000 / runs.selmix.wallS,
    validationShare: (extra * validationPass.medianMs) / 1000 / runs.selmix.wallS,
    selmixShare: (extra * (computeRefreshT.medianMs + samplerBuild.medianMs)) / 1000 / runs.selmix.wallS,
  };
}
