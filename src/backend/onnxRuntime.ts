// ONNX Runtime (npm package onnxruntime-node) as the native compute engine: its probe (it loads and passes a numeric
// check against plain JS), synchronous sessions over ONNX bytes, and the gain's MatMul provider. The loop keeps tfjs
// for what needs autodiff; ONNX Runtime runs the graphs this tool builds (a MatMul) and the user's ONNX models.
//
// Sessions run through the package's native binding directly: its public InferenceSession.run is async only (it
// calls the same synchronous binding inside a setImmediate), and the gain's MatMul interface is synchronous.
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { MatMul, Mat, SoftmaxFactors } from '../core/numerics/gain';
import { encodeOnnx, floatTensor, modelOf, node, ONNX_INT32, valueInfo } from '../formats/onnx/proto';
import { twoThreadPairs } from './pairThreads';

/** An ONNX Runtime execution provider this tool knows. */
export type OrtProvider = 'cpu' | 'cuda' | 'webgpu';

/** What the ONNX Runtime probe found. */
export interface OrtProbe {
  ok: boolean;
  /** The provider sessions use (the first that loaded and passed the check). */
  provider: OrtProvider | null;
  detail: string;
  /** One line per execution provider tried. */
  providers: { name: OrtProvider; ok: boolean; detail: string }[];
}

/** A tensor as the binding takes and returns it. */
interface OrtTensor {
  type: string;
  data: Float32Array | BigInt64Array | Int32Array;
  dims: readonly number[];
}
interface BindingSession {
  loadModel(buffer: ArrayBufferLike, offset: number, length: number, options: Record<string, unknown>): void;
  run(
    feeds: Record<string, unknown>,
    fetches: Record<string, unknown>,
    options: Record<string, unknown>,
  ): Record<string, OrtTensor>;
  dispose(): void;
  inputMetadata: { name: string; shape: number[]; symbolicDimensions: string[] }[];
  outputMetadata: { name: string }[];
}
interface OrtModules {
  Tensor: new (type: string, data: Float32Array | BigInt64Array, dims: readonly number[]) => unknown;
  binding: {
    InferenceSession: new () => BindingSession;
    listSupportedBackends(): { name: string; bundled: boolean }[];
  };
  version: string;
  dir: string;
}

const nodeRequire = createRequire(typeof __filename === 'string' ? __filename : join(process.cwd(), 'x.js'));
let loaded: OrtModules | { error: string } | null = null;
let probed: OrtProbe | null = null;

/** Loads onnxruntime-node once (its native binding included); an error message when it cannot be loaded. */
export function loadOrt(): OrtModules | { error: string } {
  if (loaded) return loaded;
  try {
    const pkgJson = process.env.SELMIX_ORT_PATH ?? nodeRequire.resolve('onnxruntime-node/package.json');
    const dir = dirname(pkgJson);
    const ort = nodeRequire(dir) as {
      Tensor: OrtModules['Tensor'];
      env: { logLevel?: string; versions?: Record<string, string> };
    };
    // Native warnings (a provider that cannot start) would go to stderr on every probe.
    ort.env.logLevel = 'fatal';
    const b = nodeRequire(join(dir, 'dist', 'binding.js')) as { binding: OrtModules['binding']; initOrt: () => void };
    b.initOrt();
    const version = (nodeRequire(join(dir, 'package.json')) as { version: string }).version;
    loaded = { Tensor: ort.Tensor, binding: b.binding, version, dir };
  } catch (e) {
    loaded = { error: (e as Error).message.split('\n')[0] ?? String(e) };
  }
  return loaded;
}

/** The modules, or an Error naming why ONNX Runtime is unavailable. */
function ortOrThrow(): OrtModules {
  const o = loadOrt();
  if ('error' in o) throw new Error(`ONNX Runtime (npm package onnxruntime-node) could not be loaded: ${o.error}`);
  return o;
}

/** SELMIX_ORT_THREADS when it is set to a whole number (0: ONNX Runtime's default), else null. */
function threadsFromEnv(): number | null {
  const v = process.env.SELMIX_ORT_THREADS;
  const n = Number(v);
  return v !== undefined && v !== '' && Number.isInteger(n) && n >= 0 ? n : null;
}

/**
 * Threads of one session. 'one': small graphs (the head step up to HEAD_STEP_WIDE_MACS, the checks and probes of a
 * model) and the whole-network step graph (a second thread did not make it faster), and one is also what the
 * benchmarks against PyTorch compare. 'all' (the gain's K x K x K products, a large head step, an ONNX model's forward
 * passes: feature extraction, validation, evaluation): every core the process may use, up to 8, with threads that
 * sleep between runs. Results are the same to the bit either way where tested (the head step, the step graphs of the
 * test networks). SELMIX_ORT_THREADS sets both.
 */
function intraOpThreads(kind: OrtThreads = 'one'): number {
  return threadsFromEnv() ?? (kind === 'all' ? Math.min(8, Math.max(1, availableParallelism())) : 1);
}

/**
 * Multiply-adds of one product of a head step (batch x d x K) from which its session gets every core ('all').
 * `bench/headStepThreads.ts` times the step on one thread and on two here: from about 6.5e7 (B = 128, d = 2048,
 * K = 250) two were faster, at 2.6e7 (K = 100) slower; with K = 1000, d = 2048 they took about a second off a
 * 200-step `selmix finetune` (docs/PERFORMANCE.md, fifteenth pass).
 */
export const HEAD_STEP_WIDE_MACS = 2 ** 26;

/** How many threads a session gets: see intraOpThreads. */
export type OrtThreads = 'one' | 'all';

/** The thread kind of a head step's session (see intraOpThreads and HEAD_STEP_WIDE_MACS). */
export function headStepThreads(B: number, d: number, K: number): OrtThreads {
  return B * d * K >= HEAD_STEP_WIDE_MACS ? 'all' : 'one';
}

/** A loaded ONNX graph, run synchronously. */
export class OrtSession {
  private readonly s: BindingSession;
  private readonly ort: OrtModules;
  readonly inputNames: string[];
  readonly outputNames: string[];

  /**
   * arena: ONNX Runtime's CPU memory arena (its default, on), which keeps freed buffers for later runs. threads: see
   * intraOpThreads. With more than one thread the pool's threads sleep between runs instead of spinning: a spinning
   * thread holds a core the JS between two products needs (on 2 cores a refresh took 160 ms spinning, 117 ms not).
   */
  constructor(
    bytes: Uint8Array,
    provider: OrtProvider = probed?.provider ?? 'cpu',
    arena = true,
    threads: OrtThreads = 'one',
  ) {
    this.ort = ortOrThrow();
    this.s = new this.ort.binding.InferenceSession();
    const n = intraOpThreads(threads);
    this.s.loadModel(bytes.buffer, bytes.byteOffset, bytes.byteLength, {
      executionProviders: [{ name: provider }],
      intraOpNumThreads: n,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      enableCpuMemArena: arena,
      ...(n !== 1 ? { extra: { session: { intra_op: { allow_spinning: '0' } } } } : {}),
    });
    this.inputNames = this.s.inputMetadata.map((m) => m.name);
    this.outputNames = this.s.outputMetadata.map((m) => m.name);
  }

  /** Runs the graph on float32 inputs (name -> data and dims); returns the named outputs (all when none named). */
  run(
    feeds: Record<string, { data: Float32Array; dims: readonly number[] }>,
    outputs: string[] = this.outputNames,
    into?: Record<string, { data: Float32Array; dims: readonly number[] }>,
  ): Record<string, { data: Float32Array; dims: number[] }> {
    const f: Record<string, unknown> = {};
    for (const [name, v] of Object.entries(feeds)) f[name] = new this.ort.Tensor('float32', v.data, v.dims);
    const fetches: Record<string, unknown> = {};
    for (const o of outputs) {
      const t = into?.[o];
      fetches[o] = t ? new this.ort.Tensor('float32', t.data, t.dims) : null;
    }
    const r = this.s.run(f, fetches, {});
    const out: Record<string, { data: Float32Array; dims: number[] }> = {};
    for (const o of outputs) {
      const t = r[o]!;
      if (!(t.data instanceof Float32Array)) throw new Error(`ONNX Runtime: output "${o}" is ${t.type}, not float32`);
      // A pre-allocated output is the caller's array, which ONNX Runtime wrote; the binding hands back a copy of it.
      const given = into?.[o];
      out[o] = given ? { data: given.data, dims: [...given.dims] } : { data: t.data, dims: Array.from(t.dims, Number) };
    }
    return out;
  }

  /**
   * Runs the graph on float32 inputs and returns the named outputs whatever their element type (float32 or int64 as
   * numbers).
   */
  runRaw(
    feeds: Record<string, { data: Float32Array; dims: readonly number[] }>,
    outputs: string[],
  ): Record<string, { type: string; data: Float32Array | Int32Array | number[]; dims: number[] }> {
    const f: Record<string, unknown> = {};
    for (const [name, v] of Object.entries(feeds)) f[name] = new this.ort.Tensor('float32', v.data, v.dims);
    const fetches: Record<string, null> = {};
    for (const o of outputs) fetches[o] = null;
    const r = this.s.run(f, fetches, {});
    const out: Record<string, { type: string; data: Float32Array | Int32Array | number[]; dims: number[] }> = {};
    for (const o of outputs) {
      const t = r[o]!;
      const dims = Array.from(t.dims, Number);
      out[o] = {
        type: t.type,
        dims,
        data:
          t.data instanceof Float32Array || t.data instanceof Int32Array
            ? t.data
            : t.data instanceof BigInt64Array
              ? Array.from(t.data, Number)
              : Array.from(t.data as ArrayLike<number>),
      };
    }
    return out;
  }

  /** Releases the native session. */
  dispose(): void {
    this.s.dispose();
  }
}

/** A MatMul of two float32 inputs with symbolic shapes: the gain provider's graph. */
function matMulGraph(): Uint8Array {
  return encodeOnnx(
    modelOf({
      name: 'selmix_matmul',
      node: [node('MatMul', ['A', 'B'], ['C'])],
      input: [valueInfo('A', ['m', 'k']), valueInfo('B', ['k', 'n'])],
      output: [valueInfo('C', ['m', 'n'])],
    }),
  );
}

/** A Gemm with transB = 1 (A m x k times the transpose of B, n x k), no bias: the gain's transposed products. */
function matMulTransBGraph(): Uint8Array {
  return encodeOnnx(
    modelOf({
      name: 'selmix_matmul_tb',
      node: [node('Gemm', ['A', 'B'], ['C'], { transB: 1 }, ['transB'])],
      input: [valueInfo('A', ['m', 'k']), valueInfo('B', ['n', 'k'])],
      output: [valueInfo('C', ['m', 'n'])],
    }),
  );
}

/**
 * The first column of each row's largest entry of L = X W + b as int32 (ArgMax keeps the first of equal entries, as
 * argmaxRows does), and the sum of every entry of L, finite exactly when each entry is (a NaN or an infinity makes the
 * sum NaN or infinite): a head's predictions on a validation set, one int32 a row out where the logits were K floats.
 */
function argmaxAffineGraph(): Uint8Array {
  return encodeOnnx(
    modelOf({
      name: 'selmix_argmax_affine',
      node: [
        node('MatMul', ['X', 'W'], ['XW']),
        node('Add', ['XW', 'b'], ['L']),
        node('ArgMax', ['L'], ['first'], { axis: 1, keepdims: 0, select_last_index: 0 }, [
          'axis',
          'keepdims',
          'select_last_index',
        ]),
        node('Cast', ['first'], ['pred'], { to: ONNX_INT32 }, ['to']),
        node('ReduceSum', ['L'], ['total'], { keepdims: 0 }, ['keepdims']),
      ],
      input: [valueInfo('X', ['n', 'k']), valueInfo('W', ['k', 'm']), valueInfo('b', ['m'])],
      output: [valueInfo('pred', ['n'], ONNX_INT32), valueInfo('total', [])],
    }),
  );
}

/**
 * The gain's softmax sums r in one graph (MatMul.softmaxRatios): from the shifted logits z and E, e = max |E| (1 when
 * that is 0 or not finite), U = exp(lb z) up, V = exp((1 - lb) z) up, X = U.E/e, Y = V.E/e, each set to 0 where its
 * magnitude is under floor, then S = U V^T, N1 = X V^T (one Gemm of [U; X]), N2 = U Y^T and
 * r = e (lb N1 + (1 - lb) N2) / S, NaN where S is under tq. Every factor kept is a normal float32 before scaling
 * (floor / up is above 2^-126), so none loses bits to underflow; |lb N1 + (1 - lb) N2| <= S, so the ratio cannot
 * overflow before it is scaled by e. Only r (K x K) and e leave the graph.
 */
function softmaxRatiosGraph(): Uint8Array {
  const flushed = (x: string): ReturnType<typeof node>[] => [
    node('Abs', [x], [`${x}_abs`]),
    node('GreaterOrEqual', [`${x}_abs`, 'floor'], [`${x}_keep`]),
    node('Where', [`${x}_keep`, x, 'zero'], [`${x}_f`]),
  ];
  return encodeOnnx(
    modelOf({
      name: 'selmix_softmax_ratios',
      node: [
        node('Abs', ['E'], ['E_abs']),
        node('ReduceMax', ['E_abs'], ['e_max'], { keepdims: 0 }, ['keepdims']),
        node('Greater', ['e_max', 'zero'], ['e_pos']),
        node('IsInf', ['e_max'], ['e_inf']),
        node('Not', ['e_inf'], ['e_fin']),
        node('And', ['e_pos', 'e_fin'], ['e_ok']),
        node('Where', ['e_ok', 'e_max', 'one'], ['e']),
        node('Div', ['E', 'e'], ['Es']),
        node('Sub', ['one', 'lb'], ['a']),
        node('Mul', ['z', 'lb'], ['lz']),
        node('Exp', ['lz'], ['u0']),
        node('Mul', ['u0', 'up'], ['U']),
        node('Mul', ['z', 'a'], ['az']),
        node('Exp', ['az'], ['v0']),
        node('Mul', ['v0', 'up'], ['V']),
        node('Mul', ['U', 'Es'], ['X']),
        node('Mul', ['V', 'Es'], ['Y']),
        ...flushed('U'),
        ...flushed('V'),
        ...flushed('X'),
        ...flushed('Y'),
        node('Concat', ['U_f', 'X_f'], ['UX'], { axis: 0 }, ['axis']),
        node('Gemm', ['UX', 'V_f'], ['SN1'], { transB: 1 }, ['transB']),
        node('Gemm', ['U_f', 'Y_f'], ['N2'], { transB: 1 }, ['transB']),
        node('Split', ['SN1'], ['S', 'N1'], { axis: 0 }, ['axis']),
        node('Mul', ['N1', 'lb'], ['n1']),
        node('Mul', ['N2', 'a'], ['n2']),
        node('Add', ['n1', 'n2'], ['num']),
        node('Div', ['num', 'S'], ['q']),
        node('Mul', ['q', 'e'], ['r0']),
        node('Less', ['S', 'tq'], ['low']),
        node('Where', ['low', 'nan', 'r0'], ['r']),
      ],
      initializer: [
        floatTensor('zero', [], Float32Array.of(0)),
        floatTensor('one', [], Float32Array.of(1)),
        floatTensor('nan', [], Float32Array.of(NaN)),
      ],
      input: [
        valueInfo('z', ['K', 'K']),
        valueInfo('E', ['K', 'K']),
        valueInfo('lb', []),
        valueInfo('up', []),
        valueInfo('floor', []),
        valueInfo('tq', []),
      ],
      output: [valueInfo('r', ['K', 'K']), valueInfo('e', [])],
    }),
  );
}

/** A 3x4 by 4x2 product on a provider, checked against plain JS to 1e-4; null when it passes, else why not. */
function numericCheck(provider: OrtProvider): string | null {
  const a = Float32Array.from([1, 2, 3, 4, -1, 0.5, 2, 1, 0, 3, -2, 1]);
  const b = Float32Array.from([0.5, -1, 2, 1, -3, 0.25, 1, 2]);
  const s = new OrtSession(matMulGraph(), provider);
  try {
    const got = s.run({ A: { data: a, dims: [3, 4] }, B: { data: b, dims: [4, 2] } }).C!.data;
    for (let i = 0; i < 3; i++)
      for (let j = 0; j < 2; j++) {
        let want = 0;
        for (let k = 0; k < 4; k++) want += a[i * 4 + k]! * b[k * 2 + j]!;
        if (!(Math.abs(want - got[i * 2 + j]!) < 1e-4))
          return `numeric check against plain JS failed (entry ${i},${j}: ${got[i * 2 + j]} for ${want})`;
      }
    return null;
  } finally {
    s.dispose();
  }
}

/**
 * Whether the CUDA provider's shared library is installed beside the binding (the npm package ships it only after its
 * CUDA download).
 */
function cudaInstalled(dir: string): boolean {
  return existsSync(
    join(
      dir,
      'bin',
      'napi-v6',
      process.platform,
      process.arch,
      process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so',
    ),
  );
}

/**
 * Probes ONNX Runtime once: loads it and checks a product on each execution provider in order, CUDA (when its
 * library is installed), WebGPU (bundled; probed only with SELMIX_ORT_WEBGPU=1: unverified, and Dawn prints to
 * stderr when it finds no adapter), then the CPU; the first that passes is the one sessions use.
 */
export function probeOnnxRuntime(): OrtProbe {
  if (probed) return probed;
  const o = loadOrt();
  if ('error' in o) {
    probed = { ok: false, provider: null, detail: `onnxruntime-node is not available: ${o.error}`, providers: [] };
    return probed;
  }
  const providers: OrtProbe['providers'] = [];
  const tryProvider = (name: OrtProvider): boolean => {
    try {
      const err = numericCheck(name);
      providers.push({ name, ok: err === null, detail: err ?? 'numeric check passed' });
      return err === null;
    } catch (e) {
      providers.push({ name, ok: false, detail: (e as Error).message.split('\n')[0] ?? String(e) });
      return false;
    }
  };
  let provider: OrtProvider | null = null;
  // SELMIX_ORT_PROVIDER=cpu|cuda|webgpu: only that provider (scripts/gpu-check.sh measures each one).
  const only = process.env.SELMIX_ORT_PROVIDER as OrtProvider | undefined;
  if (only === 'cpu' || only === 'cuda' || only === 'webgpu') {
    if (tryProvider(only)) provider = only;
  } else if (cudaInstalled(o.dir)) {
    if (tryProvider('cuda')) provider = 'cuda';
  } else
    providers.push({
      name: 'cuda',
      ok: false,
      detail: 'CUDA provider not installed (onnxruntime-node-install=skip; see README)',
    });
  if (!provider && !only) {
    if (process.env.SELMIX_ORT_WEBGPU === '1') {
      if (tryProvider('webgpu')) provider = 'webgpu';
    } else providers.push({ name: 'webgpu', ok: false, detail: 'not probed (set SELMIX_ORT_WEBGPU=1; unverified)' });
  }
  if (!provider && !only && tryProvider('cpu')) provider = 'cpu';
  probed = provider
    ? {
        ok: true,
        provider,
        detail: `onnxruntime-node ${o.version}, ${provider} execution provider, ${intraOpThreads('one') || 'default'} thread(s) for small graphs and the network step, ${intraOpThreads('all') || 'default'} for the gain, a large head step and the model's forward passes`,
        providers,
      }
    : {
        ok: false,
        provider: null,
        detail: `onnxruntime-node ${o.version}: no execution provider passed: ${providers.map((p) => `${p.name}: ${p.detail}`).join('; ')}`,
        providers,
      };
  return probed;
}

/** The probe's result, or null before probeOnnxRuntime ran. */
export function ortProbeResult(): OrtProbe | null {
  return probed;
}

let mmSession: OrtSession | null = null;
let tbSession: OrtSession | null = null;
let argmaxSession: OrtSession | null = null;
let softmaxSession: OrtSession | null = null;
/** Logits of one argmaxAffine run (a block of rows). */
const ARGMAX_BLOCK = 2 ** 20;

/**
 * The rows' argmax of X W + b in one graph (argmaxAffineGraph): the n x m logits stay inside ONNX Runtime, where
 * the product path copied them out (32 MB for 8,000 rows at K = 1000) for one pass that kept one number a row.
 */
const argmaxAffine: NonNullable<MatMul['argmaxAffine']> = (X, W, b, n, k, m) => {
  if (X.length !== n * k || W.length !== k * m || b.length !== m)
    throw new RangeError(
      `ortMatMul.argmaxAffine: ${X.length}, ${W.length} and ${b.length} entries for X ${n} x ${k}, W ${k} x ${m}, b ${m}`,
    );
  // The rows go in blocks of about 2^20 logits (4 MB). In one piece, without the memory arena, one run in three
  // took ten times as long (100 against 9 ms for 8,000 x 1,000 logits: a 32 MB buffer allocated afresh); with the
  // arena, the arena kept the 32 MB. In blocks, without it: 10 ms every run.
  argmaxSession ??= new OrtSession(argmaxAffineGraph(), undefined, false, 'all');
  const pred = new Int32Array(n);
  const rows = Math.max(1, Math.floor(ARGMAX_BLOCK / m));
  for (let r0 = 0; r0 < n; r0 += rows) {
    const r1 = Math.min(n, r0 + rows);
    const r = argmaxSession.runRaw(
      {
        X: { data: X.subarray(r0 * k, r1 * k), dims: [r1 - r0, k] },
        W: { data: W, dims: [k, m] },
        b: { data: b, dims: [m] },
      },
      ['pred', 'total'],
    );
    const p = r.pred!.data;
    if (!(p instanceof Int32Array) || p.length !== r1 - r0)
      throw new Error(`ortMatMul.argmaxAffine: ONNX Runtime returned ${r.pred!.type} [${r.pred!.dims.join(', ')}]`);
    if (!Number.isFinite(r.total!.data[0]!)) return null;
    pred.set(p, r0);
  }
  return pred;
};

/** The softmax sums in one run of softmaxRatiosGraph (see MatMul.softmaxRatios). */
function softmaxRatios(
  z: Float32Array,
  E: Float32Array,
  K: number,
  f: SoftmaxFactors,
  out?: Mat,
): { r: Float32Array; eScale: number } {
  if (z.length !== K * K || E.length !== K * K)
    throw new RangeError(`ortMatMul.softmaxRatios: ${z.length} and ${E.length} entries for K = ${K}`);
  softmaxSession ??= new OrtSession(softmaxRatiosGraph(), undefined, false, 'all');
  const scalar = (v: number): { data: Float32Array; dims: number[] } => ({ data: Float32Array.of(v), dims: [] });
  const r = offered(out, [K, K]);
  const got = softmaxSession.run(
    {
      z: { data: z, dims: [K, K] },
      E: { data: E, dims: [K, K] },
      lb: scalar(f.lb),
      up: scalar(f.up),
      floor: scalar(f.floor),
      tq: scalar(f.tq),
    },
    ['r', 'e'],
    r ? { r } : {},
  );
  return { r: got.r!.data, eScale: got.e!.data[0]! };
}

/**
 * The gain's MatMul provider on ONNX Runtime (float32): row-major A (m x k) times B (k x n), one session for every
 * shape. Declares `precision: 'float32'` like tfMatMul. Call after probeOnnxRuntime passed. Its sessions run without
 * ONNX Runtime's memory arena: a product's output is copied out at once, and the arena kept the largest product's
 * buffers for the rest of the process (about 20 to 30 MB of a K = 1000 finetune's peak RSS, measured by hand).
 */
export const ortMatMul: MatMul = Object.assign(
  (A: Mat, B: Mat, m: number, k: number, n: number, out?: Mat): Float32Array => {
    if (A.length !== m * k || B.length !== k * n)
      throw new RangeError(
        `ortMatMul: operands of ${A.length} and ${B.length} entries for ${m} x ${k} times ${k} x ${n}`,
      );
    mmSession ??= new OrtSession(matMulGraph(), undefined, false, 'all');
    return product(mmSession, A, [m, k], B, [k, n], [m, n], out);
  },
  {
    precision: 'float32' as const,
    /** A (m x k) times the transpose of B (n x k): one Gemm with transB, no transposed copy (see MatMul.transB). */
    transB: (A: Mat, B: Mat, m: number, k: number, n: number, out?: Mat): Float32Array => {
      if (A.length !== m * k || B.length !== n * k)
        throw new RangeError(
          `ortMatMul.transB: operands of ${A.length} and ${B.length} entries for ${m} x ${k} times (${n} x ${k})^T`,
        );
      tbSession ??= new OrtSession(matMulTransBGraph(), undefined, false, 'all');
      return product(tbSession, A, [m, k], B, [n, k], [m, n], out);
    },
    argmaxAffine,
    softmaxRatios,
    // The direct sums of a confident head's pairs on a second thread, where the gain's products get more than one.
    ...(intraOpThreads('all') > 1 ? { pairThreads: twoThreadPairs } : {}),
  },
);

/**
 * C of a product graph on A and B (float32 views or copies); written into out when it is float32 of C's size (ONNX
 * Runtime's pre-allocated output), else into a new array.
 */
function product(
  s: OrtSession,
  A: Mat,
  dimsA: number[],
  B: Mat,
  dimsB: number[],
  dimsC: [number, number],
  out?: Mat,
): Float32Array {
  const C = offered(out, dimsC);
  const into = C ? { C } : undefined;
  return s.run({ A: { data: f32(A), dims: dimsA }, B: { data: f32(B), dims: dimsB } }, ['C'], into).C!.data;
}

/** An offered output array as ONNX Runtime's pre-allocated output: when it is float32 of dims' size, else undefined. */
function offered(out: Mat | undefined, dims: [number, number]): { data: Float32Array; dims: number[] } | undefined {
  return out instanceof Float32Array && out.length === dims[0] * dims[1] ? { data: out, dims } : undefined;
}

/** A float32 view or copy of a provider operand. */
function f32(x: Mat): Float32Array {
  return x instanceof Float32Array ? x : new Float32Array(x);
}
