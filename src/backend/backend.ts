// The one place that chooses and initialises the tensor backend (core/ modules import tfjs themselves and run on
// whichever backend this module set).
// Order when the user has not chosen: tfjs-node-gpu, WebGPU (Dawn), tfjs-node, wasm, pure-JS cpu. Each probe
// checks setBackend's boolean (after a failure getBackend() still reports the failed name) and a small
// numeric check against plain JS before the backend is trusted. A failed probe never fails a run.
import * as tf from '@tensorflow/tfjs';
import { BACKEND_CHOICES, type BackendChoice } from '../protocol/messages';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { FAST_GAIN_MIN_K, float64MatMul, type MatMul } from '../core/numerics/gain';
import { ortMatMul, ortProbeResult, probeOnnxRuntime } from './onnxRuntime';
import type { HeadTrainerFactory } from '../core/training/headStep';
import { OrtHeadTrainer } from './onnxHeadStep';

export { tf };

export { BACKEND_CHOICES, type BackendChoice };

/** What one probe found. */
export interface ProbeResult {
  name: Exclude<BackendChoice, 'auto'>;
  ok: boolean;
  detail: string;
}

/** The outcome of backend selection. */
export interface BackendInfo {
  /** The user-facing name of the backend in use (e.g. "wasm (SIMD)"). */
  name: string;
  /** tfjs's own backend id. */
  tfName: string;
  probes: ProbeResult[];
  /**
   * ONNX Runtime passed its probe: it computes the matrix products (src/backend/onnxRuntime.ts), tfjs keeps autodiff.
   */
  onnxruntime?: boolean;
  /** Why a backend the user asked for is not the one in use (shown with the run's notes). */
  note?: string;
}

let current: BackendInfo | null = null;
const nodeRequire = createRequire(typeof __filename === 'string' ? __filename : join(process.cwd(), 'x.js'));

/** Where the tfjs wasm binaries are: beside the bundle (dist/) or in node_modules. */
export function defaultWasmDir(): string {
  const here = typeof __dirname === 'string' ? __dirname : process.cwd();
  if (existsSync(join(here, 'tfjs-backend-wasm-simd.wasm'))) return here;
  const pkg = nodeRequire.resolve('@tensorflow/tfjs-backend-wasm/package.json');
  return join(dirname(pkg), 'dist');
}

/** A 3x4 by 4x2 product checked against plain JS; true when the backend computes it to 1e-4. */
async function numericCheck(): Promise<boolean> {
  const a = [1, 2, 3, 4, -1, 0.5, 2, 1, 0, 3, -2, 1];
  const b = [0.5, -1, 2, 1, -3, 0.25, 1, 2];
  const want: number[] = [];
  for (let i = 0; i < 3; i++)
    for (let j = 0; j < 2; j++) {
      let s = 0;
      for (let k = 0; k < 4; k++) s += a[i * 4 + k]! * b[k * 2 + j]!;
      want.push(s);
    }
  const got = tf.tidy(() => tf.relu(tf.matMul(tf.tensor2d(a, [3, 4]), tf.tensor2d(b, [4, 2]))));
  const data = await got.data();
  got.dispose();
  return want.every((w, i) => Math.abs(Math.max(0, w) - data[i]!) < 1e-4);
}

async function trySet(tfName: string): Promise<string | null> {
  try {
    const ok = await tf.setBackend(tfName);
    if (!ok) return `setBackend('${tfName}') returned false`;
    await tf.ready();
    if (!(await numericCheck())) return 'numeric check against plain JS failed';
    return null;
  } catch (e) {
    return (e as Error).message.split('\n')[0] ?? String(e);
  }
}

async function probe(name: Exclude<BackendChoice, 'auto'>, wasmDir: string): Promise<ProbeResult> {
  try {
    switch (name) {
      case 'onnxruntime': {
        const r = probeOnnxRuntime();
        return {
          name,
          ok: r.ok,
          detail:
            r.detail +
            (r.providers.length
              ? ` [${r.providers.map((p) => `${p.name}: ${p.ok ? 'ok' : p.detail}`).join('; ')}]`
              : ''),
        };
      }
      case 'tfjs-node-gpu':
      case 'tfjs-node': {
        const pkg = name === 'tfjs-node-gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
        const override = process.env.SELMIX_TFJS_NODE_PATH;
        try {
          nodeRequire.resolve(override ?? pkg);
        } catch {
          return { name, ok: false, detail: `${pkg} is not installed (optional)` };
        }
        nodeRequire(override ?? pkg);
        const err = await trySet('tensorflow');
        return { name, ok: err === null, detail: err ?? `${pkg} loaded` };
      }
      case 'webgpu': {
        let dawn: { create: (flags: string[]) => unknown; globals?: Record<string, unknown> };
        try {
          dawn = nodeRequire('webgpu');
          nodeRequire.resolve('@tensorflow/tfjs-backend-webgpu');
        } catch {
          return {
            name,
            ok: false,
            detail: 'npm packages webgpu and @tensorflow/tfjs-backend-webgpu are not installed (optional)',
          };
        }
        if (dawn.globals) Object.assign(globalThis, dawn.globals);
        const gpu = dawn.create([]) as { requestAdapter: () => Promise<unknown> };
        const adapter = await gpu.requestAdapter();
        if (!adapter) return { name, ok: false, detail: 'no WebGPU adapter' };
        (globalThis as { navigator?: unknown }).navigator = { gpu };
        nodeRequire('@tensorflow/tfjs-backend-webgpu');
        const err = await trySet('webgpu');
        return { name, ok: err === null, detail: err ?? 'WebGPU adapter found' };
      }
      case 'wasm': {
        if (!existsSync(join(wasmDir, 'tfjs-backend-wasm-simd.wasm')))
          return { name, ok: false, detail: `wasm binaries not found in ${wasmDir}` };
        setWasmPaths(wasmDir.endsWith('/') ? wasmDir : wasmDir + '/');
        const err = await trySet('wasm');
        return { name, ok: err === null, detail: err ?? 'wasm (SIMD, one thread)' };
      }
      case 'cpu': {
        const err = await trySet('cpu');
        return { name, ok: err === null, detail: err ?? 'pure JavaScript' };
      }
    }
  } catch (e) {
    return { name, ok: false, detail: (e as Error).message.split('\n')[0] ?? String(e) };
  }
}

/**
 * Chooses and initialises the backend. With an explicit choice only that backend is tried, then cpu as
 * the last fallback; with 'auto' the full probe order. Silences tfjs's console banner (stdout stays clean).
 */
export async function initBackend(opts: { choice?: BackendChoice; wasmDir?: string } = {}): Promise<BackendInfo> {
  const choice = opts.choice ?? (process.env.SELMIX_BACKEND as BackendChoice | undefined) ?? 'auto';
  if (current && (choice === 'auto' || current.probes.some((p) => p.ok && p.name === choice))) return current;
  tf.enableProdMode();
  const wasmDir = opts.wasmDir ?? defaultWasmDir();
  // ONNX Runtime computes beside a tfjs backend (which keeps autodiff): probed first for auto and onnxruntime.
  const ort = choice === 'auto' || choice === 'onnxruntime' ? await probe('onnxruntime', wasmDir) : null;
  const tfChoice = choice === 'onnxruntime' ? 'auto' : choice;
  const order: Exclude<BackendChoice, 'auto'>[] =
    tfChoice === 'auto'
      ? ['tfjs-node-gpu', 'webgpu', 'tfjs-node', 'wasm', 'cpu']
      : tfChoice === 'cpu'
        ? ['cpu']
        : [tfChoice, 'cpu'];
  const probes: ProbeResult[] = ort ? [ort] : [];
  for (const name of order) {
    const r = await probe(name, wasmDir);
    probes.push(r);
    if (r.ok) {
      const tfLabel = name === 'wasm' ? 'wasm (SIMD)' : name;
      current = {
        name: ort?.ok ? `onnxruntime (${ortProbeResult()?.provider ?? 'cpu'}) + ${tfLabel}` : tfLabel,
        tfName: tf.getBackend(),
        probes,
        onnxruntime: ort?.ok === true,
        ...(choice === 'onnxruntime' && !ort?.ok
          ? { note: `ONNX Runtime was asked for but did not load (${ort?.detail}); running on ${tfLabel} instead` }
          : {}),
      };
      return current;
    }
  }
  throw new Error('no tensor backend could be initialised: ' + probes.map((p) => `${p.name}: ${p.detail}`).join('; '));
}

/** The backend chosen by initBackend, or null before it ran. */
export function backendInfo(): BackendInfo | null {
  return current;
}

/** Float32 to the backend only: tfjs would otherwise copy a Float64Array through a generic conversion. */
function asFloat32(x: Float64Array | Float32Array): Float32Array {
  return x instanceof Float32Array ? x : new Float32Array(x);
}

/**
 * The gain's matmul provider on the current tensor backend (float32): row-major A (m x k) times B (k x n),
 * returned as the backend's float32 read-back (a copy). It declares `precision: 'float32'`, so gainMatrix builds
 * its operands as Float32Array and scales its softmax factors for float32's range. No transpose flags (far slower
 * on wasm than an explicit transpose); gainMatrix passes transposed copies instead.
 */
export const tfMatMul: MatMul = Object.assign(
  (A: Float64Array | Float32Array, B: Float64Array | Float32Array, m: number, k: number, n: number): Float32Array => {
    if (A.length !== m * k || B.length !== k * n)
      throw new RangeError(
        `tfMatMul: operands of ${A.length} and ${B.length} entries for ${m} x ${k} times ${k} x ${n}`,
      );
    const out = tf.tidy(() =>
      tf.matMul(tf.tensor2d(asFloat32(A), [m, k], 'float32'), tf.tensor2d(asFloat32(B), [k, n], 'float32')),
    );
    try {
      // A fresh array on wasm and WebGPU; on the cpu backend its storage, which is released with the tensor below.
      return out.dataSync() as Float32Array;
    } finally {
      out.dispose();
    }
  },
  { precision: 'float32' as const },
);

/**
 * True when this process's malloc maps large blocks in huge pages (glibc read GLIBC_TUNABLES glibc.malloc.hugetlb at
 * start: bin/selmix.js runs the CLI so where the kernel gives them on request). Fresh memory then faults in 512
 * times fewer pages, so a run need not keep work arrays between refreshes to avoid that cost (FinetuneOptions
 * keepGainWork).
 */
export function hugePageMalloc(env: NodeJS.ProcessEnv = process.env): boolean {
  return /(^|:)glibc\.malloc\.hugetlb=[12](:|$)/.test(env.GLIBC_TUNABLES ?? '');
}

/**
 * What this process's glibc malloc was told at start (GLIBC_TUNABLES), in words for `selmix backends`: huge pages on
 * request, and the size from which every block is mapped on its own and unmapped when freed (bin/selmix.js sets both
 * for the CLI child). Null where nothing about either was set.
 */
export function mallocSettings(env: NodeJS.ProcessEnv = process.env): string | null {
  const m = /(?:^|:)glibc\.malloc\.mmap_threshold=(\d+)(?::|$)/.exec(env.GLIBC_TUNABLES ?? '');
  const parts = [
    ...(hugePageMalloc(env) ? ['large blocks in huge pages on request'] : []),
    ...(m ? [`blocks of ${bytesInWords(Number(m[1]))} or more mapped on their own and returned when freed`] : []),
  ];
  return parts.length > 0 ? `glibc: ${parts.join('; ')}` : null;
}

function bytesInWords(n: number): string {
  return n % 1048576 === 0 ? `${n / 1048576} MiB` : n % 1024 === 0 ? `${n / 1024} KiB` : `${n} bytes`;
}

/**
 * The matmul provider a run with K classes should hand the gain (computeRefresh's `matmul`): tfMatMul from
 * FAST_GAIN_MIN_K classes on a native, WebGPU or wasm backend, else float64MatMul (exact float64 JS; also on tfjs's
 * pure-JS cpu backend, which would gain nothing). Call it after initBackend. One thread: a two-thread split of the
 * products did not pay on the benchmark (bench/refresh.ts).
 */
export async function prepareGainMatMul(K: number): Promise<MatMul> {
  if (K >= FAST_GAIN_MIN_K && current?.onnxruntime) return ortMatMul;
  return Promise.resolve(
    K >= FAST_GAIN_MIN_K && current !== null && tf.getBackend() !== 'cpu' ? tfMatMul : float64MatMul,
  );
}

/**
 * The head step on features the run should use: ONNX Runtime's fused step (src/backend/onnxHeadStep.ts) when ONNX
 * Runtime passed its probe, else undefined (the loop's LinearHeadTrainer on the tfjs backend).
 */
export function headTrainerFactory(): HeadTrainerFactory | undefined {
  return current?.onnxruntime ? (v, scale) => new OrtHeadTrainer(v, scale) : undefined;
}
