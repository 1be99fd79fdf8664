// A synchronous two-thread float32 matmul for the gain refresh: the caller's thread computes one half of A B
// (split along the inner dimension) through its own tfjs backend while a helper thread (matmulWorker.ts, its own
// wasm instance) computes the other; they meet through shared memory and Atomics.wait, so the MatMul provider stays synchronous.
// tfjs's threaded wasm build is disabled in Node (tfjs issue 3830), which is why the split is done here. On a
// 2-core machine the K = 1000 refresh ran 1.1 to 1.3x faster (npm run bench: the "backend matmul" column is one
// thread, "refresh (wall)" the run's path).
import { Worker } from 'node:worker_threads';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { MatMul, Mat } from '../core/gain';
import { CTRL, STATE } from './parallelProtocol';

/** Products smaller than this (multiply-adds) are not worth a round trip to the helper thread. */
export const PARALLEL_MIN_MACS = 2e7;

/** How long a product waits for the helper before computing its rows itself. */
const HELPER_TIMEOUT_MS = 120_000;

/**
 * How to start the helper: the bundle beside this file (dist/matmulWorker.js), or, when running from source
 * (tests, benchmarks), the TypeScript entry through tsx's require hook (a worker does not inherit --import tsx).
 */
function workerEntry(dir: string): { file: string; eval: boolean } | null {
  const js = join(dir, 'matmulWorker.js');
  if (existsSync(js)) return { file: js, eval: false };
  const ts = join(dir, 'matmulWorker.ts');
  if (existsSync(ts)) return { file: `require('tsx/cjs/api').register(); require(${JSON.stringify(ts)});`, eval: true };
  return null;
}

/** A started helper thread and the provider that uses it. */
export class ParallelMatMul {
  /** The provider: float32, splits products of at least PARALLEL_MIN_MACS between the two threads. */
  readonly mm: MatMul;
  private data: Float32Array;
  private closed = false;

  private constructor(private readonly worker: Worker, private readonly ctrl: Int32Array, data: SharedArrayBuffer, local: MatMul) {
    this.data = new Float32Array(data);
    this.mm = Object.assign((A: Mat, B: Mat, m: number, k: number, n: number): Mat => this.multiply(local, A, B, m, k, n), { precision: 'float32' as const });
  }

  /**
   * Starts the helper (its wasm backend from wasmDir) and resolves when it is ready; null when this machine has
   * one core, no helper entry is found, or the helper's backend fails (the caller then stays single-threaded).
   */
  static async start(opts: { wasmDir: string; local: MatMul; dir?: string; timeoutMs?: number }): Promise<ParallelMatMul | null> {
    if (availableParallelism() < 2) return null;
    const entry = workerEntry(opts.dir ?? (typeof __dirname === 'string' ? __dirname : process.cwd()));
    if (!entry) return null;
    const ctrl = new SharedArrayBuffer(CTRL.length * 4);
    const data = new SharedArrayBuffer(4 << 20);
    const worker = new Worker(entry.file, { eval: entry.eval, workerData: { ctrl, data, wasmDir: opts.wasmDir }, stdout: true, stderr: true });
    worker.unref();
    const ready = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), opts.timeoutMs ?? 30_000);
      timer.unref();
      worker.once('message', (m: { ready?: boolean }) => { clearTimeout(timer); resolve(m.ready === true); });
      worker.once('error', () => { clearTimeout(timer); resolve(false); });
      worker.once('exit', () => { clearTimeout(timer); resolve(false); });
    });
    if (!ready) {
      await worker.terminate();
      return null;
    }
    return new ParallelMatMul(worker, new Int32Array(ctrl), data, opts.local);
  }

  /** Asks the helper to exit and waits for it. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    Atomics.store(this.ctrl, CTRL.state, STATE.exit);
    Atomics.notify(this.ctrl, CTRL.state);
    await this.worker.terminate();
  }

  /**
   * A B split along the inner dimension: this thread computes A[:, :k1] B[:k1, :], the helper A[:, k1:] B[k1:, :],
   * and the halves are summed. Not split by rows: wasm's matmul packs its whole right operand on every call (about
   * 20 ms per million entries here), so two row halves would each pay the full packing; inner halves pack half each.
   */
  private multiply(local: MatMul, A: Mat, B: Mat, m: number, k: number, n: number): Mat {
    if (A.length !== m * k || B.length !== k * n) throw new RangeError(`parallel matmul: operands of ${A.length} and ${B.length} entries for ${m} x ${k} times ${k} x ${n}`);
    if (this.closed || k < 2 || m * k * n < PARALLEL_MIN_MACS) return local(A, B, m, k, n);
    const k1 = Math.ceil(k / 2);
    const k2 = k - k1;
    const need = m * k2 + k2 * n + m * n;
    if (need > this.data.length) {
      const grown = new SharedArrayBuffer(Math.ceil(need * 1.25) * 4);
      this.data = new Float32Array(grown);
      this.worker.postMessage({ data: grown });
    }
    const data = this.data;
    for (let i = 0; i < m; i++) data.set(A.subarray(i * k + k1, (i + 1) * k), i * k2);
    data.set(B.subarray(k1 * n), m * k2);
    const ctrl = this.ctrl;
    ctrl[CTRL.m] = m;
    ctrl[CTRL.k] = k2;
    ctrl[CTRL.n] = n;
    Atomics.store(ctrl, CTRL.state, STATE.job);
    Atomics.notify(ctrl, CTRL.state);
    let left: Mat;
    let answered = true;
    try {
      const Aleft = new Float32Array(m * k1);
      for (let i = 0; i < m; i++) Aleft.set(A.subarray(i * k, i * k + k1), i * k1);
      left = local(Aleft, B.subarray(0, k1 * n), m, k1, n);
    } finally {
      // Always collect the helper before returning, so the next job starts from a known state. A helper that does
      // not answer within HELPER_TIMEOUT_MS is given up: its half is computed here and it is not used again.
      const deadline = performance.now() + HELPER_TIMEOUT_MS;
      while (Atomics.load(ctrl, CTRL.state) === STATE.job) {
        if (performance.now() > deadline) { answered = false; break; }
        Atomics.wait(ctrl, CTRL.state, STATE.job, 1000);
      }
    }
    const failed = !answered || Atomics.load(ctrl, CTRL.state) !== STATE.done;
    if (!answered) void this.close();
    else {
      Atomics.store(ctrl, CTRL.state, STATE.idle);
      Atomics.notify(ctrl, CTRL.state);
    }
    const out = new Float32Array(left);
    // Without the helper's half, this thread computes it from the operands still in the shared buffer.
    const right: Mat = failed
      ? local(data.subarray(0, m * k2), data.subarray(m * k2, m * k2 + k2 * n), m, k2, n)
      : data.subarray(m * k2 + k2 * n, m * k2 + k2 * n + m * n);
    for (let t = 0; t < out.length; t++) out[t] = out[t]! + right[t]!;
    return out;
  }
}
