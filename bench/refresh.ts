// Benchmark (a): one SelMix gain refresh (multipliers + D + G + P, docs/ALGORITHM.md sections 2-4) for K x d on
// synthetic inputs, against the brute-force K^4 construction of test/helpers/bruteForceGain.ts in the same run.
// Run alone (node --import tsx bench/refresh.ts [--reps N] [--ort]) it prints ordinary, large-gap and huge-gap logits
// at K = 1000, d = 2048, side by side in one process, on the wasm matmul provider or (--ort) on ONNX Runtime's.
// With --compare DIR (another checkout: `git worktree add /tmp/old REV`) it times the ONNX Runtime refresh of this
// checkout and DIR's on the same inputs, alternating refresh by refresh, and prints the ratios and how far G differs.
import { centroidLogitsFromLogits, computeRefresh, type RefreshInput } from '../src/core/numerics/refresh';
import { initBackend, tfMatMul } from '../src/backend/backend';
import { ortMatMul, probeOnnxRuntime } from '../src/backend/onnxRuntime';
import { float64MatMul, gainMatrix, GainScratch, type GainArgs, type MatMul } from '../src/core/numerics/gain';
import { confusionMatrix, clipConfusion } from '../src/core/numerics/confusion';
import { classCentroids } from '../src/core/numerics/centroids';
import { argmaxRows } from '../src/core/numerics/classStats';
import { objectiveD, updateMultipliers, defaultObjectiveOptions } from '../src/core/objectives/objectives';
import type { ObjectiveId } from '../src/core/objectives/objectiveIds';
import { samplingDistribution } from '../src/core/numerics/distribution';
import { bruteForceGain } from '../test/helpers/bruteForceGain';
import type * as BackendModule from '../src/backend/backend';
import type * as RefreshModule from '../src/core/numerics/refresh';
import type * as OrtModule from '../src/backend/onnxRuntime';
import type * as GainModule from '../src/core/numerics/gain';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { gaussian, log, median, mulberry, timeIt, type Allocation, type Timing } from './lib';

/** Allocation counts of one size, measured in a child process (bench/allocCount.ts). */
export function allocationsOf(
  K: number,
  d: number,
  objective: ObjectiveId,
  brute = false,
): { refresh: Allocation; gain: Allocation; brute: Allocation | null } {
  const out = execFileSync(
    process.execPath,
    ['--import', 'tsx', join(__dirname, 'allocCount.ts'), String(K), String(d), objective, ...(brute ? ['brute'] : [])],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20 },
  );
  return JSON.parse(out.trim().split('\n').pop()!) as {
    refresh: Allocation;
    gain: Allocation;
    brute: Allocation | null;
  };
}

/** One refresh measurement. */
export interface RefreshRow {
  K: number;
  d: number;
  N: number;
  objective: ObjectiveId;
  /** 'ordinary' (syntheticInput's default) or 'large gaps' (LARGE_GAP), and the largest centroid logit gap. */
  logits: 'ordinary' | 'large gaps';
  maxGap: number;
  /**
   * computeRefresh end to end (confusion, metrics, multipliers, D, centroids, G, P), on the path a run takes (see
   * path).
   */
  refresh: Timing;
  /**
   * Which gain provider a run takes at this K (prepareGainMatMul of src/backend): 'exact' (float64MatMul) or
   * 'backend matmul' (tfMatMul).
   */
  path: 'exact' | 'backend matmul' | 'onnxruntime';
  /** computeRefresh with the exact float64 gain, and with the one-thread backend matmul provider (tfMatMul). */
  exact: Timing;
  provider: Timing | null;
  /**
   * The run's provider path again without the kept work arrays (every refresh allocates its K x K arrays afresh, as a
   * CLI run does where malloc gives huge pages): null on the exact path. Absent in reports made before it existed.
   */
  freshArrays?: Timing | null;
  /**
   * The run's provider path for a head on fixed features (feature mode, model.freezeBackbone): the centroids and their
   * Gram matrix kept between refreshes (the RefreshCache src/core/training/train.ts passes when the model has no
   * backbone). null on the exact path; absent in reports made before it existed.
   */
  headCache?: Timing | null;
  /** gainMatrix alone, on the run's path. */
  gain: Timing;
  /** multipliers + D (from the clipped confusion matrix). */
  multipliersAndD: Timing;
  /** class centroids from the N x d validation features. */
  centroids: Timing;
  /** samplingDistribution (P from G). */
  distribution: Timing;
  /** Typed arrays allocated by one computeRefresh (inputs excluded). */
  alloc: Allocation;
  /** The same for gainMatrix alone. */
  gainAlloc: Allocation;
}

/** One brute-force measurement, beside the closed form at the same K and d. */
export interface BruteRow {
  K: number;
  d: number;
  /** null when skipped; then projectedMs says why. */
  bruteMs: number | null;
  projectedMs: number;
  closedMs: number;
  ratio: number | null;
  /** max |G_brute - G_closed| / max |G_brute|. */
  relErr: number | null;
  /** Memory a dense K^4 float32 tensor (the reference implementation's) would need; computed, not measured. */
  k4TensorBytes: number;
  alloc: Allocation | null;
}

/** A refresh's inputs with the validation logits (a synthetic pass always has them). */
export type BenchInput = RefreshInput & { logits: ArrayLike<number> };

/**
 * Synthetic validation pass and head for K classes in d dimensions: class-structured ReLU features, a head that
 * leans towards the class prototypes, and logits that really are features x W + b (as in a run, so the fast gain
 * path can take the centroid logits from them). The product goes through `mm` when given (the benchmark passes
 * the backend's), else plain JS.
 */
export function syntheticInput(
  K: number,
  d: number,
  objective: ObjectiveId,
  seed = 1,
  mm?: MatMul,
  shape: InputShape = {},
): BenchInput {
  const u = mulberry(seed);
  const g = gaussian(u);
  const perClass = shape.perClass ?? Math.max(5, Math.ceil(1000 / K));
  const N = perClass * K;
  const mu = new Float32Array(K * d);
  for (let t = 0; t < mu.length; t++) mu[t] = Math.max(0, g()); // ReLU-like features
  const features = new Float32Array(N * d);
  const labels = new Int32Array(N);
  for (let n = 0; n < N; n++) {
    const y = Math.floor(n / perClass);
    labels[n] = y;
    for (let r = 0; r < d; r++) features[n * d + r] = Math.max(0, mu[y * d + r]! + 0.5 * g());
  }
  // W = random part + a pull towards the centred prototypes, scaled so about 80% of the predictions are right.
  const mbar = new Float64Array(d);
  for (let k = 0; k < K; k++) for (let r = 0; r < d; r++) mbar[r]! += mu[k * d + r]! / K;
  const W = new Float64Array(d * K);
  const sd = 1 / Math.sqrt(d);
  // The largest of K - 1 wrong logits grows like sqrt(2 ln K): the pull does too.
  const pull = PROTO_PULL * Math.sqrt(2 * Math.log(Math.max(K, 2)));
  for (let r = 0; r < d; r++)
    for (let k = 0; k < K; k++) W[r * K + k] = sd * g() + (pull / d) * (mu[k * d + r]! - mbar[r]!);
  const b = new Float64Array(K);
  for (let k = 0; k < K; k++) b[k] = 0.1 * g();
  // A scaled head scales every logit gap (the predictions stay the same).
  const scale = shape.logitScale ?? 1;
  if (scale !== 1) {
    for (let t = 0; t < W.length; t++) W[t]! *= scale;
    for (let k = 0; k < K; k++) b[k]! *= scale;
  }
  const logits = new Float32Array(N * K);
  if (mm) {
    const out = mm(features, Float32Array.from(W), N, d, K);
    for (let t = 0; t < out.length; t++) logits[t] = out[t]! + b[t % K]!;
  } else {
    for (let n = 0; n < N; n++) {
      const a = new Float64Array(b);
      for (let r = 0; r < d; r++) {
        const f = features[n * d + r]!;
        if (f !== 0) for (let l = 0; l < K; l++) a[l]! += f * W[r * K + l]!;
      }
      logits.set(a, n * K);
    }
  }
  return {
    K,
    d,
    features,
    labels,
    logits,
    W,
    b,
    objective,
    prevMultipliers: null,
    options: defaultObjectiveOptions(),
    s: 10,
  };
}

/** How syntheticInput shapes its validation pass: rows per class (default max(5, 1000/K)) and a head scale. */
export interface InputShape {
  perClass?: number;
  /** Multiplies W and b, hence every logit gap (default 1: gaps of about ten). */
  logitScale?: number;
}

/**
 * The large-gap input of the benchmark: 3 validation rows per class and a head scaled so the logits are in the
 * hundreds (largest centroid logit gaps of several hundred), the case whose softmax factors leave float32's range.
 */
export const LARGE_GAP: InputShape = { perClass: 3, logitScale: 30 };

/** Gaps ten times larger (thousands): almost every pair's softmax leaves the float32 range and is summed directly. */
export const HUGE_GAP: InputShape = { perClass: 3, logitScale: 300 };

/** The largest gap max_l a_kl - a_kl' over the centroid logits a_k (class means of the validation logits). */
export function largestLogitGap(inp: BenchInput): number {
  const { K, logits, labels } = inp;
  const A = centroidLogitsFromLogits(logits, labels, labels.length, K, inp.b);
  let gap = 0;
  for (let k = 0; k < K; k++) {
    let mx = -Infinity,
      mn = Infinity;
    for (let l = 0; l < K; l++) {
      mx = Math.max(mx, A[k * K + l]!);
      mn = Math.min(mn, A[k * K + l]!);
    }
    gap = Math.max(gap, mx - mn);
  }
  return gap;
}

/** Strength of the head's pull towards the class prototypes in syntheticInput (about 80% right at K = 10 to 1000). */
const PROTO_PULL = 3.5;

/**
 * Times the refresh and its parts for one (K, d). runMm is the provider a run takes at this K (prepareGainMatMul;
 * undefined or float64MatMul: exact).
 */
export function benchRefresh(
  K: number,
  d: number,
  objective: ObjectiveId,
  reps: number,
  runMmIn: MatMul | undefined,
  shape: InputShape = {},
  pathName: RefreshRow['path'] = 'backend matmul',
): RefreshRow {
  const runMm = runMmIn === float64MatMul ? undefined : runMmIn;
  const inp = syntheticInput(K, d, objective, 1, tfMatMul, shape);
  const N = inp.labels.length;
  const budgetMs = 20_000;
  // The exact float64 path is seconds at K = 1000: time it once there.
  const slow = K >= 1000;
  // The run's refreshes keep the gain's work arrays between refreshes (src/core/training/train.ts): so do these, one
  // scratch a path (a run takes one). A run refreshes tens of times: the provider paths are timed after three warm-up
  // refreshes (the first of a process takes 2 to 4 times as long: compilation, first touch of the work arrays).
  const scratch = new GainScratch();
  const exactScratch = new GainScratch();
  const exact = timeIt(
    () => computeRefresh({ ...inp, scratch: exactScratch }),
    slow ? { reps: 1, warmup: 0 } : { reps, warmup: 1, budgetMs },
  );
  // On a provider path the run's refreshes (src/core/training/train.ts, src/run/evaluate.ts) say that the logits come
  // from this
  // very head (logitsFromHead), so the centroid logits are not spot-checked; the synthetic logits are features x W + b
  // too.
  const tfScratch = new GainScratch();
  const provider = timeIt(
    () => computeRefresh({ ...inp, matmul: tfMatMul, logitsFromHead: true, scratch: tfScratch }),
    { reps, warmup: 3, budgetMs },
  );
  const path = !runMm ? ('exact' as const) : pathName;
  const refresh = !runMm
    ? exact
    : runMm === tfMatMul
      ? provider
      : timeIt(() => computeRefresh({ ...inp, matmul: runMm, logitsFromHead: true, scratch }), {
          reps,
          warmup: 3,
          budgetMs,
        });
  const freshArrays = runMm
    ? timeIt(() => computeRefresh({ ...inp, matmul: runMm, logitsFromHead: true }), { reps, warmup: 3, budgetMs })
    : null;
  const cache = {};
  const cacheScratch = new GainScratch();
  const headCache = runMm
    ? timeIt(() => computeRefresh({ ...inp, matmul: runMm, logitsFromHead: true, scratch: cacheScratch, cache }), {
        reps,
        warmup: 3,
        budgetMs,
      })
    : null;
  // The parts, from the same inputs.
  const r = computeRefresh(inp);
  const { Z } = classCentroids(inp.features, N, d, inp.labels, K);
  const C = confusionMatrix(inp.labels, argmaxRows(inp.logits, N, K), K);
  const Cc = clipConfusion(C);
  // As computeRefresh calls it: on a matmul path with the centroid logits taken from the validation logits.
  const gainArgs = {
    K,
    d,
    Z,
    W: inp.W,
    b: inp.b,
    D: r.D,
    scratch,
    ...(runMm ? { matmul: runMm, A: centroidLogitsFromLogits(inp.logits, inp.labels, N, K, inp.b), trustA: true } : {}),
  } as GainArgs;
  const gain = timeIt(
    () => gainMatrix(gainArgs),
    slow && !runMm ? { reps: 1, warmup: 0 } : { reps, warmup: 1, budgetMs },
  );
  const multipliersAndD = timeIt(
    () => {
      const m = updateMultipliers(objective, Cc, K, null, inp.options);
      return objectiveD(objective, Cc, K, m, inp.options);
    },
    { reps, warmup: 1 },
  );
  const centroids = timeIt(() => classCentroids(inp.features, N, d, inp.labels, K), { reps, warmup: 1 });
  const distribution = timeIt(() => samplingDistribution(r.G, K, inp.s), { reps, warmup: 1 });
  const counted = allocationsOf(K, d, objective);
  const alloc = counted.refresh;
  const gainAlloc = counted.gain;
  const logitsKind =
    shape.logitScale !== undefined && shape.logitScale !== 1 ? ('large gaps' as const) : ('ordinary' as const);
  return {
    K,
    d,
    N,
    objective,
    logits: logitsKind,
    maxGap: largestLogitGap(inp),
    refresh,
    path,
    exact,
    provider,
    freshArrays,
    headCache,
    gain,
    multipliersAndD,
    centroids,
    distribution,
    alloc,
    gainAlloc,
  };
}

/**
 * The brute-force K^4 gain beside the closed form. Sizes run in increasing K per d; a size whose time,
 * projected as K^4 d from the previous one, exceeds limitMs is skipped and reported as projected.
 */
export function benchBrute(Ks: number[], ds: number[], limitMs: number): BruteRow[] {
  const rows: BruteRow[] = [];
  for (const d of ds) {
    let last: { K: number; ms: number } | null = null;
    for (const K of Ks) {
      const inp = syntheticInput(K, d, 'minRecall');
      const r = computeRefresh(inp);
      const { Z } = classCentroids(inp.features, inp.labels.length, d, inp.labels, K);
      const args = { K, d, Z, W: inp.W, b: inp.b, D: r.D };
      const closed = timeIt(() => gainMatrix(args), { reps: 7, warmup: 2 });
      const projectedMs = last ? last.ms * (K / last.K) ** 4 : 0;
      const k4TensorBytes = 4 * K ** 4;
      if (last && projectedMs > limitMs) {
        log(
          `  brute force K=${K} d=${d}: skipped (projected ${(projectedMs / 1000).toFixed(0)} s > ${limitMs / 1000} s)`,
        );
        rows.push({
          K,
          d,
          bruteMs: null,
          projectedMs,
          closedMs: closed.medianMs,
          ratio: null,
          relErr: null,
          k4TensorBytes,
          alloc: null,
        });
        continue;
      }
      const t0 = performance.now();
      const Gb = bruteForceGain(args);
      const ms = performance.now() - t0;
      const alloc = K <= 30 ? allocationsOf(K, d, 'minRecall', true).brute : null;
      const Gc = gainMatrix(args);
      let mx = 0,
        err = 0;
      for (let t = 0; t < Gb.length; t++) {
        mx = Math.max(mx, Math.abs(Gb[t]!));
        err = Math.max(err, Math.abs(Gb[t]! - Gc[t]!));
      }
      log(`  brute force K=${K} d=${d}: ${(ms / 1000).toFixed(2)} s vs closed form ${closed.medianMs.toFixed(3)} ms`);
      rows.push({
        K,
        d,
        bruteMs: ms,
        projectedMs,
        closedMs: closed.medianMs,
        ratio: ms / closed.medianMs,
        relErr: err / mx,
        k4TensorBytes,
        alloc,
      });
      last = { K, ms };
    }
  }
  return rows;
}

/** Ordinary and large-gap logits at one size, each on the run's provider for that K, timed in one process. */
export function benchLargeGap(
  K: number,
  d: number,
  reps: number,
  runMm: MatMul | undefined,
): { ordinary: RefreshRow; largeGaps: RefreshRow } {
  return {
    ordinary: benchRefresh(K, d, 'minRecall', reps, runMm, { perClass: LARGE_GAP.perClass! }),
    largeGaps: benchRefresh(K, d, 'minRecall', reps, runMm, LARGE_GAP),
  };
}

/** A checkout's refresh on ONNX Runtime, loaded from its root. */
interface Checkout {
  root: string;
  computeRefresh: typeof computeRefresh;
  matmul: MatMul;
  scratch: () => GainScratch;
}

async function loadCheckout(root: string): Promise<Checkout> {
  const src = (f: string): string => join(root, 'src', f);
  const be = (await import(src('backend/backend.ts'))) as typeof BackendModule;
  const info = await be.initBackend({ choice: 'onnxruntime' });
  if (!info.onnxruntime) throw new Error(`${root}: ONNX Runtime did not load: ${info.note ?? info.name}`);
  const r = (await import(src('core/numerics/refresh.ts'))) as typeof RefreshModule;
  const o = (await import(src('backend/onnxRuntime.ts'))) as typeof OrtModule;
  const g = (await import(src('core/numerics/gain.ts'))) as typeof GainModule;
  return { root, computeRefresh: r.computeRefresh, matmul: o.ortMatMul, scratch: () => new g.GainScratch() };
}

/**
 * The ONNX Runtime refresh of two checkouts on the same synthetic inputs (ordinary, large and huge gaps, K = 1000,
 * d = 2048), alternating: a head on fixed features (centroids and Gram matrix kept) and a whole-network refresh (both
 * recomputed), medians after three warm-up refreshes, and the largest difference between their G.
 */
async function compareCheckouts(other: string, reps: number): Promise<void> {
  const sides = [await loadCheckout(join(__dirname, '..')), await loadCheckout(other)];
  for (const [name, shape] of [
    ['ordinary', { perClass: LARGE_GAP.perClass! }],
    ['large gaps', LARGE_GAP],
    ['gaps in the thousands', HUGE_GAP],
  ] as const) {
    const inp = syntheticInput(1000, 2048, 'minRecall', 1, tfMatMul, shape);
    const st = sides.map((c) => ({
      c,
      cached: c.scratch(),
      cache: {},
      whole: c.scratch(),
      head: [] as number[],
      net: [] as number[],
      G: null as Float64Array | null,
    }));
    for (let k = 0; k < reps + 3; k++)
      for (const s of st) {
        let t0 = performance.now();
        const r = s.c.computeRefresh({
          ...inp,
          matmul: s.c.matmul,
          logitsFromHead: true,
          scratch: s.cached,
          cache: s.cache,
        });
        const head = performance.now() - t0;
        s.G = Float64Array.from(r.G);
        t0 = performance.now();
        s.c.computeRefresh({ ...inp, matmul: s.c.matmul, logitsFromHead: true, scratch: s.whole });
        const net = performance.now() - t0;
        if (k >= 3) {
          s.head.push(head);
          s.net.push(net);
        }
      }
    const [a, b] = st as [(typeof st)[0], (typeof st)[0]];
    let diff = 0,
      top = 0;
    for (let t = 0; t < a.G!.length; t++) {
      diff = Math.max(diff, Math.abs(a.G![t]! - b.G![t]!));
      top = Math.max(top, Math.abs(b.G![t]!));
    }
    const ms = (x: number[]): string =>
      `${median(x).toFixed(0)} ms (${Math.min(...x).toFixed(0)}-${Math.max(...x).toFixed(0)})`;
    log(
      `K=1000 d=2048, ${name}: a head on fixed features ${ms(a.head)} here, ${ms(b.head)} in ${other} (ratio ` +
        `${(median(a.head) / median(b.head)).toFixed(2)}); whole network ${ms(a.net)} here, ${ms(b.net)} there ` +
        `(ratio ${(median(a.net) / median(b.net)).toFixed(2)}); G differs by up to ${diff.toExponential(2)} ` +
        `(max |G| ${top.toExponential(2)})`,
    );
  }
}

if (process.argv[1] && /bench[\\/]refresh\.ts$/.test(process.argv[1])) {
  void (async () => {
    const c = process.argv.indexOf('--compare');
    if (c > 0) {
      const r = process.argv.indexOf('--reps');
      await compareCheckouts(process.argv[c + 1]!, r > 0 ? Number(process.argv[r + 1]) : 9);
      log(`provider: ONNX Runtime (${probeOnnxRuntime().detail}), both checkouts in this process`);
      process.exit(0);
    }
    const ort = process.argv.includes('--ort');
    const info = await initBackend({ choice: ort ? 'onnxruntime' : 'wasm' });
    if (ort && !info.onnxruntime) throw new Error(`ONNX Runtime did not load: ${info.note ?? info.name}`);
    const i = process.argv.indexOf('--reps');
    const reps = i > 0 ? Number(process.argv[i + 1]) : 5;
    log(`provider: ${ort ? `ONNX Runtime (ortMatMul; ${probeOnnxRuntime().detail})` : 'tfjs wasm (tfMatMul)'}`);
    const mm = ort ? ortMatMul : tfMatMul;
    const { ordinary, largeGaps } = benchLargeGap(1000, 2048, reps, mm);
    const huge = benchRefresh(1000, 2048, 'minRecall', reps, mm, HUGE_GAP, ort ? 'onnxruntime' : 'backend matmul');
    for (const r of [ordinary, largeGaps, huge]) {
      log(
        `K=${r.K} d=${r.d} ${r.N / r.K} rows/class, ${r.logits} logits (largest centroid gap ${r.maxGap.toFixed(0)}): ` +
          `refresh ${r.refresh.medianMs.toFixed(0)} ms median (${r.refresh.minMs.toFixed(0)}-${r.refresh.maxMs.toFixed(0)}, cpu ${r.refresh.cpuMedianMs.toFixed(0)}), G ${r.gain.medianMs.toFixed(0)} ms; ` +
          `without the kept work arrays ${r.freshArrays ? `${r.freshArrays.medianMs.toFixed(0)} ms median (${r.freshArrays.minMs.toFixed(0)}-${r.freshArrays.maxMs.toFixed(0)})` : 'n/a'}; ` +
          `a head on fixed features (centroids and Gram matrix kept) ${r.headCache ? `${r.headCache.medianMs.toFixed(0)} ms median (${r.headCache.minMs.toFixed(0)}-${r.headCache.maxMs.toFixed(0)}, cpu ${r.headCache.cpuMedianMs.toFixed(0)})` : 'n/a'}`,
      );
    }
  })();
}
