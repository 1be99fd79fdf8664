// The head's fused SGD step on ONNX Runtime (src/backend/onnxHeadStep.ts) on one thread and on every core, shape by
// shape, alternating in one process (a new session each round, the thread count set through SELMIX_ORT_THREADS as a
// user would): where headStepThreads' threshold (HEAD_STEP_WIDE_MACS) comes from. W's update runs in JS here (no
// WebAssembly memory), the same for both thread counts; only the graph's run gets the threads.
//   node --import tsx bench/headStepThreads.ts [--rounds N] [--steps N]
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { OrtHeadStep } from '../src/backend/onnxHeadStep';
import { HEAD_STEP_WIDE_MACS, headStepThreads, probeOnnxRuntime } from '../src/backend/onnxRuntime';
import { log, median, mulberry } from './lib';

const { values } = parseArgs({ options: { rounds: { type: 'string' }, steps: { type: 'string' } } });
const rounds = Number(values.rounds ?? 3);
const steps = Number(values.steps ?? 40);
const SHAPES: [number, number, number][] = [
  [128, 512, 100],
  [128, 2048, 100],
  [128, 2048, 250],
  [128, 512, 1000],
  [128, 2048, 500],
  [128, 2048, 1000],
];

/** Median ms of a step of a new session for shape (B, d, K) with threads intra-op threads. */
function timeSteps(B: number, d: number, K: number, threads: number, rand: () => number): number {
  process.env.SELMIX_ORT_THREADS = String(threads);
  const step = new OrtHeadStep(B, d, K);
  const n = 2048;
  const X = Float32Array.from({ length: n * d }, rand);
  const state = {
    W: Float32Array.from({ length: d * K }, () => 0.01 * rand()),
    b: new Float32Array(K),
    mW: new Float32Array(d * K),
    mb: new Float32Array(K),
  };
  const ts: number[] = [];
  for (let r = 0; r < steps + 5; r++) {
    const pick = (): Int32Array => Int32Array.from({ length: B }, () => Math.floor(rand() * n));
    const batch = {
      anchorSet: X,
      partnerSet: X,
      anchors: pick(),
      partners: pick(),
      ya: Int32Array.from({ length: B }, () => Math.floor(rand() * K)),
      lam: new Float32Array(B).fill(0.8),
    };
    const t = performance.now();
    step.step(state, batch, { lr: 0.01, momentum: 0.9, wd: 1e-4 });
    if (r >= 5) ts.push(performance.now() - t);
  }
  step.dispose();
  return median(ts);
}

function main(): void {
  const probe = probeOnnxRuntime();
  if (!probe.ok) throw new Error(probe.detail);
  const cores = Math.min(8, availableParallelism());
  const rand = mulberry(5);
  log(`head step on ONNX Runtime, 1 thread against ${cores}, ${rounds} rounds of ${steps} steps, alternating`);
  for (const [B, d, K] of SHAPES) {
    const one: number[] = [],
      all: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const first = r % 2 === 0;
      if (first) one.push(timeSteps(B, d, K, 1, rand));
      all.push(timeSteps(B, d, K, cores, rand));
      if (!first) one.push(timeSteps(B, d, K, 1, rand));
    }
    const macs = B * d * K;
    log(
      `  B = ${B}, d = ${d}, K = ${K} (${(macs / 1e6).toFixed(1)}M multiply-adds a product): 1 thread ${median(one).toFixed(2)} ms, ${cores} threads ${median(all).toFixed(2)} ms (ratio ${(median(all) / median(one)).toFixed(2)}); a run takes ${headStepThreads(B, d, K) === 'all' ? cores : 1} (from ${(HEAD_STEP_WIDE_MACS / 1e6).toFixed(1)}M)`,
    );
  }
}

main();
